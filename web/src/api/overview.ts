// What the Overview shows, from the routes that exist: nodes by state, jobs
// running and queued (state "pending"), the newest failed jobs, recent
// anomalies of the caller's detectors, and chunks completed per minute over
// the last hour. The server has no counter of chunk completions over time
// (GET /api/v1/status has none, /metrics only the current totals), so the
// throughput is computed from the chunk lists of the jobs active in the last
// hour (each attempt's finished_at), bounded so that the page stays light;
// `partial` says when the bounds cut it short.
import { api, seg, type Page } from './client';

export interface NodeInfo {
  id: string;
  name: string;
  state: 'pending' | 'online' | 'offline' | 'draining';
  running?: number;
  free_slots?: number;
}

export interface JobCounts {
  pending: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  total?: number;
}

export interface JobInfo {
  id: string;
  name: string;
  owner: string;
  state: string;
  reason: string | null;
  chunks: JobCounts;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** A job event (topic `job`). */
export interface JobEvent {
  id: string;
  state: string;
  completed_chunks: number;
  total_chunks: number;
  chunks?: Partial<JobCounts>;
}

/** A chunk event (topic `chunk`): an attempt that ended without completing. */
export interface ChunkEvent {
  id: string;
  job_id: string;
  index: number;
  state: string;
  attempt: number;
  reason: string | null;
}

/** A node event (topic `node`). */
export interface NodeEvent {
  event: string;
  id: string;
  name?: string;
}

/** An anomaly (topic `anomaly`, or a detector's list). */
export interface Anomaly {
  detector: string;
  agent: string;
  model?: string;
  ts: string | number;
  score: number;
  threshold: number;
}

interface Detector {
  id: string;
  agent: string;
  model: string;
  version?: number;
}

interface ChunkAttempt {
  attempt: number;
  state: string;
  reason?: string | null;
  finished_at: string | null;
}

interface Chunk {
  index: number;
  state: string;
  attempts: ChunkAttempt[];
}

export interface Count {
  n: number;
  /** more than n exist (one page was counted) */
  more: boolean;
}

export interface OverviewData {
  nodes: NodeInfo[];
  running: Count;
  queued: Count;
  failed: JobInfo[];
  /** the jobs seen running and queued, for the live counts */
  runningJobs: JobInfo[];
  queuedJobs: JobInfo[];
}

const PAGE = 1000;

async function count(state: string, signal?: AbortSignal): Promise<{ c: Count; items: JobInfo[] }> {
  const p = await api.get<Page<JobInfo>>('/api/v1/jobs', { state, limit: PAGE }, signal);
  return { c: { n: p.items.length, more: !!p.next_cursor }, items: p.items };
}

/** The first load: four small requests in parallel. */
export async function loadOverview(signal?: AbortSignal): Promise<OverviewData> {
  const [nodes, running, queued, failed] = await Promise.all([
    api.get<Page<NodeInfo>>('/api/v1/nodes', { limit: PAGE }, signal),
    count('running', signal),
    count('pending', signal),
    api.get<Page<JobInfo>>('/api/v1/jobs', { state: 'failed', limit: 5 }, signal),
  ]);
  return { nodes: nodes.items, running: running.c, queued: queued.c, failed: failed.items, runningJobs: running.items, queuedJobs: queued.items };
}

export const loadJob = (id: string, signal?: AbortSignal) => api.get<JobInfo>(`/api/v1/jobs/${seg(id)}`, undefined, signal);

export function nodeCounts(nodes: NodeInfo[]): Record<NodeInfo['state'], number> {
  const c = { pending: 0, online: 0, offline: 0, draining: 0 };
  for (const n of nodes) if (n.state in c) c[n.state]++;
  return c;
}

/** Anomalies of the caller's detectors (admins: all) since `since`, newest first. */
export async function loadAnomalies(since: string, maxDetectors = 20, signal?: AbortSignal): Promise<Anomaly[]> {
  const d = await api.get<Page<Detector>>('/api/v1/detectors', { limit: maxDetectors }, signal);
  const lists = await Promise.all(
    d.items.map((det) =>
      api
        .get<{ items: { ts: string | number; score: number; threshold: number }[] }>(
          `/api/v1/detectors/${seg(det.id)}/anomalies`,
          { from: since, to: 'now' },
          signal,
        )
        .then((r) => r.items.map((a) => ({ ...a, detector: det.id, agent: det.agent, model: det.model }))),
    ),
  );
  return lists.flat().sort((a, b) => tsOf(b.ts) - tsOf(a.ts));
}

export const tsOf = (ts: string | number) => (typeof ts === 'number' ? ts : Date.parse(ts));

export const MINUTES = 60;

/** A minute's number (unix minutes). */
export const minuteOf = (t: number) => Math.floor(t / 60000);

/** Adds n completions at time t to a per-minute map. */
export function addAt(m: Map<number, number>, t: number, n = 1): void {
  const k = minuteOf(t);
  m.set(k, (m.get(k) ?? 0) + n);
}

/**
 * Chunks completed per minute for the display: bins[i] is the minute
 * (MINUTES - 1 - i) minutes before now's (the last bin is the current minute).
 */
export function bins(maps: Map<number, number>[], now: number, minutes = MINUTES): number[] {
  const out = new Array<number>(minutes).fill(0);
  const last = minuteOf(now);
  for (let i = 0; i < minutes; i++) {
    const k = last - (minutes - 1 - i);
    for (const m of maps) out[i]! += m.get(k) ?? 0;
  }
  return out;
}

/** The completion times of a job's chunks (attempts completed at or after `from`). */
export function completionTimes(chunks: Chunk[], from: number): number[] {
  const out: number[] = [];
  for (const c of chunks) {
    for (const a of c.attempts) {
      if (a.state !== 'completed' || !a.finished_at) continue;
      const t = Date.parse(a.finished_at);
      if (t >= from) out.push(t);
    }
  }
  return out;
}

/** A chunk attempt that ended without completing (failed or lost). */
export interface ChunkFailure {
  jobId: string;
  jobName: string;
  index: number;
  attempt: number;
  state: string;
  reason: string | null;
  at: number;
}

/** The failed and lost attempts of a job's chunks that ended at or after `from`. */
export function chunkFailures(job: { id: string; name: string }, chunks: Chunk[], from: number): ChunkFailure[] {
  const out: ChunkFailure[] = [];
  for (const c of chunks) {
    for (const a of c.attempts) {
      if ((a.state !== 'failed' && a.state !== 'lost') || !a.finished_at) continue;
      const at = Date.parse(a.finished_at);
      if (at >= from)
        out.push({ jobId: job.id, jobName: job.name, index: c.index, attempt: a.attempt, state: a.state, reason: a.reason ?? null, at });
    }
  }
  return out;
}

export interface Throughput {
  /** completions per unix minute (the server's count: GET /api/v1/jobs/throughput) */
  perMinute: Map<number, number>;
  /** when the server began counting (its start); minutes before it read 0 */
  countingSince: number;
  /** each job's completed chunks when its list was read (live deltas start there) */
  baseline: Map<string, number>;
  /** chunk attempts that failed or were lost in the hour (of the jobs read), newest first */
  failures: ChunkFailure[];
  /** the bounds cut the failures' reading short (too many jobs or chunks) */
  partial: boolean;
  jobs: number;
}

interface ServerThroughput {
  from: string;
  step_s: number;
  counts: number[];
  total: number;
  scope: 'own' | 'all';
  counting_since: string;
}

/**
 * Chunks completed per minute over the last hour, as the server counts
 * them (every job the caller may see); and, from the chunk lists of the
 * jobs that ran in the hour (at most maxJobs jobs, maxPages pages of 1000
 * chunks each in all), the attempts that failed or were lost.
 */
export async function loadThroughput(
  now = Date.now(),
  opts: { maxJobs?: number; maxPages?: number; signal?: AbortSignal } = {},
): Promise<Throughput> {
  const maxJobs = opts.maxJobs ?? 20;
  let pages = opts.maxPages ?? 20;
  const from = now - MINUTES * 60000;
  const [recent, running, counted] = await Promise.all([
    api.get<Page<JobInfo>>('/api/v1/jobs', { limit: 200 }, opts.signal),
    api.get<Page<JobInfo>>('/api/v1/jobs', { state: 'running', limit: 200 }, opts.signal),
    api.get<ServerThroughput>('/api/v1/jobs/throughput', undefined, opts.signal),
  ]);
  let partial = !!recent.next_cursor || !!running.next_cursor;
  const seen = new Set<string>();
  const jobs: JobInfo[] = [];
  for (const j of [...running.items, ...recent.items]) {
    if (seen.has(j.id)) continue;
    seen.add(j.id);
    const active = j.state === 'running' || (j.finished_at && Date.parse(j.finished_at) >= from);
    if (active && (j.chunks.completed > 0 || j.chunks.failed > 0)) jobs.push(j);
  }
  if (jobs.length > maxJobs) partial = true;
  const perMinute = new Map<number, number>();
  const first = Math.floor(Date.parse(counted.from) / 60000);
  counted.counts.forEach((n, i) => {
    if (n > 0) perMinute.set(first + i, n);
  });
  const baseline = new Map<string, number>();
  const failures: ChunkFailure[] = [];
  for (const j of [...running.items, ...recent.items]) baseline.set(j.id, j.chunks.completed);
  for (const j of jobs.slice(0, maxJobs)) {
    let cursor: string | null = null;
    let done = 0;
    do {
      if (pages-- <= 0) {
        partial = true;
        break;
      }
      const p: Page<Chunk> = await api.get<Page<Chunk>>(
        `/api/v1/jobs/${seg(j.id)}/chunks`,
        { limit: PAGE, cursor: cursor ?? undefined },
        opts.signal,
      );
      failures.push(...chunkFailures(j, p.items, from));
      done += p.items.filter((c) => c.state === 'completed').length;
      cursor = p.next_cursor;
    } while (cursor);
    if (!cursor) baseline.set(j.id, done);
  }
  failures.sort((a, b) => b.at - a.at);
  return {
    perMinute,
    countingSince: Date.parse(counted.counting_since),
    baseline,
    failures,
    partial,
    jobs: Math.min(jobs.length, maxJobs),
  };
}

export function applyNodeEvent(list: NodeInfo[], e: NodeEvent): NodeInfo[] {
  const state: Partial<Record<string, NodeInfo['state']>> = {
    online: 'online',
    offline: 'offline',
    drained: 'draining',
    resumed: 'online',
    registered: 'pending',
  };
  if (e.event === 'removed') return list.filter((n) => n.id !== e.id);
  const s = state[e.event];
  const known = list.some((n) => n.id === e.id);
  if (!known) return s ? [...list, { id: e.id, name: e.name ?? e.id, state: s }] : list;
  return s ? list.map((n) => (n.id === e.id ? { ...n, state: s } : n)) : list;
}

export function mergeAnomalies(cur: Anomaly[], add: Anomaly[]): Anomaly[] {
  const key = (a: Anomaly) => `${a.detector}:${tsOf(a.ts)}`;
  const seen = new Set(cur.map(key));
  return [...cur, ...add.filter((a) => !seen.has(key(a)))].sort((a, b) => tsOf(b.ts) - tsOf(a.ts)).slice(0, 50);
}
