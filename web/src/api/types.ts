// Shapes shared by several pages. Domain modules declare their own; the
// OpenAPI description (docs/openapi.json, served at /api/v1/openapi.json)
// is the reference they are checked against (src/api/schema.d.ts).
export type Role = 'member' | 'admin' | 'superadmin';

export interface Group {
  id: string;
  name: string;
  role?: string;
}

export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  created_at: string;
  updated_at: string;
  /** names of the groups the user belongs to */
  groups?: string[];
}

export interface LoginReply {
  expires_at: string;
  user: User;
  csrf_token?: string;
}

export const isAdmin = (u: User | null | undefined) => u?.role === 'admin' || u?.role === 'superadmin';
