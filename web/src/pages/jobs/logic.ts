// The job pages' logic as pure functions (tested in test/jobs.test.ts):
// the chunk map's grouping, the log's batching into a terminal, the
// wizard's request body and its checks.
import type { Chunk, ChunkCounts, ChunkState, Job, JobSubmit, LogLine } from '../../api/jobs';
import { CHUNK_STATES, FINISHED } from '../../api/jobs';

// ---- chunk map ----

export const CHUNK_COLORS: Record<ChunkState, string> = {
  pending: '#475569',
  running: '#0ea5e9',
  completed: '#22c55e',
  failed: '#ef4444',
  cancelled: '#a16207',
};

export interface ChunkGroup {
  /** The node id, or '' for chunks never assigned. */
  nodeId: string;
  label: string;
  chunks: Chunk[];
  counts: Record<ChunkState, number>;
}

export function emptyCounts(): Record<ChunkState, number> {
  return { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
}

/** The node that ran (or runs) a chunk: its last attempt's. */
export function chunkNode(c: Chunk): string {
  const a = c.attempts[c.attempts.length - 1];
  return a?.node_id ?? '';
}

/**
 * Chunks grouped by the node of their last attempt (named by names[id]
 * where known), nodes by name, the unassigned group last; chunks by index.
 */
export function groupChunks(chunks: Chunk[], names: Record<string, string> = {}): ChunkGroup[] {
  const by = new Map<string, ChunkGroup>();
  for (const c of chunks) {
    const id = chunkNode(c);
    let g = by.get(id);
    if (!g) {
      g = { nodeId: id, label: id ? (names[id] ?? id) : 'Not assigned yet', chunks: [], counts: emptyCounts() };
      by.set(id, g);
    }
    g.chunks.push(c);
    g.counts[c.state]++;
  }
  const out = [...by.values()];
  for (const g of out) g.chunks.sort((a, b) => a.index - b.index);
  return out.sort((a, b) => (a.nodeId === '' ? 1 : b.nodeId === '' ? -1 : a.label.localeCompare(b.label)));
}

/** Counts of every state over all chunks (the legend). */
export function countStates(chunks: Chunk[]): Record<ChunkState, number> {
  const c = emptyCounts();
  for (const x of chunks) c[x.state]++;
  return c;
}

/** A cell's accessible name: "Chunk 3: completed on node-a, attempt 1". */
export function chunkLabel(c: Chunk, names: Record<string, string> = {}): string {
  const a = c.attempts[c.attempts.length - 1];
  let s = `Chunk ${c.index}: ${c.state}`;
  if (a?.node_id) s += ` on ${names[a.node_id] ?? a.node_id}`;
  if (a) s += `, attempt ${a.attempt}`;
  if (a?.reason && c.state !== 'completed') s += ` (${a.reason})`;
  return s;
}

// ---- progress ----

export function isFinished(state: string): boolean {
  return (FINISHED as string[]).includes(state);
}

/** Percent of chunks done (completed), 0..100, whole. */
export function progressPercent(c: Pick<ChunkCounts, 'completed' | 'total'>): number {
  if (!c.total) return 0;
  return Math.floor((c.completed * 100) / c.total);
}

/** Applies a `job` event to a job (counts and state). */
export function applyJobEvent(j: Job, e: { state: Job['state']; total_chunks: number; chunks: Omit<ChunkCounts, 'total'> }): Job {
  return { ...j, state: e.state, chunks: { ...e.chunks, total: e.total_chunks } };
}

export function stateCounts(c: ChunkCounts): [ChunkState, number][] {
  return CHUNK_STATES.map((s) => [s, c[s]]);
}

// ---- log ----

const ESC = '\x1b[';

/** A followed log line as the plain log writes it, coloured for a terminal. */
export function formatLogLine(l: LogLine): string {
  const head = `${ESC}90m[${l.chunk}#${l.attempt}]${ESC}0m `;
  if (l.text.startsWith('sentinel:')) return `${head}${ESC}33m${l.text}${ESC}0m`;
  if (l.stream === 2) return `${head}${ESC}31m${l.text}${ESC}0m`;
  return head + l.text;
}

/** A line of the plain log (`[INDEX#ATTEMPT] text`), coloured the same way. */
export function formatPlainLine(line: string): string {
  const m = /^(\[\d+#\d+\]) (.*)$/.exec(line);
  if (!m) return line;
  const text = m[2]!;
  const body = text.startsWith('sentinel:') ? `${ESC}33m${text}${ESC}0m` : text;
  return `${ESC}90m${m[1]}${ESC}0m ${body}`;
}

/** Splits a plain log into its lines (no empty last line). */
export function splitLog(text: string): string[] {
  if (!text) return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export interface Sink {
  /** Writes data; calls done once it is taken in (xterm parses asynchronously). */
  write(data: string, done: () => void): void;
}

/**
 * Collects log lines and writes them to a terminal in batches, at most one
 * batch of maxBytes per animation frame, so that 100,000 lines never block
 * the page: no React state per line, one terminal write per frame.
 */
export class LogBatcher {
  private queue: string[] = [];
  private frame: number | undefined;
  private sink: Sink | undefined;
  private busy = false;
  lines = 0;
  writes = 0;
  constructor(
    private readonly raf: (fn: () => void) => number = (fn) => requestAnimationFrame(fn),
    private readonly caf: (id: number) => void = (id) => cancelAnimationFrame(id),
    // 64 KiB: xterm takes about 25 ms for one on this machine (a new line
    // costs it a buffer line); 256 KiB made 100 ms tasks.
    private readonly maxBytes = 64 * 1024,
    private readonly onLines?: (n: number) => void,
  ) {}

  /** Where batches go; lines pushed before it is set wait. */
  attach(sink: Sink | undefined) {
    this.sink = sink;
    if (sink) this.schedule();
  }

  push(...lines: string[]) {
    for (const l of lines) {
      this.queue.push(l);
    }
    this.schedule();
  }

  /** Lines waiting for a frame. */
  pending() {
    return this.queue.length;
  }

  clear() {
    this.queue = [];
    this.lines = 0;
    this.onLines?.(0);
  }

  dispose() {
    this.busy = false;
    if (this.frame !== undefined) this.caf(this.frame);
    this.frame = undefined;
    this.sink = undefined;
    this.queue = [];
  }

  private schedule() {
    if (this.frame !== undefined || this.busy || !this.sink || this.queue.length === 0) return;
    this.frame = this.raf(() => {
      this.frame = undefined;
      this.flush();
    });
  }

  /** Writes one batch (up to maxBytes) now; the rest waits for the next frame. */
  flush() {
    if (!this.sink || this.queue.length === 0) return;
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.length + 2 <= this.maxBytes)) {
      bytes += this.queue[n]!.length + 2;
      n++;
    }
    const batch = this.queue.splice(0, n);
    this.writes++;
    this.lines += n;
    this.busy = true;
    const sink = this.sink;
    sink.write(batch.join('\r\n') + '\r\n', () => {
      this.busy = false;
      if (this.sink === sink) this.schedule();
    });
    this.onLines?.(this.lines);
  }
}

/**
 * The follow stream replays every line kept so far each time it (re)opens:
 * this skips the lines already shown after a reconnect.
 */
export class ReplayFilter {
  private shown = 0;
  private seen = 0;
  /** A stream (re)opened: its first lines are the ones shown already. */
  reopen() {
    this.seen = 0;
  }
  /** True when the line is new (and counts it as shown). */
  take(): boolean {
    this.seen++;
    if (this.seen <= this.shown) return false;
    this.shown = this.seen;
    return true;
  }
}

// ---- the wizard ----

export interface WizardValues {
  kind: 'script' | 'program';
  script?: string;
  version?: number | 'latest';
  program?: string;
  runtime?: string;
  name?: string;
  args?: string[];
  env?: string;
  inputs?: { dataset?: string; version?: number | 'latest' | 'local' }[];
  config?: string;
  total_iterations?: number | null;
  chunk_size?: number;
  max_attempts?: number;
  priority?: number;
  time_s?: number;
  memory_mb?: number;
  cpus?: number;
  gpus?: number;
  network?: 'none' | 'egress';
  access?: 'private' | 'public' | 'shared';
  users?: string[];
  groups?: string[];
}

export const WIZARD_DEFAULTS: WizardValues = {
  kind: 'script',
  version: 'latest',
  runtime: 'host',
  args: [],
  env: '',
  inputs: [],
  config: '',
  chunk_size: 1000,
  max_attempts: 3,
  priority: 0,
  time_s: 3600,
  memory_mb: 2048,
  cpus: 1,
  gpus: 0,
  network: 'none',
  access: 'private',
  users: [],
  groups: [],
};

/** KEY=VALUE lines into an object; throws with the line that is wrong. */
export function parseEnv(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = (text ?? '').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const k = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`line ${i + 1}: write NAME=value (a name of letters, digits and _)`);
    if (k.startsWith('SENTINEL_')) throw new Error(`line ${i + 1}: SENTINEL_ variables are reserved`);
    out[k] = line.slice(eq + 1);
  });
  return out;
}

