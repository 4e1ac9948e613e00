// The chunk map: one small cell per chunk, coloured by its state, grouped
// by the node that ran it; every cell is named for screen readers and
// hovering, and a legend counts the states.
import { Typography } from 'antd';
import { memo } from 'react';
import type { Chunk } from '../../api/jobs';
import { CHUNK_STATES } from '../../api/jobs';
import { CHUNK_COLORS, chunkLabel, countStates, groupChunks } from './logic';

export const ChunkMap = memo(function ChunkMap({ chunks, names, total }: { chunks: Chunk[]; names: Record<string, string>; total: number }) {
  const groups = groupChunks(chunks, names);
  const counts = countStates(chunks);
  return (
    <section aria-labelledby="chunk-map-title" className="chunk-map">
      <Typography.Title level={2} id="chunk-map-title" style={{ fontSize: 16 }}>
        Chunks
      </Typography.Title>
      <ul className="chunk-legend" aria-label="Chunk states">
        {CHUNK_STATES.map((s) => (
          <li key={s} data-state={s}>
            <span className="chunk-swatch" style={{ background: CHUNK_COLORS[s] }} aria-hidden="true" />
            {s} <strong>{counts[s]}</strong>
          </li>
        ))}
      </ul>
      {chunks.length < total && (
        <Typography.Text type="secondary">
          Showing the first {chunks.length.toLocaleString()} of {total.toLocaleString()} chunks.
        </Typography.Text>
      )}
      {groups.map((g) => (
        <div key={g.nodeId || 'none'} className="chunk-group">
          <Typography.Text className="chunk-group-label">
            {g.nodeId ? `Node ${g.label}` : g.label} · {g.chunks.length} chunk{g.chunks.length === 1 ? '' : 's'}
            {g.counts.completed ? ` · ${g.counts.completed} completed` : ''}
          </Typography.Text>
          <div className="chunk-cells" role="list" aria-label={g.nodeId ? `Chunks on node ${g.label}` : 'Chunks not assigned yet'}>
            {g.chunks.map((c) => {
              const label = chunkLabel(c, names);
              return (
                <span
                  key={c.index}
                  role="listitem"
                  className="chunk-cell"
                  data-state={c.state}
                  title={label}
                  aria-label={label}
                  style={{ background: CHUNK_COLORS[c.state] }}
                />
              );
            })}
          </div>
        </div>
      ))}
    </section>
  );
});
