import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, allPages, apiUrl, describeError, onUnauthorized, request } from '../src/api/client';

function reply(status: number, body: unknown, statusText = '') {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, statusText });
}

afterEach(() => {
  vi.unstubAllGlobals();
  document.cookie = 'sentinel_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT';
});

describe('apiUrl', () => {
  it('drops empty values and encodes the rest', () => {
    expect(apiUrl('/api/v1/x', { a: 'b c', n: 0, e: '', u: undefined, z: null })).toBe('/api/v1/x?a=b+c&n=0');
    expect(apiUrl('/p?x=1', { y: 2 })).toBe('/p?x=1&y=2');
    expect(apiUrl('/p')).toBe('/p');
  });
});

describe('request', () => {
  it('sends JSON with the CSRF token on mutations only', async () => {
    document.cookie = 'sentinel_csrf=tok%3D1';
    const f = vi.fn(async () => reply(200, { ok: true }));
    vi.stubGlobal('fetch', f);
    await request('POST', '/api/v1/things', { json: { a: 1 } });
    await request('GET', '/api/v1/things');
    const [, post] = f.mock.calls[0] as unknown as [string, RequestInit];
    const [, get] = f.mock.calls[1] as unknown as [string, RequestInit];
    expect((post.headers as Record<string, string>)['X-CSRF-Token']).toBe('tok=1');
    expect((post.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect(post.body).toBe('{"a":1}');
    expect(post.credentials).toBe('same-origin');
    expect((get.headers as Record<string, string>)['X-CSRF-Token']).toBeUndefined();
  });

  it('turns the error envelope into an ApiError with code and message', async () => {
    vi.stubGlobal('fetch', async () => reply(409, { error: { code: 'exists', message: 'name taken', request_id: 'r1' } }));
    const e = await request('POST', '/x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(409);
    expect((e as ApiError).code).toBe('exists');
    expect((e as ApiError).requestId).toBe('r1');
    expect(describeError(e)).toBe('name taken (exists, HTTP 409)');
  });

  it('keeps a non-JSON error body as the message', async () => {
    vi.stubGlobal('fetch', async () => reply(502, 'bad gateway', 'Bad Gateway'));
    const e = (await request('GET', '/x').catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('http_502');
    expect(e.message).toBe('bad gateway');
  });

  it('reports an unreachable server as a network error', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    const e = (await request('GET', '/x').catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(0);
    expect(e.code).toBe('network');
    expect(describeError(e)).toMatch(/could not be reached/);
  });

  it('announces a 401 so that the console goes back to the login', async () => {
    vi.stubGlobal('fetch', async () => reply(401, { error: { code: 'unauthorized', message: 'no' } }));
    const seen = vi.fn();
    const off = onUnauthorized(seen);
    await request('GET', '/x').catch(() => {});
    off();
    await request('GET', '/x').catch(() => {});
    expect(seen).toHaveBeenCalledTimes(1);
  });

  it('returns undefined for 204 and refuses a 200 that is not JSON', async () => {
    vi.stubGlobal('fetch', async () => new Response(null, { status: 204 }));
    expect(await request('DELETE', '/x')).toBeUndefined();
    vi.stubGlobal('fetch', async () => reply(200, '<html>'));
    const e = (await request('GET', '/x').catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('bad_reply');
  });
});

describe('allPages', () => {
  it('follows next_cursor to the end', async () => {
    const pages: Record<string, unknown> = {
      '': { items: [1, 2], next_cursor: 'c2' },
      c2: { items: [3], next_cursor: null },
    };
    vi.stubGlobal('fetch', async (u: string) => reply(200, pages[new URL(u, 'http://h').searchParams.get('cursor') ?? '']));
    expect(await allPages<number>('/api/v1/n')).toEqual([1, 2, 3]);
  });
});
