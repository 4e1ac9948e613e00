// A time-series chart on uPlot, loaded lazily (the first page load carries
// none of it). Points go straight from the query reply into uPlot's columns
// (alignSeries); React only holds the reply, so a chart of 100,000 points
// stays interactive. Anomalies are markers over the plot (DOM elements in
// uPlot's overlay, placed by a draw hook), so they can be hovered and read.
import { Empty, Spin } from 'antd';
import { useEffect, useMemo, useRef, useState } from 'react';
import type uPlot from 'uplot';
import { colors, palette } from '../../theme';
import { alignSeries, compact, type Mark, type PointSeries } from './align';
import './charts.css';

export interface TimeChartProps {
  /** What the chart shows, for its accessible name and the y axis. */
  title: string;
  yLabel: string;
  series: readonly PointSeries[];
  marks?: readonly Mark[];
  height?: number;
  /** The x range in unix ms (else the data's). */
  range?: { from: number; to: number };
}

type UPlotCtor = typeof uPlot;
let loading: Promise<UPlotCtor> | undefined;
function loadUPlot(): Promise<UPlotCtor> {
  loading ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(([m]) => m.default);
  return loading;
}

/** Puts one marker element per mark inside the x range into the plot's overlay (replacing the previous ones). */
export function placeMarks(u: Pick<uPlot, 'over' | 'scales' | 'valToPos'>, marks: readonly Mark[]) {
  const over = u.over;
  over.querySelectorAll('.chart-mark').forEach((e) => e.remove());
  const min = u.scales.x?.min ?? -Infinity;
  const max = u.scales.x?.max ?? Infinity;
  const frag = document.createDocumentFragment();
  for (const m of marks) {
    const x = m.ts / 1000;
    if (x < min || x > max) continue;
    const el = document.createElement('div');
    el.className = 'chart-mark';
    el.title = m.title;
    el.dataset.ts = String(m.ts);
    el.style.left = `${u.valToPos(x, 'x')}px`;
    frag.appendChild(el);
  }
  over.appendChild(frag);
}

function showRange(u: uPlot, r: { from: number; to: number } | undefined) {
  if (r) u.setScale('x', { min: r.from / 1000, max: r.to / 1000 });
}

export function TimeChart({ title, yLabel, series, marks = [], height = 300, range }: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const marksRef = useRef(marks);
  marksRef.current = marks;
  // Applied after each setData (not as a scale range function, which would undo a drag zoom).
  const rangeRef = useRef(range);
  rangeRef.current = range;
  const [ctor, setCtor] = useState<UPlotCtor | null>(null);
  const [loadError, setLoadError] = useState<string>();
  const data = useMemo(() => alignSeries(series), [series]);
  const shape = series.map((s) => s.label).join('\u0000');

  useEffect(() => {
    let live = true;
    loadUPlot().then(
      (c) => live && setCtor(() => c),
      (e: unknown) => live && setLoadError(String(e)),
    );
    return () => {
      live = false;
    };
  }, []);

  // (Re)creates the plot when the set of series changes; new data alone goes through setData.
  useEffect(() => {
    const el = box.current;
    if (!ctor || !el || series.length === 0) return undefined;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: { x: { time: true } },
      axes: [
        { label: 'Time', stroke: colors.muted, grid: { stroke: colors.border, width: 1 }, ticks: { stroke: colors.border } },
        {
          label: yLabel,
          stroke: colors.muted,
          size: 64,
          grid: { stroke: colors.border, width: 1 },
          ticks: { stroke: colors.border },
          values: (_u, vals) => vals.map((v) => compact(v)),
        },
      ],
      series: [
        { label: 'Time' },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: palette[i % palette.length],
          width: 1.5,
          spanGaps: false,
          points: { show: s.points.length < 200 },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : compact(v, 4)),
        })),
      ],
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      hooks: { draw: [(u) => placeMarks(u, marksRef.current)] },
    };
    const u = new ctor(opts, data as uPlot.AlignedData, el);
    plot.current = u;
    showRange(u, rangeRef.current);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // data is applied by the next effect, the range through rangeRef; labels are part of shape
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ctor, shape, height, yLabel]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(data as uPlot.AlignedData);
    showRange(u, rangeRef.current);
  }, [data]);

  useEffect(() => {
    if (plot.current) placeMarks(plot.current, marks);
  }, [marks]);

  if (loadError) return <Empty description={`The chart could not be loaded: ${loadError}`} />;
  if (series.length === 0) return <Empty description="No samples in this range" />;
  return (
    <div className="time-chart" role="figure" aria-label={title}>
      {!ctor && <Spin aria-label="Loading the chart" />}
      <div ref={box} className="time-chart-plot" />
      {marks.length > 0 && (
        <div className="chart-mark-legend" aria-live="polite">
          <span className="chart-mark-swatch" aria-hidden="true" /> {marks.length} {marks.length === 1 ? 'anomaly' : 'anomalies'} marked
        </div>
      )}
    </div>
  );
}
