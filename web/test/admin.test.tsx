import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { App as AntApp } from 'antd';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { adminApi, auditMatches, tokenState, type ApiToken, type AuditEntry } from '../src/api/admin';
import { grantable } from '../src/pages/admin/UsersPage';
import { filtersOf } from '../src/pages/admin/AuditPage';
import TokensPage from '../src/pages/tokens/TokensPage';

// jsdom has no matchMedia; antd's responsive hooks ask it.
if (!window.matchMedia) {
  Object.defineProperty(window, 'matchMedia', {
    configurable: true,
    value: (query: string) => ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => {},
      removeListener: () => {},
      addEventListener: () => {},
      removeEventListener: () => {},
      dispatchEvent: () => false,
    }),
  });
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const entry: AuditEntry = {
  id: 'a1',
  ts: '2026-11-26T12:00:00Z',
  action: 'user.create',
  outcome: 'success',
  status: 201,
  count: 1,
  actor_id: 'u_1',
  actor: 'admin',
  target: 'bob',
};

describe('auditMatches', () => {
  it('applies every filter, the target as a part in any case', () => {
    expect(auditMatches(entry, {})).toBe(true);
    expect(auditMatches(entry, { action: 'user.create', actor: 'admin' })).toBe(true);
    expect(auditMatches(entry, { actor: 'u_1' })).toBe(true);
    expect(auditMatches(entry, { actor: 'eve' })).toBe(false);
    expect(auditMatches(entry, { action: 'user.update' })).toBe(false);
    expect(auditMatches(entry, { outcome: 'denied' })).toBe(false);
    expect(auditMatches(entry, { target: 'BO' })).toBe(true);
    expect(auditMatches(entry, { target: 'alice' })).toBe(false);
    expect(auditMatches(entry, { since: '2026-11-26T12:00:00Z' })).toBe(true);
    expect(auditMatches(entry, { until: '2026-11-26T12:00:00Z' })).toBe(false);
    expect(auditMatches({ ...entry, target: null }, { target: 'x' })).toBe(false);
  });

  it('reads the filters from the address', () => {
    expect(filtersOf(new URLSearchParams('action=user.create&target=bob&x=1'))).toEqual({ action: 'user.create', target: 'bob' });
  });
});

describe('tokens and roles', () => {
  const t: ApiToken = {
    id: 'tok_1',
    name: 'ci',
    kind: 'api',
    scope: 'all',
    created_at: '2026-01-01T00:00:00Z',
    expires_at: null,
    revoked_at: null,
    last_used_at: null,
  };
  it('says whether a token is active, expired or revoked', () => {
    expect(tokenState(t)).toBe('active');
    expect(tokenState({ ...t, expires_at: '2026-01-02T00:00:00Z' }, Date.parse('2026-02-01T00:00:00Z'))).toBe('expired');
    expect(tokenState({ ...t, revoked_at: '2026-01-02T00:00:00Z' })).toBe('revoked');
  });
  it('lets only a superadmin grant admin roles', () => {
    expect(grantable('superadmin')).toEqual(['member', 'admin', 'superadmin']);
    expect(grantable('admin')).toEqual(['member']);
  });
});

describe('adminApi', () => {
  it('calls the routes of docs/api.md', async () => {
    const calls: [string, string, string | undefined][] = [];
    vi.stubGlobal('fetch', async (u: string, init: RequestInit) => {
      calls.push([init.method ?? 'GET', u, init.body as string | undefined]);
      return json({ items: [], next_cursor: null });
    });
    await adminApi.updateUser('bob smith', { disabled: true });
    await adminApi.addMember('team', 'bob');
    await adminApi.removeMember('team', 'bob');
    await adminApi.createToken({ name: 'ci', scope: 'metrics:write', expires_in_days: 30 });
    await adminApi.revokeToken('tok_1');
    await adminApi.audit({ action: 'user.create' }, 'a_9', 50);
    expect(calls).toEqual([
      ['PATCH', '/api/v1/users/bob%20smith', '{"disabled":true}'],
      ['PUT', '/api/v1/groups/team/members/bob', undefined],
      ['DELETE', '/api/v1/groups/team/members/bob', undefined],
      ['POST', '/api/v1/tokens', '{"name":"ci","scope":"metrics:write","expires_in_days":30}'],
      ['DELETE', '/api/v1/tokens/tok_1', undefined],
      ['GET', '/api/v1/audit?action=user.create&cursor=a_9&limit=50', undefined],
    ]);
  });
});

describe('TokensPage', () => {
  it('shows a new token once, with a warning, and copies it', async () => {
    const secret = 'snt_' + 'ab'.repeat(32);
    let listed: ApiToken[] = [];
    vi.stubGlobal('fetch', async (_u: string, init: RequestInit) => {
      if (init.method === 'POST') {
        const b = JSON.parse(init.body as string) as { name: string; scope: string };
        const t = { id: 'tok_9', name: b.name, kind: 'api', scope: b.scope, created_at: '2026-11-26T12:00:00Z', expires_at: null };
        listed = [{ ...t, scope: 'all', revoked_at: null, last_used_at: null }];
        return json({ ...t, token: secret }, 201);
      }
      return json({ items: listed, next_cursor: null });
    });
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    render(
      <MemoryRouter>
        <AntApp>
          <TokensPage />
        </AntApp>
      </MemoryRouter>,
    );
    await screen.findByText('No API tokens yet', undefined, { timeout: 5000 });
    fireEvent.click(screen.getByRole('button', { name: /New token/ }));
    const dialog = within(await screen.findByRole('dialog'));
    fireEvent.change(dialog.getByRole('textbox', { name: 'Name' }), { target: { value: 'ci' } });
    fireEvent.click(dialog.getByRole('button', { name: 'Create' }));
    expect(await screen.findByText(secret, undefined, { timeout: 5000 })).toBeTruthy();
    expect(screen.getByText(/won't be shown again/)).toBeTruthy();
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: /Copy/ }));
    });
    expect(writeText).toHaveBeenCalledWith(secret);
    fireEvent.click(screen.getByRole('button', { name: 'Done' }));
    await waitFor(() => expect(screen.queryByText(secret)).toBeNull());
    expect(await screen.findByText('ci')).toBeTruthy();
  }, 30000);
});
