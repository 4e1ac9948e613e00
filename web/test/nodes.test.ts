import { describe, expect, it } from 'vitest';
import { CODE_RE, normaliseCode } from '../src/api/nodes';
import { memPercent, pushPoint, sparkPath } from '../src/pages/nodes/spark';

describe('sparklines', () => {
  it('scales points into the box, y growing downwards', () => {
    expect(sparkPath([[0, 0], [10, 50], [20, 100]], 100, 20, 0, 100, 0)).toBe('M0 20L50 10L100 0');
    // bounds from the data when none are given
    expect(sparkPath([[0, 5], [1, 15]], 10, 10, undefined, undefined, 0)).toBe('M0 10L10 0');
    // values outside the bounds are clipped
    expect(sparkPath([[0, -5], [1, 150]], 10, 10, 0, 100, 0)).toBe('M0 10L10 0');
  });
  it('draws one point as a flat line and nothing for no points', () => {
    expect(sparkPath([[5, 50]], 10, 10, 0, 100, 0)).toBe('M0 5L10 5');
    expect(sparkPath([], 10, 10)).toBe('');
    expect(sparkPath([[0, NaN]], 10, 10)).toBe('');
  });
  it('a flat series sits in the middle', () => {
    expect(sparkPath([[0, 3], [1, 3]], 10, 10, undefined, undefined, 0)).toBe('M0 5L10 5');
  });
  it('keeps a short history', () => {
    let h: [number, number][] = [];
    h = pushPoint(h, 1000, 1, 5000);
    h = pushPoint(h, 2000, 2, 5000);
    h = pushPoint(h, 2000, 3, 5000); // same time: replaced
    expect(h).toEqual([[1000, 1], [2000, 3]]);
    h = pushPoint(h, 7000, 4, 5000);
    expect(h).toEqual([[2000, 3], [7000, 4]]);
  });
  it('turns memory used into a percent of the total', () => {
    expect(memPercent([[1, 50], [2, 25]], [[1, 200]], 100)).toEqual([[1, 25], [2, 25]]);
    expect(memPercent([[1, 50]], [], 0)).toEqual([[1, 0]]);
  });
});

describe('claim codes', () => {
  it('are read as the server reads them', () => {
    expect(normaliseCode(' 7dcxr6 ')).toBe('7DCXR6');
    expect(normaliseCode('bpq-6nj')).toBe('BPQ6NJ');
    expect(normaliseCode('iLoO12')).toBe('110012');
    expect(CODE_RE.test('7DCXR6')).toBe(true);
    expect(CODE_RE.test('7DCXR')).toBe(false);
    expect(CODE_RE.test('7DCXRU')).toBe(false);
  });
});
