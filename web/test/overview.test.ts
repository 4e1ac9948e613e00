import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  addAt,
  applyNodeEvent,
  bins,
  chunkFailures,
  completionTimes,
  loadOverview,
  loadThroughput,
  mergeAnomalies,
  minuteOf,
  nodeCounts,
  type Anomaly,
  type NodeInfo,
} from '../src/api/overview';

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });
const T0 = Date.parse('2026-11-26T12:30:30Z');

afterEach(() => vi.unstubAllGlobals());

describe('bins', () => {
  it('puts completions in the minute they happened, the last bin being the current minute', () => {
    const m = new Map<number, number>();
    addAt(m, T0); // this minute
    addAt(m, T0 - 20_000); // same minute (12:30:10)
    addAt(m, T0 - 60_000, 3); // the minute before
    addAt(m, T0 - 59 * 60_000); // the first bin
    addAt(m, T0 - 60 * 60_000); // an hour ago: out
    const b = bins([m], T0);
    expect(b).toHaveLength(60);
    expect(b[59]).toBe(2);
    expect(b[58]).toBe(3);
    expect(b[0]).toBe(1);
    expect(b.reduce((a, x) => a + x, 0)).toBe(6);
  });

  it('adds several maps (loaded and live)', () => {
    const a = new Map([[minuteOf(T0), 2]]);
    const l = new Map([[minuteOf(T0), 5]]);
    expect(bins([a, l], T0)[59]).toBe(7);
  });
});

describe('completionTimes', () => {
  it('takes completed attempts since from, and ignores failed ones and older ones', () => {
    const chunks = [
      { index: 0, state: 'completed', attempts: [{ attempt: 1, state: 'completed', finished_at: '2026-11-26T12:30:00Z' }] },
      {
        index: 1,
        state: 'completed',
        attempts: [
          { attempt: 1, state: 'failed', finished_at: '2026-11-26T12:29:00Z' },
          { attempt: 2, state: 'completed', finished_at: '2026-11-26T12:29:30Z' },
        ],
      },
      { index: 2, state: 'running', attempts: [{ attempt: 1, state: 'running', finished_at: null }] },
      { index: 3, state: 'completed', attempts: [{ attempt: 1, state: 'completed', finished_at: '2026-11-26T10:00:00Z' }] },
    ];
    expect(completionTimes(chunks, Date.parse('2026-11-26T11:30:30Z'))).toEqual([
      Date.parse('2026-11-26T12:30:00Z'),
      Date.parse('2026-11-26T12:29:30Z'),
    ]);
  });
});

describe('chunkFailures', () => {
  it('lists failed and lost attempts of the hour with the job, chunk and reason', () => {
    const chunks = [
      {
        index: 4,
        state: 'completed',
        attempts: [
          { attempt: 1, state: 'lost', reason: 'lost_node', finished_at: '2026-11-26T12:20:00Z' },
          { attempt: 2, state: 'failed', reason: 'memory', finished_at: '2026-11-26T12:25:00Z' },
          { attempt: 3, state: 'completed', reason: null, finished_at: '2026-11-26T12:26:00Z' },
        ],
      },
      { index: 5, state: 'failed', attempts: [{ attempt: 1, state: 'failed', reason: 'time', finished_at: '2026-11-26T09:00:00Z' }] },
    ];
    const f = chunkFailures({ id: 'j1', name: 'train' }, chunks, Date.parse('2026-11-26T11:30:00Z'));
    expect(f.map((x) => [x.jobName, x.index, x.attempt, x.state, x.reason])).toEqual([
      ['train', 4, 1, 'lost', 'lost_node'],
      ['train', 4, 2, 'failed', 'memory'],
    ]);
  });
});

describe('nodes', () => {
  const nodes: NodeInfo[] = [
    { id: 'a', name: 'a', state: 'online' },
    { id: 'b', name: 'b', state: 'offline' },
  ];
  it('counts by state', () => {
    expect(nodeCounts(nodes)).toEqual({ online: 1, offline: 1, draining: 0, pending: 0 });
  });
  it('applies node events', () => {
    expect(nodeCounts(applyNodeEvent(nodes, { event: 'online', id: 'b' })).online).toBe(2);
    expect(nodeCounts(applyNodeEvent(nodes, { event: 'offline', id: 'a' })).offline).toBe(2);
    expect(applyNodeEvent(nodes, { event: 'drained', id: 'a' })[0]!.state).toBe('draining');
    expect(applyNodeEvent(nodes, { event: 'removed', id: 'a' }).map((n) => n.id)).toEqual(['b']);
    expect(applyNodeEvent(nodes, { event: 'registered', id: 'c', name: 'c' })).toHaveLength(3);
    expect(applyNodeEvent(nodes, { event: 'updated', id: 'a' })).toBe(nodes);
  });
});

