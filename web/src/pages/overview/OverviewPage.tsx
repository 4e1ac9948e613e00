// The Overview: nodes, jobs running and queued, chunk throughput over the
// last hour, recent failures and anomalies, kept live by one event stream
// (topics job, chunk, node, anomaly). It must load fast: four small requests
// first, the heavier throughput and anomaly reads after the first paint,
// and no chart library (the throughput is a small SVG).
import { Card, Skeleton, Tag, Tooltip, Typography } from 'antd';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { describeError } from '../../api/client';
import {
  addAt,
  applyNodeEvent,
  bins,
  loadAnomalies,
  loadJob,
  loadOverview,
  loadThroughput,
  mergeAnomalies,
  MINUTES,
  nodeCounts,
  tsOf,
  type Anomaly,
  type ChunkEvent,
  type ChunkFailure,
  type JobEvent,
  type JobInfo,
  type NodeEvent,
  type NodeInfo,
  type OverviewData,
  type Throughput,
} from '../../api/overview';
import { useEvents, type SseEvent } from '../../api/sse';
import { ErrorView, PageHeader, useApi, when } from '../../components/common';
import { LiveIndicator } from './LiveIndicator';
import './overview.css';

/** The mark the web benchmark reads: the Overview's data is on screen. */
const READY_MARK = 'sentinel:overview-data';

// The first load starts as soon as this module is evaluated (the route is
// shown only to a logged-in user), in parallel with the shell's first
// render, instead of after the page has mounted; a mount within 10 s uses
// it, later ones load afresh.
let early: { at: number; p: Promise<OverviewData> } | undefined = { at: Date.now(), p: loadOverview() };
early.p.catch(() => {}); // a failure is shown by the mount that takes it
function takeEarly(): Promise<OverviewData> | undefined {
  const e = early;
  early = undefined;
  return e && Date.now() - e.at < 10_000 ? e.p : undefined;
}

interface Failure {
  key: string;
  kind: 'job' | 'chunk';
  jobId: string;
  title: string;
  reason: string | null;
  at: number;
}

function Stat({ id, label, value, sub, to }: { id: string; label: string; value: string; sub?: string; to?: string }) {
  const body = (
    <>
      <div className="ov-stat-label" id={`${id}-label`}>
        {label}
      </div>
      <div className="ov-stat-value" data-testid={id} aria-labelledby={`${id}-label`}>
        {value}
      </div>
      {sub && <div className="ov-stat-sub">{sub}</div>}
    </>
  );
  return <Card size="small" className="ov-stat">{to ? <Link to={to} className="ov-stat-link">{body}</Link> : body}</Card>;
}

/** Chunks per minute as 60 bars; the summary is the image's accessible name. */
export function Sparkline({ values, now }: { values: number[]; now: number }) {
  const max = Math.max(1, ...values);
  const total = values.reduce((a, b) => a + b, 0);
  const w = 600;
  const h = 80;
  const bw = w / values.length;
  const label = `Chunks completed per minute over the last hour: ${total} in all, at most ${Math.max(0, ...values)} in a minute`;
  return (
    <svg viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" className="ov-spark" role="img" aria-label={label}>
      <line x1={0} y1={h - 0.5} x2={w} y2={h - 0.5} className="ov-spark-axis" />
      {values.map((v, i) => {
        const bh = v === 0 ? 0 : Math.max(2, (v / max) * (h - 4));
        const t = new Date(now - (values.length - 1 - i) * 60000);
        return (
          <rect key={i} x={i * bw + 1} y={h - bh} width={Math.max(1, bw - 2)} height={bh} className="ov-spark-bar">
            <title>{`${t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: ${v} chunks`}</title>
          </rect>
        );
      })}
    </svg>
  );
}

const countText = (n: number, more: boolean) => (more ? `${n}+` : String(n));

