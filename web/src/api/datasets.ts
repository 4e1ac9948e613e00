// Datasets: list, versions, profiles, previews, diffs, sharing, and pushing
// a version (docs/api.md, "Datasets and scripts"). Small files go in one
// request with progress; files over RESUMABLE_MIN go through the resumable
// upload sessions (POST /uploads, PATCH chunks with Content-Range, resume
// from the session's byte count after an error, commit, then the push with
// ?upload=ID). Several files go as one multipart body (a file set).
import { allPages, api, ApiError, request, seg, upload, type Query } from './client';

export interface Share {
  group: string;
  access: 'read' | 'write';
}

/** A dataset or a script (the same shape). */
export interface Item {
  name: string;
  kind: 'dataset' | 'script';
  owner: string;
  public: boolean;
  archived: boolean;
  shares: Share[];
  created_at: string;
  updated_at: string;
  versions: number;
  latest_version: number | null;
}
export type Dataset = Item;

export interface TopValue {
  value: string;
  count: number;
}

/** One column of a profile (src/dataset/profile.c): stats by type. */
export interface ColumnProfile {
  name: string;
  type: 'int' | 'float' | 'bool' | 'date' | 'timestamp' | 'string' | 'null' | string;
  count: number;
  nulls: number;
  distinct: number;
  distinct_exact: boolean;
  min?: number | string | null;
  max?: number | string | null;
  mean?: number | null;
  std?: number | null;
  min_length?: number;
  max_length?: number;
  /** null when the column had too many distinct values to keep (top_dropped says why). */
  top: TopValue[] | null;
  top_dropped?: string;
  /** int and float: at most 32 equal-width bins, first to last non-empty one
   * (int: lo and hi the bin's least and greatest ints; float: lo <= x < hi). */
  histogram?: { lo: number; hi: number; count: number }[];
}

export interface Profile {
  rows: number;
  delimiter: string;
  column_count: number;
  columns: ColumnProfile[];
}

export interface Version {
  dataset?: string;
  script?: string;
  number: number;
  kind: 'file' | 'fileset';
  sha256: string;
  filename: string | null;
  bytes: number;
  files: number;
  parent: number | null;
  uploader: string;
  created_at: string;
  message: string;
  language?: string;
  profiles: Record<string, Profile>;
  deduplicated?: boolean;
}

export interface ManifestFile {
  path: string;
  sha256: string;
  size: number;
  mode: string;
}
export interface Manifest {
  files: ManifestFile[];
}

export interface Preview {
  path: string;
  columns: { name: string; type: string }[];
  rows: (string | number | boolean | null)[][];
  truncated: boolean;
}

export type Cell = string | null;

/** The table diff of src/dataset/diff.c. */
export interface TableDiff {
  identical: boolean;
  key: string[] | null;
  /** absent when the versions are identical (as are the schema's details) */
  rows?: { a: number; b: number };
  schema: {
    changed: boolean;
    columns_a?: string[];
    columns_b?: string[];
    added?: string[];
    removed?: string[];
    reordered?: boolean;
    retyped?: { column: string; from: string; to: string }[];
  };
  counts: { added: number; removed: number; changed: number; unchanged: number };
  limit?: number;
  samples: {
    added: { row: number; values: Record<string, Cell> }[];
    removed: { row: number; values: Record<string, Cell> }[];
    changed: {
      row_a: number;
      row_b: number;
      key: Record<string, Cell>;
      columns: Record<string, { from: Cell; to: Cell }>;
    }[];
  };
  key_unique?: boolean;
  duplicate_keys?: { a: number; b: number };
}

export type DiffReply =
  | { from: number; to: number; kind: 'table'; path: string; diff: TableDiff }
  | { from: number; to: number; kind: 'binary'; identical: boolean; path?: string }
  | { from: number; to: number; kind: 'fileset'; added: string[]; removed: string[]; changed: string[]; unchanged: number };

export interface UploadSession {
  id: string;
  owner: string;
  size: number | null;
  expect_sha256: string | null;
  received: number;
  state: 'open' | 'committed';
  sha256: string | null;
  created_at: string;
  expires_at: string | null;
}

const base = (name: string) => `/api/v1/datasets/${seg(name)}`;

