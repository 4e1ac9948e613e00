// Nodes (docs/jobs.md, "User routes"): the list, claim by code, who may use
// a node, drain; and the figures a node pushes about itself (docs/metrics.md:
// node.cpu_percent, node.mem_used_bytes, node.mem_total_bytes, node.load1)
// read back through the metrics query.
import { allPages, api, seg } from './client';

export type NodeState = 'pending' | 'online' | 'offline' | 'draining';
export const NODE_STATES: NodeState[] = ['online', 'draining', 'offline', 'pending'];

export interface NodeAccess {
  public: boolean;
  users: string[];
  groups: string[];
}

export interface SentinelNode {
  id: string;
  name: string;
  state: NodeState;
  owner: string | null;
  owner_id: string | null;
  cores: number;
  memory_mb: number;
  gpus: number;
  gpus_free: number;
  max_parallel: number;
  free_slots: number;
  running: number;
  load1: number;
  last_heartbeat: string | null;
  platform: string;
  version: string;
  datasets: { name: string; manifest_sha256: string; bytes: number; files: number; path?: string }[];
  runtimes: string[];
  draining: boolean;
  access: NodeAccess;
  created_at: string;
  claimed_at: string | null;
  claim_code?: string;
}

/** The `node` topic's event. */
export interface NodeEvent {
  event: 'registered' | 'claimed' | 'online' | 'offline' | 'drained' | 'resumed' | 'updated' | 'removed';
  id: string;
  name: string;
}

export interface Series {
  agent: string | null;
  metric: string;
  tags: Record<string, string>;
  points: [number, number][];
}

const N = '/api/v1/nodes';

/** A typed claim code as the server reads it: case folded, I and L as 1, O as 0, spaces and dashes dropped. */
export function normaliseCode(s: string): string {
  return s
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/[IL]/g, '1')
    .replace(/O/g, '0');
}

/** Crockford base32 without I, L, O, U: six characters. */
export const CODE_RE = /^[0-9A-HJKMNP-TV-Z]{6}$/;

export const nodesApi = {
  list: () => allPages<SentinelNode>(N, { limit: 1000 }, 10),
  get: (id: string) => api.get<SentinelNode>(`${N}/${seg(id)}`),
  claim: (code: string) => api.post<SentinelNode>(`${N}/claim`, { code: normaliseCode(code) }),
  update: (id: string, body: { name?: string; access?: Partial<NodeAccess> }) => api.patch<SentinelNode>(`${N}/${seg(id)}`, body),
  drain: (id: string, drain: boolean) => api.post<SentinelNode>(`${N}/${seg(id)}/drain`, { drain }),
  /** One figure of every node over the last `range` (e.g. -30m), per agent (a node's agent is its name). */
  figures: async (metric: string, range = '-30m', step = '30s', signal?: AbortSignal) =>
    (await api.get<{ series: Series[] }>('/api/v1/metrics/query', { metric, from: range, to: 'now', step, agg: 'avg', by: 'agent' }, signal)).series,
};
