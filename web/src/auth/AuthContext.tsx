// Who is logged in. The session itself is the HttpOnly cookie the login
// sets; this context only knows the user (from GET /api/v1/me) and goes back
// to the login page on any 401.
import { createContext, startTransition, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, api, onUnauthorized } from '../api/client';
import type { LoginReply, User } from '../api/types';

interface AuthState {
  user: User | null;
  /** true until the first /me answered */
  loading: boolean;
  login(username: string, password: string): Promise<User>;
  logout(): Promise<void>;
  refresh(): Promise<void>;
}

const Ctx = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [loading, setLoading] = useState(true);

  // The answer renders the whole shell and the page: as a transition, React
  // renders it in slices, yielding to the browser between them, instead of
  // in one long task.
  const refresh = useCallback(async () => {
    let u: User | null;
    try {
      u = await api.get<User>('/api/v1/me');
    } catch (e) {
      startTransition(() => setLoading(false));
      if (!(e instanceof ApiError) || e.status !== 401) throw e;
      u = null;
    }
    startTransition(() => {
      setUser(u);
      setLoading(false);
    });
  }, []);

  useEffect(() => {
    refresh().catch(() => setLoading(false));
    return onUnauthorized(() => setUser(null));
  }, [refresh]);

  const login = useCallback(async (username: string, password: string) => {
    const r = await api.post<LoginReply>('/api/v1/auth/login', { username, password, session: 'cookie' });
    setUser(r.user);
    return r.user;
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.post('/api/v1/auth/logout');
    } finally {
      setUser(null);
    }
  }, []);

  const v = useMemo(() => ({ user, loading, login, logout, refresh }), [user, loading, login, logout, refresh]);
  return <Ctx.Provider value={v}>{children}</Ctx.Provider>;
}

export function useAuth(): AuthState {
  const c = useContext(Ctx);
  if (!c) throw new Error('useAuth outside AuthProvider');
  return c;
}

/** The logged-in user (pages behind the shell always have one). */
export function useUser(): User {
  const u = useAuth().user;
  if (!u) throw new Error('no user');
  return u;
}