export interface ListQuery {
  q?: string;
  owner?: string;
  archived?: boolean;
}

export const listDatasets = (q: ListQuery = {}) =>
  allPages<Dataset>('/api/v1/datasets', { q: q.q, owner: q.owner, archived: q.archived ? 1 : undefined, limit: 200 });
export const getDataset = (name: string, signal?: AbortSignal) => api.get<Dataset>(base(name), undefined, signal);
export const listVersions = (name: string) => allPages<Version>(`${base(name)}/versions`, { limit: 100 });
export const getVersion = (name: string, v: number, signal?: AbortSignal) =>
  api.get<Version>(`${base(name)}/versions/${v}`, undefined, signal);
export const latestVersions = (name: string, signal?: AbortSignal) =>
  api.get<{ items: Version[] }>(`${base(name)}/versions`, { limit: 1 }, signal).then((p) => p.items[0]);
export const getPreview = (name: string, v: number, path?: string, limit = 20, signal?: AbortSignal) =>
  api.get<Preview>(`${base(name)}/versions/${v}/preview`, { path, limit }, signal);
export const getManifest = (name: string, v: number, signal?: AbortSignal) =>
  api.get<Manifest>(`${base(name)}/versions/${v}/content`, undefined, signal);
export const contentUrl = (name: string, v: number, path?: string) =>
  `${base(name)}/versions/${v}/content${path ? `?path=${encodeURIComponent(path)}` : ''}`;

export interface DiffQuery {
  key?: string[];
  limit?: number;
  path?: string;
}
export const getDiff = (name: string, from: number, to: number, q: DiffQuery = {}, signal?: AbortSignal) =>
  api.get<DiffReply>(
    `${base(name)}/diff`,
    { from, to, key: q.key?.length ? q.key.join(',') : undefined, limit: q.limit, path: q.path },
    signal,
  );

export interface DatasetPatch {
  public?: boolean;
  archived?: boolean;
  shares?: Share[];
}
export const patchDataset = (name: string, p: DatasetPatch) => api.patch<Dataset>(base(name), p);
export const deleteDataset = (name: string) => api.del<{ deleted: string }>(base(name));

export const listGroups = () => allPages<{ id: string; name: string }>('/api/v1/groups');

// ---- pushing a version ----

/** Files at least this big go through resumable upload sessions. */
export const RESUMABLE_MIN = 64 * 1024 * 1024;
/** The size of one PATCH of a resumable upload. */
export const CHUNK = 8 * 1024 * 1024;

export interface PushFile {
  /** The path in the set (or the file's name). */
  path: string;
  blob: Blob;
}

export interface PushOptions {
  message?: string;
  onProgress?: (sent: number, total: number) => void;
  /** Told when a chunk failed and the upload resumes (attempt, error). */
  onRetry?: (attempt: number, error: unknown) => void;
  signal?: AbortSignal;
}

/** The Content-Type the server reads a single file as. */
export function typeOf(path: string): string {
  const p = path.toLowerCase();
  if (p.endsWith('.csv')) return 'text/csv';
  if (p.endsWith('.tsv') || p.endsWith('.tab')) return 'text/tab-separated-values';
  if (p.endsWith('.tar')) return 'application/x-tar';
  return 'application/octet-stream';
}

/** A filename for a multipart header: quotes and line breaks percent-encoded (as browsers do). */
const headerName = (s: string) => s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

/**
 * A multipart/form-data body of parts named `file` (their filename the
 * path in the set), as a Blob composed of the files themselves: nothing is
 * read into memory, and upload() reports its progress.
 */
