import { describe, expect, it } from 'vitest';
import { alignSeries, compact, marksInRange } from '../src/components/charts/align';
import { autoStep, formatDuration, parseDuration, queryParams, resolveRange, seriesLabel } from '../src/api/metrics';
import { describeRule, parseTags, ruleBody, ruleForm, validateRule, type AlertRule } from '../src/api/alerts';

describe('durations', () => {
  it('parses and formats', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('5')).toBeNull();
    expect(parseDuration('5x')).toBeNull();
    expect(parseDuration('1m foo')).toBeNull();
    expect(parseDuration('')).toBeNull();
    expect(formatDuration(60_000)).toBe('1m');
    expect(formatDuration(5_400_000)).toBe('90m');
    expect(formatDuration(86_400_000)).toBe('1d');
  });
});

describe('time ranges', () => {
  const now = 1_700_000_000_000;
  it('turns presets into bounds and an automatic step', () => {
    expect(resolveRange({ preset: '15m' }, 'auto', now)).toEqual({ from: now - 900_000, to: now, step: 5 });
    expect(resolveRange({ preset: '1h' }, 'auto', now)).toEqual({ from: now - 3_600_000, to: now, step: 5 });
    expect(resolveRange({ preset: '24h' }, 'auto', now).step).toBe(120);
    expect(resolveRange({ preset: '7d' }, 'auto', now).step).toBe(900);
  });
  it('keeps a chosen step unless it passes the 10,000-bucket limit', () => {
    expect(resolveRange({ preset: '1h' }, 60, now).step).toBe(60);
    const w = resolveRange({ preset: '7d' }, 1, now);
    expect((w.to - w.from) / (w.step * 1000)).toBeLessThanOrEqual(10_000);
  });
  it('orders custom bounds', () => {
    expect(resolveRange({ from: now, to: now - 60_000 }, 10, now)).toEqual({ from: now - 60_000, to: now, step: 10 });
  });
  it('picks the smallest step with at most target buckets', () => {
    expect(autoStep(60_000)).toBe(1);
    expect(autoStep(3_600_000, 60)).toBe(60);
  });
});

describe('query parameters', () => {
  it('carries filters, tags, step and grouping', () => {
    expect(queryParams({ metric: 'm', agent: 'a', from: 1, to: 2, step: 60, agg: 'p95', by: ['model'], tags: { k: 'v' } })).toEqual({
      metric: 'm', agent: 'a', from: 1, to: 2, step: '60s', agg: 'p95', by: 'model', 'tag.k': 'v',
    });
    expect(queryParams({ metric: 'm', from: 1, to: 2 })).toEqual({ metric: 'm', agent: undefined, from: 1, to: 2 });
  });
  it('names series by agent and sorted tags', () => {
    expect(seriesLabel({ agent: 'a', metric: 'm', tags: { z: '1', b: '2' }, points: [] })).toBe('m {agent=a, b=2, z=1}');
    expect(seriesLabel({ agent: null, metric: 'm', tags: {}, points: [] })).toBe('m');
  });
});

describe('alignSeries', () => {
  it('passes one series through in seconds', () => {
    const [x, y] = alignSeries([{ label: 'a', points: [[1000, 1], [2000, 2]] }]);
    expect(Array.from(x)).toEqual([1, 2]);
    expect(y).toEqual([1, 2]);
  });
  it('aligns several on the union of timestamps with gaps as null', () => {
    const d = alignSeries([
      { label: 'a', points: [[1000, 1], [3000, 3]] },
      { label: 'b', points: [[2000, 20], [3000, 30], [4000, 40]] },
    ]);
    expect(Array.from(d[0])).toEqual([1, 2, 3, 4]);
    expect(d[1]).toEqual([1, null, 3, null]);
    expect(d[2]).toEqual([null, 20, 30, 40]);
  });
  it('handles no series', () => {
    expect(alignSeries([])).toEqual([[]]);
  });
  it('aligns 100,000 points quickly', () => {
    const a: [number, number][] = [];
    const b: [number, number][] = [];
    for (let i = 0; i < 50_000; i++) {
      a.push([i * 1000, i]);
      b.push([i * 1000 + 500, -i]);
    }
    const t = performance.now();
    const d = alignSeries([{ label: 'a', points: a }, { label: 'b', points: b }]);
    expect(performance.now() - t).toBeLessThan(500);
    expect(d[0].length).toBe(100_000);
    expect(d[1]![0]).toBe(0);
    expect(d[1]![1]).toBeNull();
    expect(d[2]![1]).toBe(-0);
  });
});