/** The config text as an object (empty: null); throws when not a JSON object. */
export function parseConfig(text: string | undefined): Record<string, unknown> | null {
  const t = (text ?? '').trim();
  if (!t) return null;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('the config must be a JSON object');
  return v as Record<string, unknown>;
}

/** How many chunks the job will have (the server makes at most 1,000,000). */
export function chunkCount(total: number | null | undefined, size: number | undefined): number {
  if (!total) return 1;
  const s = size && size > 0 ? size : 1000;
  return Math.ceil(total / s);
}

export const MAX_CHUNKS = 1_000_000;

/** The POST /api/v1/jobs body of the wizard's values. */
export function buildSubmit(v: WizardValues): JobSubmit {
  const body: JobSubmit = {
    name: (v.name ?? '').trim() || (v.kind === 'script' ? (v.script ?? 'job') : (v.program ?? 'job')),
    limits: {
      time_s: v.time_s ?? 3600,
      memory_mb: v.memory_mb ?? 2048,
      cpus: v.cpus ?? 1,
      gpus: v.gpus ?? 0,
      network: v.network ?? 'none',
    },
    chunk_size: v.chunk_size ?? 1000,
    max_attempts: v.max_attempts ?? 3,
    priority: v.priority ?? 0,
    args: (v.args ?? []).filter((a) => a !== ''),
    env: parseEnv(v.env),
  };
  if (v.kind === 'script') {
    body.script = v.version && v.version !== 'latest' ? `${v.script}@${v.version}` : `${v.script}`;
    body.runtime = v.runtime || 'host';
  } else {
    body.program = v.program ?? null;
  }
  if (v.total_iterations) body.total_iterations = v.total_iterations;
  const inputs = (v.inputs ?? []).filter((i) => i?.dataset);
  if (inputs.length) {
    body.inputs = inputs.map((i) =>
      i.version === 'local' ? `${i.dataset}@local` : i.version && i.version !== 'latest' ? `${i.dataset}@${i.version}` : `${i.dataset}`,
    );
  }
  const config = parseConfig(v.config);
  if (config) body.config = config;
  if (v.access === 'shared') body.access = { users: v.users ?? [], groups: v.groups ?? [] };
  else body.access = v.access ?? 'private';
  return body;
}

/** Field names the wizard checks before leaving each step. */
export const STEP_FIELDS: string[][] = [
  ['kind', 'script', 'version', 'program', 'runtime', 'name', 'args', 'env'],
  ['inputs', 'config'],
  ['total_iterations', 'chunk_size', 'max_attempts', 'priority', 'time_s', 'memory_mb', 'cpus', 'gpus', 'network'],
  ['access', 'users', 'groups'],
  [],
];
