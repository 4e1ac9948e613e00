// Monitoring: agents, metric queries, summaries, export and anomalies
// (docs/metrics.md), plus the pure helpers the Monitoring page builds on:
// a time range turned into from/to/step, durations, and query parameters.
import { allPages, api, apiUrl, seg, type Page, type Query } from './client';

export interface LastValue {
  value: number;
  ts: string;
}

export interface Agent {
  name: string;
  owner: string;
  public: boolean;
  shares: { group: string; access: 'read' | 'write' }[];
  status: 'online' | 'offline';
  first_seen: string;
  last_seen: string;
  metrics: Record<string, LastValue>;
  tags: Record<string, string>;
}

export interface Series {
  agent: string | null;
  metric: string;
  tags: Record<string, string>;
  points: [number, number][];
}

export const AGGREGATIONS = ['avg', 'min', 'max', 'sum', 'count', 'rate', 'p50', 'p90', 'p95', 'p99'] as const;
export type Agg = (typeof AGGREGATIONS)[number];

export interface MetricQuery {
  metric: string;
  agent?: string;
  tags?: Record<string, string>;
  from: number;
  to: number;
  /** Seconds. */
  step: number;
  agg: Agg;
  by?: string[];
}

export interface Figures {
  calls: number;
  errors: number;
  error_rate: number;
  latency_ms: { p50: number | null; p95: number | null; p99: number | null };
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
}

export interface Summary extends Figures {
  agent: string;
  from: string;
  to: string;
  by_model: (Figures & { model: string })[];
}

export interface Anomaly {
  ts: number;
  time: string;
  score: number;
  threshold: number;
}

/** A live anomaly (SSE topic `anomaly`). */
export interface AnomalyEvent {
  detector: string;
  agent: string;
  model: string;
  ts: number;
  score: number;
  threshold: number;
}

// ---- durations and time ranges (pure) ----

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "90s", "1h30m", "7d" → milliseconds; null when malformed. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (!s) return null;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let at = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    total += parseFloat(m[1]!) * UNIT_MS[m[2]!]!;
    at = re.lastIndex;
  }
  return at === s.length && at > 0 ? total : null;
}

/** Milliseconds → the shortest whole form: 60000 → "1m", 5400000 → "90m". */
export function formatDuration(ms: number): string {
  for (const [u, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= n && ms % n === 0) return `${ms / n}${u}`;
  }
  return `${ms}ms`;
}

export const PRESETS = [
  { key: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { key: '1h', label: 'Last hour', ms: 3_600_000 },
  { key: '6h', label: 'Last 6 hours', ms: 6 * 3_600_000 },
  { key: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { key: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
] as const;

export type RangeSpec = { preset: (typeof PRESETS)[number]['key'] } | { from: number; to: number };

/** Steps offered, in seconds. */
export const STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** The server's bound: at most 10,000 buckets per series. */
export const MAX_BUCKETS = 10_000;

/** The smallest offered step that gives at most `target` buckets over span ms. */
export function autoStep(spanMs: number, target = 720): number {
  for (const s of STEPS) if (spanMs / (s * 1000) <= target) return s;
  return Math.ceil(spanMs / 1000 / target);
}

export interface Window {
  from: number;
  to: number;
  step: number;
}

/**
 * A range (a preset relative to now, or fixed bounds) and a step (seconds,
 * or 'auto') → unix-ms bounds and the step; a step that would exceed the
 * server's bucket limit is raised to the smallest one that fits.
 */
export function resolveRange(range: RangeSpec, step: number | 'auto', now = Date.now()): Window {
  let from: number;
  let to: number;
  if ('preset' in range) {
    const p = PRESETS.find((x) => x.key === range.preset) ?? PRESETS[1];
    to = now;
    from = now - p.ms;
  } else {
    from = Math.min(range.from, range.to);
    to = Math.max(range.from, range.to);
    if (to === from) to = from + 1000;
  }
  const span = to - from;
  let s = step === 'auto' ? autoStep(span) : Math.max(1, Math.round(step));
  if (span / (s * 1000) > MAX_BUCKETS) s = autoStep(span, MAX_BUCKETS);
  return { from, to, step: s };
}

/** Query-string parameters of a metric query (shared by query and export). */
export function queryParams(q: Partial<MetricQuery>): Query {
  const out: Query = {
    metric: q.metric,
    agent: q.agent,
    from: q.from,
    to: q.to,
  };
  if (q.step) out.step = `${q.step}s`;
  if (q.agg) out.agg = q.agg;
  if (q.by && q.by.length) out.by = q.by.join(',');
  for (const [k, v] of Object.entries(q.tags ?? {})) out[`tag.${k}`] = v;
  return out;
}

/** A series' name in legends: metric, then agent and tags. */
export function seriesLabel(s: Series): string {
  const parts: string[] = [];
  if (s.agent) parts.push(`agent=${s.agent}`);
  for (const [k, v] of Object.entries(s.tags).sort(([a], [b]) => a.localeCompare(b))) parts.push(`${k}=${v}`);
  return parts.length ? `${s.metric} {${parts.join(', ')}}` : s.metric;
}

// ---- calls ----

export const metricsApi = {
  agents: () => allPages<Agent>('/api/v1/agents'),
  agent: (name: string) => api.get<Agent>(`/api/v1/agents/${seg(name)}`),
  query: (q: MetricQuery, signal?: AbortSignal) =>
    api.get<{ series: Series[] }>('/api/v1/metrics/query', queryParams(q), signal).then((r) => r.series),
  summary: (agent: string, from: number, to: number, signal?: AbortSignal) =>
    api.get<Summary>(`/api/v1/agents/${seg(agent)}/summary`, { from, to }, signal),
  exportUrl: (format: 'csv' | 'ndjson', q: Partial<MetricQuery>) =>
    apiUrl('/api/v1/metrics/export', { format, ...queryParams({ ...q, step: undefined, agg: undefined, by: undefined }) }),
  anomalies: (detector: string, from: number, to: number, signal?: AbortSignal) =>
    api.get<Page<Anomaly>>(`/api/v1/detectors/${seg(detector)}/anomalies`, { from, to }, signal).then((p) => p.items),
};