describe('anomaly marks', () => {
  it('keeps marks in range, sorted, one per time', () => {
    const m = marksInRange(
      [{ ts: 5, title: 'b' }, { ts: 1, title: 'a' }, { ts: 5, title: 'c' }, { ts: 10, title: 'out' }, { ts: 0, title: 'before' }],
      1,
      10,
    );
    expect(m).toEqual([{ ts: 1, title: 'a' }, { ts: 5, title: 'b' }]);
  });
  it('prints compact numbers', () => {
    expect(compact(1234567)).toBe('1.23M');
    expect(compact(0.5)).toBe('0.5');
    expect(compact(null)).toBe('—');
    expect(compact(0)).toBe('0');
  });
});

describe('alert rules', () => {
  it('parses tags and refuses bad ones', () => {
    expect(parseTags(' model=gpt-4, status=ok ')).toEqual({ model: 'gpt-4', status: 'ok' });
    expect(parseTags('')).toEqual({});
    expect(() => parseTags('model')).toThrow(/not k=v/);
    expect(() => parseTags('agent=x')).toThrow(/reserved/);
    expect(() => parseTags('bad key=x')).toThrow(/tag key/);
  });
  it('validates a metric rule field by field', () => {
    expect(validateRule({ kind: 'metric' })).toMatchObject({ name: expect.any(String), metric: expect.any(String), window: expect.any(String), op: expect.any(String), threshold: expect.any(String) });
    const ok = { kind: 'metric' as const, name: 'hot', metric: 'latency_ms', window: '5m', op: '>' as const, threshold: 10 };
    expect(validateRule(ok)).toEqual({});
    expect(validateRule({ ...ok, window: '8d' }).window).toMatch(/7d/);
    expect(validateRule({ ...ok, window: '500ms' }).window).toMatch(/1s/);
    expect(validateRule({ ...ok, for: 'soon' }).for).toMatch(/duration/);
    expect(validateRule({ ...ok, tags: 'x' }).tags).toMatch(/k=v/);
    expect(validateRule({ ...ok, metric: 'bad metric' }).metric).toBeDefined();
  });
  it('validates a detector rule', () => {
    expect(validateRule({ kind: 'detector', name: 'd' }).detector).toBeDefined();
    expect(validateRule({ kind: 'detector', name: 'd', detector: 'det_1' })).toEqual({});
  });
  it('builds bodies and reads rules back', () => {
    expect(ruleBody({ kind: 'metric', name: ' hot ', metric: 'm', window: '5m', op: '>=', threshold: 3, tags: 'model=x', agent: '', for: '' })).toEqual({
      name: 'hot', agent: undefined, metric: 'm', tags: { model: 'x' }, agg: 'avg', window: '5m', op: '>=', threshold: 3, for: undefined,
    });
    expect(ruleBody({ kind: 'detector', name: 'd', detector: 'det_1', window: '' })).toEqual({ name: 'd', detector: 'det_1', window: undefined, for: undefined });
    const r = { id: 'al_1', name: 'hot', agent: 'bot', metric: 'm', tags: { model: 'x' }, agg: 'max', window: '5m', op: '>', threshold: 3, for: '0s', detector: null } as unknown as AlertRule;
    expect(ruleForm(r)).toMatchObject({ kind: 'metric', agent: 'bot', tags: 'model=x', agg: 'max' });
    expect(describeRule(r)).toBe('max(m{agent=bot, model=x}) over 5m > 3');
    expect(describeRule({ ...r, detector: 'det_1', window: '1m' })).toMatch(/detector det_1/);
  });
});