export function multipartBody(files: PushFile[], boundary = 'sentinel-' + randomHex(16)): { body: Blob; contentType: string } {
  const parts: BlobPart[] = [];
  for (const f of files) {
    parts.push(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${headerName(f.path)}"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\n`,
    );
    parts.push(f.blob);
    parts.push('\r\n');
  }
  parts.push(`--${boundary}--\r\n`);
  return { body: new Blob(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

function randomHex(n: number): string {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** What a resumable upload needs from the network (tests give their own). */
export interface ResumableIo {
  create(size: number): Promise<UploadSession>;
  /** Sends bytes [first, first+chunk.size) of total; progress is within the chunk. */
  patch(id: string, chunk: Blob, first: number, total: number, onProgress: (sent: number) => void, signal?: AbortSignal): Promise<UploadSession>;
  /** The bytes the server holds (GET's received). */
  offset(id: string): Promise<number>;
  commit(id: string): Promise<{ sha256: string; bytes: number }>;
  sleep(ms: number): Promise<void>;
}

export const httpIo: ResumableIo = {
  create: (size) => api.post<UploadSession>('/api/v1/uploads', { size }),
  patch: (id, chunk, first, total, onProgress, signal) =>
    upload<UploadSession>(`/api/v1/uploads/${seg(id)}`, chunk, {
      method: 'PATCH',
      contentType: 'application/octet-stream',
      headers: { 'Content-Range': `bytes ${first}-${first + chunk.size - 1}/${total}` },
      onProgress: (sent) => onProgress(sent),
      signal,
    }),
  offset: (id) => api.get<UploadSession>(`/api/v1/uploads/${seg(id)}`).then((s) => s.received),
  commit: (id) => api.post<{ sha256: string; bytes: number }>(`/api/v1/uploads/${seg(id)}/commit`),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

const retryable = (e: unknown) =>
  !(e instanceof DOMException && e.name === 'AbortError') &&
  (!(e instanceof ApiError) || e.status === 0 || e.status === 409 || e.status === 429 || e.status >= 500);

/**
 * Sends blob through an upload session in chunks and commits it; returns
 * the session id. After a failed chunk it asks the server how many bytes
 * it holds and goes on from there (up to maxRetries failures in a row).
 */
export async function resumableUpload(
  blob: Blob,
  opts: PushOptions & { chunk?: number; maxRetries?: number } = {},
  io: ResumableIo = httpIo,
): Promise<string> {
  const total = blob.size;
  const chunk = opts.chunk ?? CHUNK;
  const maxRetries = opts.maxRetries ?? 5;
  const session = await io.create(total);
  let offset = session.received;
  let failures = 0;
  opts.onProgress?.(offset, total);
  while (offset < total) {
    if (opts.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const end = Math.min(offset + chunk, total);
    const first = offset;
    try {
      const s = await io.patch(session.id, blob.slice(first, end), first, total, (sent) => opts.onProgress?.(first + sent, total), opts.signal);
      offset = s.received;
      failures = 0;
      opts.onProgress?.(offset, total);
    } catch (e) {
      if (!retryable(e) || ++failures > maxRetries) throw e;
      opts.onRetry?.(failures, e);
      await io.sleep(Math.min(8000, 500 * 2 ** (failures - 1)));
      try {
        offset = await io.offset(session.id);
      } catch (e2) {
        if (!retryable(e2)) throw e2;
        /* keep the offset we had: the next PATCH's 409 wrong_offset sends us here again */
      }
    }
  }
  await io.commit(session.id);
  return session.id;
}

/**
 * Pushes a version: one file (resumable over RESUMABLE_MIN) or a file set
 * (multipart). Creates the dataset on its first push. Returns the version.
 */
export async function pushVersion(name: string, files: PushFile[], opts: PushOptions = {}): Promise<Version> {
  if (files.length === 0) throw new Error('Choose at least one file');
  const path = `${base(name)}/versions`;
  const query: Query = { message: opts.message || undefined };
  if (files.length === 1) {
    const f = files[0]!;
    query.filename = f.path;
    if (f.blob.size >= RESUMABLE_MIN) {
      const id = await resumableUpload(f.blob, opts);
      opts.onProgress?.(f.blob.size, f.blob.size);
      return request<Version>('POST', path, { query: { ...query, upload: id }, signal: opts.signal });
    }
    return upload<Version>(path, f.blob, { query, contentType: typeOf(f.path), onProgress: opts.onProgress, signal: opts.signal });
  }
  const { body, contentType } = multipartBody(files);
  return upload<Version>(path, body, { query, contentType, onProgress: opts.onProgress, signal: opts.signal });
}

/** Dataset names the server takes: [A-Za-z0-9._-]{1,128}, no leading dot. */
export const NAME_RE = /^(?!\.)[A-Za-z0-9._-]{1,128}$/;