describe('mergeAnomalies', () => {
  it('keeps one entry per detector and time, newest first', () => {
    const a: Anomaly = { detector: 'd1', agent: 'x', ts: '2026-11-26T12:00:00Z', score: 2, threshold: 1 };
    const b: Anomaly = { detector: 'd1', agent: 'x', ts: Date.parse('2026-11-26T12:01:00Z'), score: 3, threshold: 1 };
    const same: Anomaly = { ...a, ts: Date.parse('2026-11-26T12:00:00Z') };
    const m = mergeAnomalies([a], [b, same]);
    expect(m).toHaveLength(2);
    expect(m[0]).toBe(b);
  });
});

describe('loading', () => {
  it('loads nodes and job counts in parallel and marks a count cut at one page', async () => {
    const urls: string[] = [];
    vi.stubGlobal('fetch', async (u: string) => {
      urls.push(u);
      if (u.startsWith('/api/v1/nodes')) return json({ items: [{ id: 'n', name: 'local', state: 'online' }], next_cursor: null });
      if (u.includes('state=running')) return json({ items: [{ id: 'j1' }], next_cursor: 'j1' });
      if (u.includes('state=pending')) return json({ items: [], next_cursor: null });
      return json({ items: [{ id: 'jf', name: 'bad', state: 'failed' }], next_cursor: null });
    });
    const d = await loadOverview();
    expect(urls).toHaveLength(4);
    expect(d.nodes).toHaveLength(1);
    expect(d.running).toEqual({ n: 1, more: true });
    expect(d.queued).toEqual({ n: 0, more: false });
    expect(d.failed[0]!.id).toBe('jf');
    expect(urls.some((u) => u.includes('state=failed') && u.includes('limit=5'))).toBe(true);
  });

  it("takes the throughput from the server's count and reads failures from the chunk lists within bounds", async () => {
    const now = T0;
    const job = (id: string, state: string, finished: string | null, completed: number) => ({
      id,
      name: id,
      owner: 'admin',
      state,
      reason: null,
      chunks: { pending: 0, running: 0, completed, failed: 0, cancelled: 0 },
      created_at: '2026-11-26T10:00:00Z',
      started_at: '2026-11-26T10:00:00Z',
      finished_at: finished,
    });
    const chunkUrls: string[] = [];
    const first = Math.floor(now / 60000) - 59;
    const counts = Array.from({ length: 60 }, (_, i) => (i === 59 ? 3 : i === 10 ? 7 : 0));
    vi.stubGlobal('fetch', async (u: string) => {
      if (u.includes('/jobs/throughput'))
        return json({
          from: new Date(first * 60000).toISOString(),
          step_s: 60,
          counts,
          total: 10,
          scope: 'all',
          counting_since: new Date(now - 7200_000).toISOString(),
        });
      if (u.includes('/chunks')) {
        chunkUrls.push(u);
        const page2 = u.includes('cursor=');
        return json({
          items: [{ index: page2 ? 1 : 0, state: 'completed', attempts: [{ attempt: 1, state: 'completed', finished_at: new Date(now - 1000).toISOString() }] }],
          next_cursor: page2 ? null : 'c1',
        });
      }
      if (u.includes('state=running')) return json({ items: [job('r', 'running', null, 2)], next_cursor: null });
      return json({
        items: [
          job('r', 'running', null, 2),
          job('old', 'completed', '2026-11-26T09:00:00Z', 5), // finished before the hour: not read
          job('new', 'completed', new Date(now - 120_000).toISOString(), 1),
        ],
        next_cursor: null,
      });
    });
    const t = await loadThroughput(now, { maxPages: 3 });
    // r: 2 pages; new: 1 page (the third), then the budget is spent
    expect(chunkUrls.filter((u) => u.includes('/jobs/r/'))).toHaveLength(2);
    expect(chunkUrls.filter((u) => u.includes('/jobs/old/'))).toHaveLength(0);
    expect(t.partial).toBe(true);
    // the server's counts, not the chunk lists' (which hold 3 completions too)
    const b = bins([t.perMinute], now);
    expect(b[59]).toBe(3);
    expect(b[10]).toBe(7);
    expect(b.reduce((x, y) => x + y, 0)).toBe(10);
    expect(t.countingSince).toBe(now - 7200_000);
    expect(t.baseline.get('r')).toBe(2);
    expect(t.baseline.get('old')).toBe(5);
  });
});
