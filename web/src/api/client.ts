// The one API client of the console. Every call goes through request():
// same-origin, the session cookie (HttpOnly, set by the login) rides along,
// mutations carry the CSRF token read from the `sentinel_csrf` cookie, and
// every failure becomes an ApiError with the server's code and message
// (docs/api.md: {"error":{"code","message"}}), so that pages can show it in
// words. Domain modules (api/<area>.ts) build on request() and page().

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId?: string;
  constructor(status: number, code: string, message: string, requestId?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/** A list reply of the API: one page and the cursor of the next (null at the end). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query;
  /** A JSON body (objects and arrays are serialised). */
  json?: unknown;
  /** A raw body (a file, text, bytes); contentType names it. */
  body?: BodyInit;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The reply is not JSON: the caller gets the Response (status checked). */
  raw?: boolean;
}

const UNAUTHORIZED_EVENT = 'sentinel:unauthorized';

/** Called with every 401 (the session ended): the auth context listens. */
export function onUnauthorized(fn: () => void): () => void {
  const h = () => fn();
  window.addEventListener(UNAUTHORIZED_EVENT, h);
  return () => window.removeEventListener(UNAUTHORIZED_EVENT, h);
}

export function cookie(name: string): string | undefined {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

export function apiUrl(path: string, query?: Query): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

/** Percent-encodes one path segment (a dataset or agent name). */
export const seg = (s: string) => encodeURIComponent(s);

function mutating(method: string) {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method);
}

/** Headers every call sends; mutations add the CSRF token. */
export function baseHeaders(method: string): Record<string, string> {
  const h: Record<string, string> = { Accept: 'application/json' };
  const csrf = cookie('sentinel_csrf');
  if (mutating(method) && csrf) h['X-CSRF-Token'] = csrf;
  return h;
}

/** Turns a non-2xx reply into an ApiError (JSON envelope or plain text). */
export async function errorOf(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  let rid: string | undefined;
  try {
    const text = await res.text();
    try {
      const j = JSON.parse(text) as { error?: { code?: string; message?: string; request_id?: string } };
      if (j.error) {
        code = j.error.code ?? code;
        message = j.error.message ?? message;
        rid = j.error.request_id;
      }
    } catch {
      if (text) message = text.slice(0, 300);
    }
  } catch {
    /* the body could not be read: keep the status line */
  }
  if (res.status === 401) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
  return new ApiError(res.status, code, message, rid);
}

export async function request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers = { ...baseHeaders(method), ...(opts.headers ?? {}) };
  let body: BodyInit | undefined = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['Content-Type'] = 'application/json';
  } else if (opts.contentType) {
    headers['Content-Type'] = opts.contentType;
  }
  let res: Response;
  try {
    res = await fetch(apiUrl(path, opts.query), {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: opts.signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server could not be reached: ' + (e as Error).message);
  }
  if (!res.ok) throw await errorOf(res);
  if (opts.raw) return res as unknown as T;
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, 'bad_reply', 'The server sent a reply that is not JSON');
  }
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { query, signal }),
  post: <T>(path: string, json?: unknown, query?: Query) => request<T>('POST', path, { json, query }),
  put: <T>(path: string, json?: unknown) => request<T>('PUT', path, { json }),
  patch: <T>(path: string, json?: unknown) => request<T>('PATCH', path, { json }),
  del: <T>(path: string) => request<T>('DELETE', path),
};

/** Every item of a paged list, following next_cursor (at most maxPages pages). */
export async function allPages<T>(path: string, query: Query = {}, maxPages = 50): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const p: Page<T> = await api.get<Page<T>>(path, { ...query, cursor: cursor ?? undefined });
    out.push(...p.items);
    if (!p.next_cursor) break;
    cursor = p.next_cursor;
  }
  return out;
}

/** An error in words for a toast or an error view. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 0) return e.message;
    return `${e.message} (${e.code}, HTTP ${e.status})`;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

export interface UploadOptions {
  method?: string;
  query?: Query;
  contentType?: string;
  headers?: Record<string, string>;
  onProgress?: (sent: number, total: number) => void;
  signal?: AbortSignal;
}

/** Sends a body with upload progress (fetch cannot report it; XHR can). */
export function upload<T = unknown>(path: string, body: Blob, opts: UploadOptions = {}): Promise<T> {
  const method = opts.method ?? 'POST';
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, apiUrl(path, opts.query));
    xhr.withCredentials = true;
    for (const [k, v] of Object.entries({ ...baseHeaders(method), ...(opts.headers ?? {}) })) xhr.setRequestHeader(k, v);
    if (opts.contentType) xhr.setRequestHeader('Content-Type', opts.contentType);
    xhr.upload.onprogress = (ev) => opts.onProgress?.(ev.loaded, ev.lengthComputable ? ev.total : body.size);
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload was cut off'));
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
    xhr.onload = () => {
      const res = new Response(xhr.status === 204 ? null : xhr.responseText, { status: xhr.status, statusText: xhr.statusText });
      if (xhr.status < 200 || xhr.status >= 300) {
        void errorOf(res).then(reject);
        return;
      }
      try {
        resolve((xhr.responseText ? JSON.parse(xhr.responseText) : undefined) as T);
      } catch {
        reject(new ApiError(xhr.status, 'bad_reply', 'The server sent a reply that is not JSON'));
      }
    };
    opts.signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(body);
  });
}
