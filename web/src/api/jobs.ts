// Jobs, their chunks, logs and artifacts (docs/jobs.md), and the few
// look-ups the job wizard needs (scripts, datasets, runtimes, groups).
import { allPages, api, apiUrl, request, seg, type Page, type Query } from './client';

export type JobState = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
export const JOB_STATES: JobState[] = ['pending', 'running', 'completed', 'failed', 'cancelled'];
export const FINISHED: JobState[] = ['completed', 'failed', 'cancelled'];

export type ChunkState = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
export const CHUNK_STATES: ChunkState[] = ['pending', 'running', 'completed', 'failed', 'cancelled'];

export interface ChunkCounts {
  pending: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
}

export interface Stat {
  n: number;
  mean: number;
  m2: number;
  std: number | null;
  min: number;
  max: number;
}

export interface Limits {
  time_s: number;
  memory_mb: number;
  cpus: number;
  gpus: number;
  network: 'none' | 'egress';
}

export type Access = 'private' | 'public' | { users?: string[]; groups?: string[] };

export interface Job {
  id: string;
  name: string;
  owner: string;
  owner_id: string;
  state: JobState;
  reason: string | null;
  config_sha256: string | null;
  total_iterations: number | null;
  completed_iterations: number;
  chunks: ChunkCounts;
  result: { stats?: Record<string, Stat>; outputs?: unknown[] } | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  depends_on: string[];
  priority: number;
  access: Access;
  max_attempts: number;
  chunk_size: number;
  program: string | null;
  script: { name: string; version: number; sha256: string; filename: string } | null;
  inputs: unknown[];
  limits: Limits;
  runtime: string;
  args: string[];
}

export interface Attempt {
  attempt: number;
  node_id: string | null;
  state: 'running' | 'completed' | 'failed' | 'lost' | 'cancelled';
  reason: string | null;
  started_at: string | null;
  finished_at: string | null;
  sandbox: { exit_code: number | null; wall_ms: number; cpu_ms: number; peak_memory_bytes: number; killed_by: string } | null;
}

export interface Chunk {
  id: string;
  index: number;
  state: ChunkState;
  iterations: number;
  seed_offset: number;
  failures?: number;
  attempts: Attempt[];
}

export interface Artifact {
  chunk: number;
  path: string;
  sha256: string;
  bytes: number;
}

/** The `job` topic's event (docs/jobs.md, Events). */
export interface JobEvent {
  id: string;
  state: JobState;
  completed_chunks: number;
  total_chunks: number;
  chunks: Omit<ChunkCounts, 'total'>;
}

/** One line of a followed log (SSE `log` event). */
export interface LogLine {
  chunk: number;
  attempt: number;
  stream: 1 | 2;
  text: string;
}

export interface JobSubmit {
  name: string;
  script?: string | null;
  program?: string | null;
  runtime?: string;
  inputs?: string[];
  args?: string[];
  env?: Record<string, string>;
  limits?: Partial<Limits>;
  total_iterations?: number | null;
  chunk_size?: number;
  max_attempts?: number;
  access?: Access;
  priority?: number;
  config?: Record<string, unknown> | null;
}

const J = '/api/v1/jobs';

export const jobsApi = {
  /** Every job the filters give (newest first), at most maxPages pages of 1000. */
  list: (q: { state?: string; owner?: string; name?: string } = {}, maxPages = 5) =>
    allPages<Job>(J, { ...q, limit: 1000 }, maxPages),
  get: (id: string, signal?: AbortSignal) => api.get<Job>(`${J}/${seg(id)}`, undefined, signal),
  chunks: (id: string, maxPages = 10) => allPages<Chunk>(`${J}/${seg(id)}/chunks`, { limit: 1000 }, maxPages),
  artifacts: (id: string) => allPages<Artifact>(`${J}/${seg(id)}/artifacts`, { limit: 1000 }, 5),
  /** The whole log as text (one `[INDEX#ATTEMPT] text` line each). */
  log: async (id: string, signal?: AbortSignal) =>
    (await request<Response>('GET', `${J}/${seg(id)}/logs`, { raw: true, signal, headers: { Accept: 'text/plain' } })).text(),
  logStreamPath: (id: string) => `${J}/${seg(id)}/logs?follow=1`,
  submit: (body: JobSubmit) => api.post<Job>(J, body),
  cancel: (id: string) => api.post<Job>(`${J}/${seg(id)}/cancel`),
  retry: (id: string) => api.post<Job>(`${J}/${seg(id)}/retry`),
};

/** Where an artifact (or any blob) is downloaded. */
export const blobUrl = (sha256: string) => apiUrl(`/api/v1/blobs/${seg(sha256)}`);

// ---- look-ups for the wizard ----

export interface Named {
  name: string;
  owner: string;
  latest_version: number | null;
  versions: number;
}

export interface Version {
  number: number;
  created_at: string;
  message: string | null;
  bytes: number;
  filename?: string | null;
  language?: string;
}

export interface LocalDataset {
  name: string;
  kind: 'local';
  manifest_sha256: string;
  bytes: number;
  files: number;
  location: { node_id: string; node_name: string; node_state: string; path?: string }[];
}

export interface Runtime {
  name: string;
  kind: string;
}

export interface GroupRef {
  id: string;
  name: string;
}

const pageOf = <T>(path: string, q: Query = {}) => api.get<Page<T>>(path, { limit: 1000, ...q });

export const lookups = {
  scripts: async () => (await pageOf<Named>('/api/v1/scripts')).items,
  scriptVersions: async (name: string) => (await pageOf<Version>(`/api/v1/scripts/${seg(name)}/versions`)).items,
  datasets: async () => (await pageOf<Named>('/api/v1/datasets')).items,
  datasetVersions: async (name: string) => (await pageOf<Version>(`/api/v1/datasets/${seg(name)}/versions`)).items,
  localDatasets: async () => (await pageOf<LocalDataset>('/api/v1/datasets', { kind: 'local' })).items,
  runtimes: async () => (await pageOf<Runtime>('/api/v1/runtimes')).items,
  groups: async () => (await pageOf<GroupRef>('/api/v1/groups')).items,
  /** Usernames (admins only: a member gets 403 and types names instead). */
  users: async () => (await pageOf<{ username: string }>('/api/v1/users')).items.map((u) => u.username),
};