function OverviewPageInner() {
  const base = useApi((s) => takeEarly() ?? loadOverview(s), []);
  const [nodes, setNodes] = useState<NodeInfo[]>();
  const [running, setRunning] = useState<Set<string>>(new Set());
  const [queued, setQueued] = useState<Set<string>>(new Set());
  const [more, setMore] = useState({ running: false, queued: false });
  const [failures, setFailures] = useState<Failure[]>([]);
  const [anomalies, setAnomalies] = useState<Anomaly[]>();
  const [anomalyError, setAnomalyError] = useState<unknown>();
  const [tp, setTp] = useState<Throughput>();
  const [tpError, setTpError] = useState<unknown>();
  const [now, setNow] = useState(() => Date.now());
  // completions seen live (per minute), and each job's last completed count
  const live = useRef(new Map<number, number>());
  const seenDone = useRef(new Map<string, number>());
  const [liveTick, setLiveTick] = useState(0);
  const marked = useRef(false);

  // The first load fills the state the events then keep up to date.
  useEffect(() => {
    const d = base.data;
    if (!d) return;
    setNodes(d.nodes);
    setRunning(new Set(d.runningJobs.map((j) => j.id)));
    setQueued(new Set(d.queuedJobs.map((j) => j.id)));
    setMore({ running: d.running.more, queued: d.queued.more });
    for (const j of d.runningJobs) if (!seenDone.current.has(j.id)) seenDone.current.set(j.id, j.chunks.completed);
    setFailures((f) => mergeFailures(f, d.failed.map(jobFailure)));
  }, [base.data]);

  useEffect(() => {
    if (base.data && !marked.current) {
      marked.current = true;
      performance.mark(READY_MARK);
    }
  }, [base.data]);

  // After the first paint: the throughput and the anomalies.
  useEffect(() => {
    if (!base.data) return undefined;
    const ac = new AbortController();
    const t = window.setTimeout(() => {
      loadThroughput(Date.now(), { signal: ac.signal }).then(
        (r) => {
          for (const [id, n] of r.baseline) seenDone.current.set(id, Math.max(n, seenDone.current.get(id) ?? 0));
          live.current.clear();
          setTp(r);
          setFailures((f) => mergeFailures(f, r.failures.map(chunkFailure)));
        },
        (e: unknown) => !ac.signal.aborted && setTpError(e),
      );
      loadAnomalies('-24h', 20, ac.signal).then(
        (a) => setAnomalies((cur) => mergeAnomalies(cur ?? [], a)),
        (e: unknown) => !ac.signal.aborted && setAnomalyError(e),
      );
    }, 0);
    return () => {
      window.clearTimeout(t);
      ac.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [base.data !== undefined]);

  // The bars move on with the clock.
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), 15000);
    return () => window.clearInterval(t);
  }, []);

  const reloadNodes = useRef<number | undefined>(undefined);
  const onEvent = useCallback(
    (e: SseEvent<unknown>) => {
      if (e.topic === 'job') {
        const j = e.data as JobEvent;
        const prev = seenDone.current.get(j.id) ?? 0;
        if (j.completed_chunks > prev) {
          addAt(live.current, Date.now(), j.completed_chunks - prev);
          setLiveTick((x) => x + 1);
        }
        seenDone.current.set(j.id, Math.max(prev, j.completed_chunks));
        setRunning((s) => toggle(s, j.id, j.state === 'running'));
        setQueued((s) => toggle(s, j.id, j.state === 'pending'));
        if (j.state === 'failed') {
          const put = (x: Failure) => setFailures((f) => mergeFailures(f, [x]));
          put({ key: `job:${j.id}`, kind: 'job', jobId: j.id, title: j.id, reason: null, at: Date.now() });
          // the event has no name nor reason: the job has them
          loadJob(j.id).then(
            (full) => put(jobFailure(full)),
            () => {},
          );
        }
      } else if (e.topic === 'chunk') {
        const c = e.data as ChunkEvent;
        if (c.state === 'failed' || c.state === 'lost') {
          const x = chunkFailure({ jobId: c.job_id, jobName: c.job_id, index: c.index, attempt: c.attempt, state: c.state, reason: c.reason, at: Date.now() });
          setFailures((f) => mergeFailures(f, [x]));
        }
      } else if (e.topic === 'node') {
        const n = e.data as NodeEvent;
        setNodes((list) => applyNodeEvent(list ?? [], n));
        // a registration or rename brings facts the event does not carry
        if (['registered', 'claimed', 'updated'].includes(n.event)) {
          window.clearTimeout(reloadNodes.current);
          reloadNodes.current = window.setTimeout(() => base.reload(), 500);
        }
      } else if (e.topic === 'anomaly') {
        const a = e.data as Anomaly;
        setAnomalies((cur) => mergeAnomalies(cur ?? [], [a]));
      } else if (e.topic === 'lagged') {
        base.reload();
      }
    },
    [base],
  );
  const status = useEvents(undefined, onEvent, { names: ['job', 'chunk', 'node', 'anomaly'] });
  useEffect(() => () => window.clearTimeout(reloadNodes.current), []);

  const values = useMemo(
    () => (tp ? bins([tp.perMinute, live.current], now) : undefined),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [tp, now, liveTick],
  );

  if (base.error && !base.data) return <ErrorView error={base.error} retry={base.reload} />;
  const nc = nodes ? nodeCounts(nodes) : undefined;
  const lastMinute = values ? values[values.length - 1]! : undefined;
  const total = values ? values.reduce((a, b) => a + b, 0) : 0;
  const perMinute = values ? total / MINUTES : undefined;
  return (
    <>
      <PageHeader title="Overview" extra={<LiveIndicator status={status} />} />
      {!base.data ? (
        <Skeleton active paragraph={{ rows: 4 }} />
      ) : (
        <>
          <section aria-label="Summary" className="ov-stats" data-testid="overview-stats">
            <Stat
              id="stat-nodes-online"
              label="Nodes online"
              value={String(nc?.online ?? 0)}
              sub={`${nc?.offline ?? 0} offline${nc?.draining ? `, ${nc.draining} draining` : ''}${nc?.pending ? `, ${nc.pending} pending` : ''}`}
              to="/nodes"
            />
            <Stat id="stat-jobs-running" label="Jobs running" value={countText(running.size, more.running)} to="/jobs?state=running" />
            <Stat id="stat-jobs-queued" label="Jobs queued" value={countText(queued.size, more.queued)} to="/jobs?state=pending" />
            <Stat
              id="stat-chunks-minute"
              label="Chunks this minute"
              value={lastMinute === undefined ? '…' : String(lastMinute)}
              sub={perMinute === undefined ? 'counting the last hour…' : `${total} in the last hour (${perMinute < 10 ? perMinute.toFixed(2) : Math.round(perMinute)}/min)`}
            />
          </section>
          <Card
            size="small"
            className="ov-card"
            title={<h2 className="ov-h2">Chunk throughput, last hour</h2>}
            extra={tp && tp.countingSince > now - 3600_000 && (
              <Tooltip title="The server counts completions in memory from its start: minutes before it read 0.">
                <Tag color="gold">
                  since {new Date(tp.countingSince).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}
                </Tag>
              </Tooltip>
            )}
          >
            {tpError ? (
              <Typography.Text type="danger">The throughput could not be read: {describeError(tpError)}</Typography.Text>
            ) : values ? (
              <>
                <Sparkline values={values} now={now} />
                <div className="ov-spark-scale">
                  <span>60 min ago</span>
                  <span>now</span>
                </div>
              </>
            ) : (
              <Skeleton.Input active block size="large" />
            )}
          </Card>
          <div className="ov-two">
            <Card size="small" className="ov-card" title={<h2 className="ov-h2">Recent failures</h2>}>
              {failures.length === 0 ? (
                <Typography.Text type="secondary">No failed jobs or chunks.</Typography.Text>
              ) : (
                <ul className="ov-list" aria-label="Recent failures">
                  {failures.slice(0, 8).map((f) => (
                    <li key={f.key}>
                      <Tag color={f.kind === 'job' ? 'red' : 'volcano'}>{f.kind === 'job' ? 'job failed' : 'chunk'}</Tag>
                      <Link to={`/jobs/${encodeURIComponent(f.jobId)}`}>{f.title}</Link>
                      {f.reason && <Typography.Text type="secondary"> — {f.reason}</Typography.Text>}
                      <div className="ov-when">{when(f.at)}</div>
                    </li>
                  ))}
                </ul>
              )}
            </Card>
            <Card size="small" className="ov-card" title={<h2 className="ov-h2">Recent anomalies</h2>}>
              {anomalyError ? (
                <Typography.Text type="danger">The anomalies could not be read: {describeError(anomalyError)}</Typography.Text>
              ) : !anomalies ? (
                <Skeleton active paragraph={{ rows: 2 }} title={false} />
              ) : anomalies.length === 0 ? (
                <Typography.Text type="secondary">No anomalies flagged in the last 24 hours.</Typography.Text>
              ) : (
                <ul className="ov-list" aria-label="Recent anomalies">
                  {anomalies.slice(0, 8).map((a) => (
                    <li key={`${a.detector}:${tsOf(a.ts)}`}>
                      <Tag color="magenta">{a.agent}</Tag>
                      score {a.score.toFixed(3)} over {a.threshold.toFixed(3)}
                      <Typography.Text type="secondary"> ({a.model ?? a.detector})</Typography.Text>
                      <div className="ov-when">{when(tsOf(a.ts))}</div>
                    </li>
                  ))}
                </ul>
              )}
            </Card>
          </div>
        </>
      )}
    </>
  );
}

