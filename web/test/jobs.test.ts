import { describe, expect, it } from 'vitest';
import type { Chunk, Job } from '../src/api/jobs';
import {
  applyJobEvent,
  buildSubmit,
  chunkCount,
  chunkLabel,
  countStates,
  formatLogLine,
  formatPlainLine,
  groupChunks,
  LogBatcher,
  parseConfig,
  parseEnv,
  progressPercent,
  ReplayFilter,
  splitLog,
  WIZARD_DEFAULTS,
} from '../src/pages/jobs/logic';
import { filterJobs } from '../src/pages/jobs/JobsPage';

const chunk = (index: number, state: Chunk['state'], node?: string, attempts = 1): Chunk => ({
  id: `jb_1-${index}`,
  index,
  state,
  iterations: 10,
  seed_offset: index * 10,
  attempts: node
    ? Array.from({ length: attempts }, (_, i) => ({
        attempt: i + 1,
        node_id: i === attempts - 1 ? node : 'nd_old',
        state: i === attempts - 1 ? (state === 'completed' ? 'completed' : 'running') : 'lost',
        reason: i === attempts - 1 ? null : 'lost_node',
        started_at: null,
        finished_at: null,
        sandbox: null,
      }))
    : [],
});

describe('chunk map', () => {
  const chunks = [chunk(3, 'completed', 'nd_b'), chunk(0, 'completed', 'nd_a'), chunk(1, 'running', 'nd_b', 2), chunk(2, 'pending'), chunk(4, 'failed', 'nd_a')];
  it('groups chunks by the node of their last attempt, by node name, unassigned last', () => {
    const g = groupChunks(chunks, { nd_a: 'zeta', nd_b: 'alpha' });
    expect(g.map((x) => x.label)).toEqual(['alpha', 'zeta', 'Not assigned yet']);
    expect(g[0]!.chunks.map((c) => c.index)).toEqual([1, 3]);
    expect(g[1]!.chunks.map((c) => c.index)).toEqual([0, 4]);
    expect(g[1]!.counts).toEqual({ pending: 0, running: 0, completed: 1, failed: 1, cancelled: 0 });
    expect(g[2]!.nodeId).toBe('');
    // a node the caller cannot see is named by its id
    expect(groupChunks(chunks).map((x) => x.label)).toEqual(['nd_a', 'nd_b', 'Not assigned yet']);
  });
  it('counts states for the legend', () => {
    expect(countStates(chunks)).toEqual({ pending: 1, running: 1, completed: 2, failed: 1, cancelled: 0 });
  });
  it('names each cell in words', () => {
    expect(chunkLabel(chunks[1]!, { nd_a: 'zeta' })).toBe('Chunk 0: completed on zeta, attempt 1');
    expect(chunkLabel(chunks[3]!)).toBe('Chunk 2: pending');
    const failed = chunk(7, 'failed', 'nd_a');
    failed.attempts[0]!.reason = 'memory';
    expect(chunkLabel(failed)).toBe('Chunk 7: failed on nd_a, attempt 1 (memory)');
  });
});

describe('progress', () => {
  it('is the whole percent of completed chunks', () => {
    expect(progressPercent({ completed: 0, total: 0 })).toBe(0);
    expect(progressPercent({ completed: 1, total: 3 })).toBe(33);
    expect(progressPercent({ completed: 2, total: 3 })).toBe(66);
    expect(progressPercent({ completed: 4, total: 4 })).toBe(100);
  });
  it('takes a job event', () => {
    const j = { id: 'j', state: 'running', chunks: { pending: 4, running: 0, completed: 0, failed: 0, cancelled: 0, total: 4 } } as Job;
    const k = applyJobEvent(j, { state: 'completed', total_chunks: 4, chunks: { pending: 0, running: 0, completed: 4, failed: 0, cancelled: 0 } });
    expect(k.state).toBe('completed');
    expect(k.chunks).toEqual({ pending: 0, running: 0, completed: 4, failed: 0, cancelled: 0, total: 4 });
    expect(j.state).toBe('running');
  });
});

describe('log lines', () => {
  it('formats followed lines as the plain log does, coloured', () => {
    expect(formatLogLine({ chunk: 2, attempt: 1, stream: 1, text: 'hello' })).toBe('\x1b[90m[2#1]\x1b[0m hello');
    expect(formatLogLine({ chunk: 2, attempt: 1, stream: 2, text: 'oops' })).toBe('\x1b[90m[2#1]\x1b[0m \x1b[31moops\x1b[0m');
    expect(formatLogLine({ chunk: 0, attempt: 3, stream: 1, text: 'sentinel: attempt failed' })).toContain('\x1b[33msentinel:');
    expect(formatPlainLine('[0#1] hi there')).toBe('\x1b[90m[0#1]\x1b[0m hi there');
    expect(formatPlainLine('no prefix')).toBe('no prefix');
    expect(splitLog('a\nb\n')).toEqual(['a', 'b']);
    expect(splitLog('')).toEqual([]);
  });
});

