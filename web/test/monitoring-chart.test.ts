import { describe, expect, it } from 'vitest';
import { placeMarks } from '../src/components/charts/TimeChart';

describe('placeMarks', () => {
  it('puts a titled marker per anomaly inside the x range, at its pixel, replacing old ones', () => {
    const over = document.createElement('div');
    const u = {
      over,
      scales: { x: { min: 100, max: 200 } },
      valToPos: (v: number) => (v - 100) * 2,
    } as unknown as Parameters<typeof placeMarks>[0];
    placeMarks(u, [
      { ts: 150_000, title: 'a' },
      { ts: 90_000, title: 'before' },
      { ts: 210_000, title: 'after' },
    ]);
    let els = over.querySelectorAll<HTMLElement>('.chart-mark');
    expect(els.length).toBe(1);
    expect(els[0]!.title).toBe('a');
    expect(els[0]!.style.left).toBe('100px');
    expect(els[0]!.dataset.ts).toBe('150000');
    placeMarks(u, [{ ts: 120_000, title: 'b' }, { ts: 180_000, title: 'c' }]);
    els = over.querySelectorAll<HTMLElement>('.chart-mark');
    expect([...els].map((e) => e.title)).toEqual(['b', 'c']);
    placeMarks(u, []);
    expect(over.querySelectorAll('.chart-mark').length).toBe(0);
  });
});