function jobFailure(j: JobInfo): Failure {
  return {
    key: `job:${j.id}`,
    kind: 'job',
    jobId: j.id,
    title: j.name || j.id,
    reason: j.reason,
    at: Date.parse(j.finished_at ?? j.created_at),
  };
}

function chunkFailure(c: ChunkFailure): Failure {
  return {
    key: `chunk:${c.jobId}:${c.index}:${c.attempt}`,
    kind: 'chunk',
    jobId: c.jobId,
    title: `Chunk ${c.index} of ${c.jobName} (attempt ${c.attempt}) ${c.state}`,
    reason: c.reason && c.reason !== 'none' ? c.reason : null,
    at: c.at,
  };
}

/** Failures by key (a later copy wins), newest first. */
function mergeFailures(cur: Failure[], add: Failure[]): Failure[] {
  const m = new Map(cur.map((f) => [f.key, f]));
  for (const f of add) m.set(f.key, { ...m.get(f.key), ...f, at: m.get(f.key)?.at ?? f.at });
  return [...m.values()].sort((a, b) => b.at - a.at).slice(0, 50);
}

function toggle(s: Set<string>, id: string, on: boolean): Set<string> {
  if (s.has(id) === on) return s;
  const n = new Set(s);
  if (on) n.add(id);
  else n.delete(id);
  return n;
}

export default function OverviewPage() {
  return (
    <>
      <OverviewPageInner />
    </>
  );
}
