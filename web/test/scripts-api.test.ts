// The Script Lab's calls: a version is the raw text (not JSON), its text
// comes back as text, and Run goes to the job wizard with the script chosen.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getDiff, pushVersion } from '../src/api/datasets';
import { getScriptText, pushScript, runUrl } from '../src/api/scripts';

afterEach(() => vi.unstubAllGlobals());

const calls = () => {
  const f = vi.fn(async (_url: string, init?: RequestInit) =>
    new Response(init?.method === 'GET' ? 'print(1)\n' : JSON.stringify({ script: 'a b', number: 3 }), { status: 200 }),
  );
  vi.stubGlobal('fetch', f);
  return f;
};

describe('scripts API', () => {
  it('pushes the text as a raw UTF-8 body with message and language in the query', async () => {
    const f = calls();
    const v = await pushScript('a b', 'print("é")\n', { message: 'fix it', language: 'python' });
    expect(v.number).toBe(3);
    const [url, init] = f.mock.calls[0]!;
    expect(url).toBe('/api/v1/scripts/a%20b/versions?message=fix+it&language=python');
    expect(init?.method).toBe('POST');
    expect(init?.body).toBe('print("é")\n');
    expect((init?.headers as Record<string, string>)['Content-Type']).toBe('text/plain; charset=utf-8');
  });

  it("reads a version's text as text", async () => {
    const f = calls();
    expect(await getScriptText('a b', 2)).toBe('print(1)\n');
    expect(f.mock.calls[0]![0]).toBe('/api/v1/scripts/a%20b/versions/2/content');
  });

  it('Run goes to the wizard with the script and version', () => {
    expect(runUrl('clean.py', 2)).toBe('/jobs/new?script=clean.py&version=2');
    expect(runUrl('a&b', 10)).toBe('/jobs/new?script=a%26b&version=10');
  });
});

describe('datasets API', () => {
  it('asks for a diff with the key columns comma-separated, none for whole rows', async () => {
    const f = vi.fn(async () => new Response('{"kind":"binary","identical":true,"from":1,"to":2}', { status: 200 }));
    vi.stubGlobal('fetch', f);
    await getDiff('people', 1, 2, { key: ['id', 'region'], path: 'dir/a.csv' });
    await getDiff('people', 1, 2, { key: [] });
    expect((f.mock.calls[0] as unknown as [string])[0]).toBe('/api/v1/datasets/people/diff?from=1&to=2&key=id%2Cregion&path=dir%2Fa.csv');
    expect((f.mock.calls[1] as unknown as [string])[0]).toBe('/api/v1/datasets/people/diff?from=1&to=2');
  });

  it('refuses a push without files', async () => {
    await expect(pushVersion('x', [])).rejects.toThrow('Choose at least one file');
  });
});
