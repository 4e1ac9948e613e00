// Users, groups, API tokens and the audit log (docs/api.md, the first table).
// Shapes as the server answers them (checked against a running server).
import { allPages, api, seg, type Page } from './client';
import type { Role } from './types';

export interface AdminUser {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  created_at: string;
  updated_at: string;
  /** group names (GET /users/{id} only) */
  groups?: string[];
}

export interface GroupInfo {
  id: string;
  name: string;
  description?: string | null;
  created_at: string;
  /** member count */
  members: number;
}

export interface GroupDetail extends GroupInfo {
  member_list: { id: string; username: string }[];
}

export type TokenScope = 'all' | 'metrics:write';

export interface ApiToken {
  id: string;
  name: string;
  kind: string;
  scope: TokenScope;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** The reply of POST /tokens: the only time the secret is seen. */
export interface NewToken extends Omit<ApiToken, 'revoked_at' | 'last_used_at'> {
  token: string;
}

export interface AuditEntry {
  id: string;
  ts: string;
  action: string;
  outcome: string;
  status: number;
  count: number;
  actor_id?: string | null;
  actor: string | null;
  target: string | null;
  address?: string | null;
  request_id?: string | null;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  outcome?: string;
  /** RFC 3339 */
  since?: string;
  until?: string;
}

/** The actions the server records (route actions in src/*, docs/api.md). */
export const AUDIT_ACTIONS = [
  'agent.delete', 'agent.update', 'alert.create', 'alert.delete', 'alert.update', 'auth.login', 'auth.logout',
  'blob.gc', 'config.create', 'dataset.delete', 'dataset.push', 'dataset.update', 'detector.create',
  'detector.delete', 'detector.replay', 'group.create', 'group.delete', 'group.member_add', 'group.member_remove',
  'job.cancel', 'job.create', 'job.retry', 'model.delete', 'model.push', 'model.update', 'node.claim', 'node.drain',
  'node.register', 'node.remove', 'node.update', 'price.set', 'runtime.delete', 'runtime.register', 'token.create',
  'token.revoke', 'upload.append', 'upload.commit', 'upload.create', 'upload.delete', 'user.create', 'user.delete',
  'user.password', 'user.update',
];

export const ROLES: Role[] = ['member', 'admin', 'superadmin'];

export const adminApi = {
  users: () => allPages<AdminUser>('/api/v1/users', { limit: 1000 }),
  createUser: (b: { username: string; password: string; role?: Role }) => api.post<AdminUser>('/api/v1/users', b),
  updateUser: (name: string, b: { role?: Role; disabled?: boolean; password?: string }) =>
    api.patch<AdminUser>(`/api/v1/users/${seg(name)}`, b),
  deleteUser: (name: string) => api.del<unknown>(`/api/v1/users/${seg(name)}`),

  groups: () => allPages<GroupInfo>('/api/v1/groups', { limit: 1000 }),
  group: (name: string, signal?: AbortSignal) => api.get<GroupDetail>(`/api/v1/groups/${seg(name)}`, undefined, signal),
  createGroup: (b: { name: string; description?: string }) => api.post<GroupInfo>('/api/v1/groups', b),
  deleteGroup: (name: string) => api.del<unknown>(`/api/v1/groups/${seg(name)}`),
  addMember: (group: string, user: string) => api.put<unknown>(`/api/v1/groups/${seg(group)}/members/${seg(user)}`),
  removeMember: (group: string, user: string) =>
    api.del<unknown>(`/api/v1/groups/${seg(group)}/members/${seg(user)}`),

  tokens: () => allPages<ApiToken>('/api/v1/tokens', { limit: 1000 }),
  createToken: (b: { name: string; scope: TokenScope; expires_in_days?: number }) =>
    api.post<NewToken>('/api/v1/tokens', b),
  revokeToken: (id: string) => api.del<unknown>(`/api/v1/tokens/${seg(id)}`),

  audit: (f: AuditFilter, cursor?: string | null, limit = 50, signal?: AbortSignal) =>
    api.get<Page<AuditEntry>>('/api/v1/audit', { ...f, cursor: cursor ?? undefined, limit }, signal),
};

/** Does an audit entry match a filter? (for live events, and target which the server does not filter) */
export function auditMatches(e: AuditEntry, f: AuditFilter & { target?: string }): boolean {
  if (f.actor && e.actor !== f.actor && e.actor_id !== f.actor) return false;
  if (f.action && e.action !== f.action) return false;
  if (f.outcome && e.outcome !== f.outcome) return false;
  if (f.target && !(e.target ?? '').toLowerCase().includes(f.target.toLowerCase())) return false;
  const t = Date.parse(e.ts);
  if (f.since && t < Date.parse(f.since)) return false;
  if (f.until && t >= Date.parse(f.until)) return false;
  return true;
}

/** A token's state in words. */
export function tokenState(t: ApiToken, now = Date.now()): 'revoked' | 'expired' | 'active' {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && Date.parse(t.expires_at) <= now) return 'expired';
  return 'active';
}
