// Alert rules and their events (docs/metrics.md, "Alerts"), and the pure
// checks of the rule editor: what the server would refuse is said before
// the request, in the field's words.
import { allPages, api, seg } from './client';
import { AGGREGATIONS, parseDuration, type Agg } from './metrics';

export const OPS = ['>', '>=', '<', '<=', '=='] as const;
export type Op = (typeof OPS)[number];
export type AlertState = 'ok' | 'pending' | 'firing';

export interface AlertRule {
  id: string;
  name: string;
  agent?: string | null;
  metric: string;
  tags: Record<string, string>;
  agg: Agg;
  window: string;
  op: Op;
  threshold: number;
  for: string;
  detector?: string | null;
  owner_id: string;
  owner: string;
  created_at: string;
  state: AlertState;
  state_since: string;
  value: number | null;
  evaluated_at: string | null;
}

export interface AlertEvent {
  id: string;
  rule_id: string;
  name: string;
  owner_id: string;
  owner: string;
  state: 'firing' | 'resolved';
  value: number | null;
  op: Op;
  threshold: number;
  agg: Agg;
  agent: string | null;
  metric: string;
  detector: string | null;
  ts: string;
}

export type MetricRuleBody = {
  name: string;
  agent?: string;
  metric: string;
  tags?: Record<string, string>;
  agg?: Agg;
  window: string;
  op: Op;
  threshold: number;
  for?: string;
};
export type DetectorRuleBody = { name: string; detector: string; window?: string; for?: string };
export type RuleBody = MetricRuleBody | DetectorRuleBody;

/** The editor's fields, as typed. */
export interface RuleForm {
  kind: 'metric' | 'detector';
  name?: string;
  agent?: string;
  metric?: string;
  /** "k=v, k=v" */
  tags?: string;
  agg?: Agg;
  window?: string;
  op?: Op;
  threshold?: number | null;
  for?: string;
  detector?: string;
}

const NAME_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
const TAG_KEY_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const DAY7 = 7 * 86_400_000;

const hasControl = (s: string) => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** "k=v, k=v" → an object; throws an Error naming the bad pair. */
export function parseTags(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = (text ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length > 16) throw new Error('at most 16 tags');
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`"${p}" is not k=v`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    if (!TAG_KEY_RE.test(k)) throw new Error(`tag key "${k}": 1–64 of A–Z a–z 0–9 _ . -`);
    if (k === 'agent') throw new Error('the tag key "agent" is reserved: pick the agent instead');
    if (hasControl(v)) throw new Error(`tag "${k}": no control characters`);
    out[k] = v;
  }
  return out;
}

export function formatTags(tags: Record<string, string> | undefined): string {
  return Object.entries(tags ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** Why a duration field is refused (null when it is fine). */
export function durationError(text: string | undefined, min: number, what: string, optional = false): string | null {
  if (!text || !text.trim()) return optional ? null : `${what} is required`;
  const ms = parseDuration(text);
  if (ms === null) return `${what}: a duration such as 30s, 5m, 1h or 1d`;
  if (ms < min || ms > DAY7) return `${what}: from ${min === 0 ? '0s' : '1s'} to 7d`;
  return null;
}

/** Every problem of the form, by field (empty when it may be sent). */
export function validateRule(f: RuleForm): Partial<Record<keyof RuleForm, string>> {
  const e: Partial<Record<keyof RuleForm, string>> = {};
  const name = f.name?.trim() ?? '';
  if (!name) e.name = 'A name is required';
  else if (new TextEncoder().encode(name).length > 128) e.name = 'At most 128 bytes';
  else if (hasControl(name)) e.name = 'No control characters';
  const win = durationError(f.window, 1000, 'Window', f.kind === 'detector');
  if (win) e.window = win;
  const fr = durationError(f.for, 0, 'For', true);
  if (fr) e.for = fr;
  if (f.kind === 'detector') {
    if (!f.detector) e.detector = 'Pick a detector';
    return e;
  }
  if (!f.metric || !NAME_RE.test(f.metric)) e.metric = 'A metric name: 1–128 of A–Z a–z 0–9 _ . : -';
  if (f.agent && !NAME_RE.test(f.agent)) e.agent = 'An agent name: 1–128 of A–Z a–z 0–9 _ . : -';
  if (f.agg && !AGGREGATIONS.includes(f.agg)) e.agg = 'An aggregation of the list';
  if (!f.op || !OPS.includes(f.op)) e.op = 'Pick a comparison';
  if (f.threshold === undefined || f.threshold === null || !Number.isFinite(f.threshold)) e.threshold = 'A number is required';
  try {
    parseTags(f.tags);
  } catch (err) {
    e.tags = (err as Error).message;
  }
  return e;
}

/** The body of POST/PUT /api/v1/alerts from a valid form. */
export function ruleBody(f: RuleForm): RuleBody {
  const name = (f.name ?? '').trim();
  const opt = (s: string | undefined) => (s && s.trim() ? s.trim() : undefined);
  if (f.kind === 'detector') {
    return { name, detector: f.detector!, window: opt(f.window), for: opt(f.for) };
  }
  const tags = parseTags(f.tags);
  return {
    name,
    agent: opt(f.agent),
    metric: f.metric!.trim(),
    tags: Object.keys(tags).length ? tags : undefined,
    agg: f.agg ?? 'avg',
    window: f.window!.trim(),
    op: f.op!,
    threshold: Number(f.threshold),
    for: opt(f.for),
  };
}

/** A rule as the editor shows it. */
export function ruleForm(r: AlertRule): RuleForm {
  if (r.detector) return { kind: 'detector', name: r.name, detector: r.detector, window: r.window, for: r.for };
  return {
    kind: 'metric',
    name: r.name,
    agent: r.agent ?? undefined,
    metric: r.metric,
    tags: formatTags(r.tags),
    agg: r.agg,
    window: r.window,
    op: r.op,
    threshold: r.threshold,
    for: r.for,
  };
}

/** "max(latency_ms{agent=bot1, model=x}) over 5m > 50 for 1m" */
export function describeRule(r: Pick<AlertRule, 'agent' | 'metric' | 'tags' | 'agg' | 'window' | 'op' | 'threshold' | 'for' | 'detector'>): string {
  if (r.detector) return `detector ${r.detector} flags an anomaly within ${r.window}${r.for && r.for !== '0s' ? ` for ${r.for}` : ''}`;
  const f = [...(r.agent ? [`agent=${r.agent}`] : []), ...Object.entries(r.tags ?? {}).map(([k, v]) => `${k}=${v}`)];
  const sel = f.length ? `${r.metric}{${f.join(', ')}}` : r.metric;
  return `${r.agg}(${sel}) over ${r.window} ${r.op} ${r.threshold}${r.for && r.for !== '0s' ? ` for ${r.for}` : ''}`;
}

export const alertsApi = {
  list: () => allPages<AlertRule>('/api/v1/alerts', { limit: 200 }),
  get: (id: string) => api.get<AlertRule>(`/api/v1/alerts/${seg(id)}`),
  create: (b: RuleBody) => api.post<AlertRule>('/api/v1/alerts', b),
  update: (id: string, b: RuleBody) => api.put<AlertRule>(`/api/v1/alerts/${seg(id)}`, b),
  remove: (id: string) => api.del<{ id: string; deleted: boolean }>(`/api/v1/alerts/${seg(id)}`),
  events: () => allPages<AlertEvent>('/api/v1/alerts/events', { limit: 200 }, 5),
  ruleEvents: (id: string) => allPages<AlertEvent>(`/api/v1/alerts/${seg(id)}/events`, { limit: 200 }, 5),
};
