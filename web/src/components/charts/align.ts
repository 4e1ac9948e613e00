// Pure helpers of the charts: query series → uPlot's aligned columns, and
// anomaly marks. No React state holds points: the page keeps the reply and
// the chart hands these arrays to uPlot as they are.

export interface PointSeries {
  label: string;
  /** [unix ms, value] in time order (the query route's order). */
  points: readonly (readonly [number, number])[];
}

/** uPlot's AlignedData: x in seconds, then one column per series (null = no value). */
export type Aligned = [Float64Array | number[], ...(number | null)[][]];

/**
 * Aligns series on the union of their timestamps (x in seconds, ascending,
 * each once); a series without a value at an x gets null (a gap). One
 * series is passed through without a merge.
 */
export function alignSeries(series: readonly PointSeries[]): Aligned {
  if (series.length === 0) return [[]];
  if (series.length === 1) {
    const p = series[0]!.points;
    const xs = new Float64Array(p.length);
    const ys = new Array<number | null>(p.length);
    for (let i = 0; i < p.length; i++) {
      xs[i] = p[i]![0] / 1000;
      ys[i] = p[i]![1];
    }
    return [xs, ys];
  }
  let n = 0;
  for (const s of series) n += s.points.length;
  const all = new Float64Array(n);
  let k = 0;
  for (const s of series) for (const p of s.points) all[k++] = p[0];
  all.sort();
  let u = 0;
  for (let i = 0; i < n; i++) if (i === 0 || all[i] !== all[u - 1]) all[u++] = all[i]!;
  const ms = all.subarray(0, u);
  const xs = new Float64Array(u);
  for (let i = 0; i < u; i++) xs[i] = ms[i]! / 1000;
  const cols: (number | null)[][] = series.map((s) => {
    const col = new Array<number | null>(u).fill(null);
    let j = 0;
    for (const [t, v] of s.points) {
      while (j < u && ms[j]! < t) j++;
      if (j < u && ms[j] === t) col[j] = v;
    }
    return col;
  });
  return [xs, ...cols];
}

export interface Mark {
  /** Unix ms. */
  ts: number;
  /** What the marker says (detector, score). */
  title: string;
}

/** Marks inside [from, to), sorted, one per timestamp (the first title kept). */
export function marksInRange(marks: readonly Mark[], from: number, to: number): Mark[] {
  const seen = new Set<number>();
  return marks
    .filter((m) => m.ts >= from && m.ts < to)
    .sort((a, b) => a.ts - b.ts)
    .filter((m) => (seen.has(m.ts) ? false : (seen.add(m.ts), true)));
}

/** Compact number for axes and cards: 1234567 → "1.23M". */
export function compact(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  const a = Math.abs(v);
  for (const [n, s] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (a >= n) return `${+(v / n).toPrecision(digits)}${s}`;
  }
  if (a === 0) return '0';
  if (a < 1e-3) return v.toExponential(2);
  return `${+v.toPrecision(digits)}`;
}
