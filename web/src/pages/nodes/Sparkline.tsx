import { sparkPath } from './spark';

/** A small inline SVG line of recent figures, named for screen readers. */
export function Sparkline({
  points,
  label,
  lo,
  hi,
  unit = '',
  color = '#38bdf8',
  width = 96,
  height = 24,
}: {
  points: [number, number][];
  label: string;
  lo?: number;
  hi?: number;
  unit?: string;
  color?: string;
  width?: number;
  height?: number;
}) {
  const last = points[points.length - 1]?.[1];
  const text = last === undefined ? `${label}: no figures yet` : `${label}: ${last.toFixed(1)}${unit} now, ${points.length} points`;
  const d = sparkPath(points, width, height, lo, hi);
  return (
    <span className="spark" title={text}>
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={text}>
        <rect x="0" y="0" width={width} height={height} fill="#0f172a" rx="3" />
        {d && <path d={d} fill="none" stroke={color} strokeWidth="1.5" strokeLinejoin="round" />}
      </svg>
      <span className="spark-value" aria-hidden="true">
        {last === undefined ? '—' : `${Math.round(last)}${unit}`}
      </span>
    </span>
  );
}
