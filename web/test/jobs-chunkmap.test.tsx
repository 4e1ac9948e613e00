import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Chunk } from '../src/api/jobs';
import { ChunkMap } from '../src/pages/jobs/ChunkMap';
import { inputsText } from '../src/pages/jobs/JobPage';
import { Sparkline } from '../src/pages/nodes/Sparkline';

afterEach(cleanup);

const chunk = (index: number, state: Chunk['state'], node?: string): Chunk => ({
  id: `jb_1-${index}`,
  index,
  state,
  iterations: 1,
  seed_offset: index,
  attempts: node ? [{ attempt: 1, node_id: node, state: 'completed', reason: null, started_at: null, finished_at: null, sandbox: null }] : [],
});

describe('ChunkMap', () => {
  it('draws a named cell per chunk, grouped by node, with a legend of counts', () => {
    const chunks = [chunk(0, 'completed', 'nd_a'), chunk(1, 'completed', 'nd_b'), chunk(2, 'running', 'nd_a'), chunk(3, 'pending')];
    render(<ChunkMap chunks={chunks} names={{ nd_a: 'alpha', nd_b: 'beta' }} total={4} />);
    const alpha = screen.getByRole('list', { name: 'Chunks on node alpha' });
    expect(within(alpha).getAllByRole('listitem').map((c) => c.getAttribute('aria-label'))).toEqual([
      'Chunk 0: completed on alpha, attempt 1',
      'Chunk 2: running on alpha, attempt 1',
    ]);
    expect(within(screen.getByRole('list', { name: 'Chunks on node beta' })).getAllByRole('listitem')).toHaveLength(1);
    const waiting = screen.getByRole('list', { name: 'Chunks not assigned yet' });
    expect(within(waiting).getByRole('listitem').getAttribute('title')).toBe('Chunk 3: pending');
    const legend = screen.getByRole('list', { name: 'Chunk states' });
    const item = (s: string) => legend.querySelector(`li[data-state="${s}"]`)?.textContent;
    expect(item('completed')).toBe('completed 2');
    expect(item('running')).toBe('running 1');
    expect(item('pending')).toBe('pending 1');
    expect(item('failed')).toBe('failed 0');
    expect(screen.queryByText(/Showing the first/)).toBeNull();
  });

  it('says when only part of a big job is drawn', () => {
    render(<ChunkMap chunks={[chunk(0, 'pending')]} names={{}} total={20000} />);
    expect(screen.getByText('Showing the first 1 of 20,000 chunks.')).toBeTruthy();
  });
});

describe('Sparkline', () => {
  it('names its last value, or says there is none', () => {
    const { container } = render(<Sparkline points={[[0, 10], [1, 42.25]]} label="CPU of a" lo={0} hi={100} unit="%" />);
    expect(screen.getByRole('img', { name: 'CPU of a: 42.3% now, 2 points' })).toBeTruthy();
    expect(container.querySelector('path')?.getAttribute('d')).toMatch(/^M1 [\d.]+L95 [\d.]+$/);
    cleanup();
    render(<Sparkline points={[]} label="Memory of b" />);
    expect(screen.getByRole('img', { name: 'Memory of b: no figures yet' })).toBeTruthy();
  });
});

describe('job inputs', () => {
  it('reads as name@version, local data by its kind', () => {
    expect(inputsText([{ name: 'iris', version: 3, kind: 'file' }, { name: 'disk', version: null, kind: 'local' }])).toBe('iris@3, disk (local)');
  });
});