describe('LogBatcher', () => {
  // A hand-driven animation frame clock.
  const frames = () => {
    let q: (() => void)[] = [];
    return {
      raf: (fn: () => void) => q.push(fn),
      caf: () => {},
      tick() {
        const now = q;
        q = [];
        now.forEach((f) => f());
        return now.length;
      },
      size: () => q.length,
    };
  };

  it('writes 100,000 lines in a few frame-sized batches, never one write per line', () => {
    const f = frames();
    const counts: number[] = [];
    const b = new LogBatcher(f.raf, f.caf, 256 * 1024, (n) => counts.push(n));
    const out: string[] = [];
    b.attach({ write: (d, done) => (out.push(d), done()) });
    const lines = Array.from({ length: 100_000 }, (_, i) => `[${i % 40}#1] line ${i} of the log, some text to make it longer`);
    for (let i = 0; i < lines.length; i += 1000) b.push(...lines.slice(i, i + 1000));
    expect(out).toHaveLength(0); // nothing before a frame
    let ticks = 0;
    while (f.size() && ticks < 1000) {
      f.tick();
      ticks++;
    }
    expect(b.pending()).toBe(0);
    expect(b.lines).toBe(100_000);
    // one write per frame, each at most 256 KiB (+ its last line)
    expect(out.length).toBe(ticks);
    expect(out.length).toBeLessThan(40);
    for (const w of out) expect(w.length).toBeLessThanOrEqual(256 * 1024 + 200);
    expect(out.join('')).toBe(lines.join('\r\n') + '\r\n');
    // the line count is reported once per frame, not once per line
    expect(counts.length).toBe(ticks);
    expect(counts[counts.length - 1]).toBe(100_000);
  });

  it('waits for the terminal to take a batch before the next, and holds lines until attached', () => {
    const f = frames();
    const b = new LogBatcher(f.raf, f.caf, 12);
    b.push('aaaa', 'bbbb', 'cccc');
    expect(f.size()).toBe(0); // no sink yet
    let done: (() => void) | undefined;
    const out: string[] = [];
    b.attach({ write: (d, cb) => (out.push(d), (done = cb)) });
    f.tick();
    expect(out).toEqual(['aaaa\r\nbbbb\r\n']);
    expect(f.size()).toBe(0); // busy: the terminal has not taken it in
    done!();
    f.tick();
    expect(out).toEqual(['aaaa\r\nbbbb\r\n', 'cccc\r\n']);
    b.dispose();
    b.push('dddd');
    expect(f.size()).toBe(0);
  });

  it('skips the lines a reopened follow stream sends again', () => {
    const r = new ReplayFilter();
    r.reopen();
    expect([r.take(), r.take(), r.take()]).toEqual([true, true, true]);
    r.reopen(); // the server replays from the start
    expect([r.take(), r.take(), r.take(), r.take(), r.take()]).toEqual([false, false, false, true, true]);
  });
});

describe('the wizard', () => {
  it('reads the environment and the config, refusing in words', () => {
    expect(parseEnv('A=1\n\n# note\nB_2 = x=y')).toEqual({ A: '1', B_2: ' x=y' });
    expect(() => parseEnv('no equals')).toThrow(/line 1/);
    expect(() => parseEnv('OK=1\nSENTINEL_SEED=3')).toThrow(/line 2: SENTINEL_ variables are reserved/);
    expect(parseConfig('  ')).toBeNull();
    expect(parseConfig('{"a":1}')).toEqual({ a: 1 });
    expect(() => parseConfig('[1]')).toThrow(/JSON object/);
    expect(() => parseConfig('{a')).toThrow(/not JSON/);
  });
  it('counts chunks as the server does', () => {
    expect(chunkCount(null, 1000)).toBe(1);
    expect(chunkCount(40, 10)).toBe(4);
    expect(chunkCount(41, 10)).toBe(5);
    expect(chunkCount(5_000_000, 1)).toBe(5_000_000);
  });
  it('builds the submit body of a script job', () => {
    const body = buildSubmit({
      ...WIZARD_DEFAULTS,
      script: 'pi.py',
      version: 2,
      name: ' pi ',
      total_iterations: 40,
      chunk_size: 10,
      args: ['--fast', ''],
      env: 'MODE=x',
      inputs: [{ dataset: 'iris', version: 3 }, { dataset: 'big', version: 'latest' }, { dataset: 'disk', version: 'local' }, {}],
      config: '{"k":1}',
      access: 'shared',
      users: ['bob'],
      groups: ['ml'],
    });
    expect(body).toEqual({
      name: 'pi',
      script: 'pi.py@2',
      runtime: 'host',
      limits: { time_s: 3600, memory_mb: 2048, cpus: 1, gpus: 0, network: 'none' },
      chunk_size: 10,
      max_attempts: 3,
      priority: 0,
      args: ['--fast'],
      env: { MODE: 'x' },
      total_iterations: 40,
      inputs: ['iris@3', 'big', 'disk@local'],
      config: { k: 1 },
      access: { users: ['bob'], groups: ['ml'] },
    });
  });
  it('builds a program job with the latest defaults', () => {
    const body = buildSubmit({ ...WIZARD_DEFAULTS, kind: 'program', program: 'montecarlo-pi', script: 'ignored' });
    expect(body.program).toBe('montecarlo-pi');
    expect(body.script).toBeUndefined();
    expect(body.runtime).toBeUndefined();
    expect(body.name).toBe('montecarlo-pi');
    expect(body.access).toBe('private');
    expect(body.total_iterations).toBeUndefined();
  });
});

describe('the jobs list filters', () => {
  const job = (id: string, name: string, script: string | null, program: string | null = null) =>
    ({ id, name, script: script ? { name: script, version: 1, sha256: '', filename: script } : null, program }) as Job;
  const jobs = [job('jb_1', 'Pi run', 'pi.py'), job('jb_2', 'other', 'train.py'), job('jb_3', 'sleepy', null, 'sleep')];
  it('filters by script and by a name or id substring', () => {
    expect(filterJobs(jobs, 'pi.py', '').map((j) => j.id)).toEqual(['jb_1']);
    expect(filterJobs(jobs, 'program:sleep', '').map((j) => j.id)).toEqual(['jb_3']);
    expect(filterJobs(jobs, '', 'PI').map((j) => j.id)).toEqual(['jb_1']);
    expect(filterJobs(jobs, '', 'jb_2').map((j) => j.id)).toEqual(['jb_2']);
    expect(filterJobs(jobs, '', '')).toHaveLength(3);
  });
});
