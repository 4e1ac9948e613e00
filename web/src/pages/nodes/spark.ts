// Sparklines as pure geometry (tested in test/nodes.test.ts), and a short
// history kept in the page for figures the metrics store has not got yet.

/** An SVG path through points [t, v], scaled into w × h (y grows downwards). */
export function sparkPath(points: [number, number][], w: number, h: number, lo?: number, hi?: number, pad = 1): string {
  const pts = points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
  if (pts.length === 0) return '';
  const t0 = pts[0]![0];
  const t1 = pts[pts.length - 1]![0];
  let min = lo ?? Math.min(...pts.map((p) => p[1]));
  let max = hi ?? Math.max(...pts.map((p) => p[1]));
  if (max === min) {
    max += 1;
    min -= 1;
  }
  const x = (t: number) => (t1 === t0 ? w / 2 : ((t - t0) / (t1 - t0)) * (w - 2 * pad) + pad);
  const y = (v: number) => {
    const c = Math.min(max, Math.max(min, v));
    return h - pad - ((c - min) / (max - min)) * (h - 2 * pad);
  };
  const r = (n: number) => Math.round(n * 10) / 10;
  if (pts.length === 1) {
    const yy = r(y(pts[0]![1]));
    return `M${r(pad)} ${yy}L${r(w - pad)} ${yy}`;
  }
  return pts.map((p, i) => `${i ? 'L' : 'M'}${r(x(p[0]))} ${r(y(p[1]))}`).join('');
}

/** Adds a point to a history, dropping points older than keepMs before its time. */
export function pushPoint(hist: [number, number][], t: number, v: number, keepMs = 30 * 60_000): [number, number][] {
  const last = hist[hist.length - 1];
  const next = last && last[0] === t ? hist.slice(0, -1) : hist.slice();
  next.push([t, v]);
  return next.filter((p) => p[0] >= t - keepMs);
}

/** Points of the memory figure as a percent of the total (the series by their times). */
export function memPercent(used: [number, number][], total: [number, number][], fallbackTotal: number): [number, number][] {
  const totals = new Map(total.map((p) => [p[0], p[1]]));
  return used.map(([t, u]) => {
    const tot = totals.get(t) ?? fallbackTotal;
    return [t, tot > 0 ? (u * 100) / tot : 0];
  });
}
