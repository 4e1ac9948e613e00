// One job: progress, the chunk map, the live output, the merged result,
// the artifacts, and cancel / retry. Live through the `job` topic; the
// chunks are read again (at most every 1.5 s) while the job moves.
import { DownloadOutlined, RedoOutlined, StopOutlined } from '@ant-design/icons';
import { Alert, Button, Card, Descriptions, Empty, Popconfirm, Progress, Skeleton, Table, Tag, Typography } from 'antd';
import { startTransition, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { allPages } from '../../api/client';
import { blobUrl, jobsApi, type Artifact, type Chunk, type Job, type JobEvent, type Stat } from '../../api/jobs';
import { useEvents } from '../../api/sse';
import { bytes, ErrorView, PageHeader, useApi, useNotify, when } from '../../components/common';
import { ChunkMap } from './ChunkMap';
import { JobStateTag } from './JobStateTag';
import { LogTerminal } from './LogTerminal';
import { applyJobEvent, isFinished, progressPercent } from './logic';
import './jobs.css';

const fmt = (v: number | null | undefined) =>
  v === null || v === undefined ? '—' : Math.abs(v) >= 1e6 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(4) : Number(v.toFixed(6)).toString();

/** A job's inputs as they were resolved at submit ({name, version, kind}). */
export function inputsText(inputs: unknown[]): string {
  return inputs
    .map((i) => {
      if (typeof i === 'string') return i;
      const x = i as { name?: string; version?: number | null; kind?: string };
      return x.kind === 'local' || x.version === null || x.version === undefined ? `${x.name} (${x.kind ?? 'local'})` : `${x.name}@${x.version}`;
    })
    .join(', ');
}

function StatsTable({ stats }: { stats: Record<string, Stat> }) {
  const rows = Object.entries(stats).map(([name, s]) => ({ name, ...s }));
  return (
    <Table
      size="small"
      rowKey="name"
      pagination={false}
      dataSource={rows}
      aria-label="Result statistics"
      columns={[
        { title: 'Statistic', dataIndex: 'name', sorter: (a, b) => a.name.localeCompare(b.name) },
        { title: 'n', dataIndex: 'n', align: 'right', render: (v: number) => v.toLocaleString() },
        { title: 'Mean', dataIndex: 'mean', align: 'right', render: fmt },
        { title: 'Std', dataIndex: 'std', align: 'right', render: fmt },
        { title: 'Min', dataIndex: 'min', align: 'right', render: fmt },
        { title: 'Max', dataIndex: 'max', align: 'right', render: fmt },
      ]}
    />
  );
}

function JobPageInner() {
  const { id = '' } = useParams();
  const notify = useNotify();
  const loaded = useApi((s) => jobsApi.get(id, s), [id]);
  const [job, setJob] = useState<Job>();
  const [chunks, setChunks] = useState<Chunk[]>();
  const [chunkError, setChunkError] = useState<unknown>();
  const [artifacts, setArtifacts] = useState<Artifact[]>();
  const [names, setNames] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState<'cancel' | 'retry'>();
  // Follow the log when the job was not finished at first sight.
  const [follow, setFollow] = useState<boolean>();

  useEffect(() => {
    const d = loaded.data;
    // The first job renders the whole page: a transition, in slices.
    if (d)
      startTransition(() => {
        setJob(d);
        setFollow((f) => (f === undefined ? !isFinished(d.state) : f));
      });
  }, [loaded.data]);

  const loadChunks = useCallback(() => {
    jobsApi.chunks(id).then(
      (c) => {
        setChunks(c);
        setChunkError(undefined);
      },
      (e: unknown) => setChunkError(e),
    );
  }, [id]);
  const loadArtifacts = useCallback(() => {
    jobsApi.artifacts(id).then(setArtifacts, () => setArtifacts([]));
  }, [id]);

  useEffect(() => {
    loadChunks();
    loadArtifacts();
    allPages<{ id: string; name: string }>('/api/v1/nodes', { limit: 1000 }, 2).then(
      (ns) => setNames(Object.fromEntries(ns.map((n) => [n.id, n.name]))),
      () => {},
    );
  }, [loadChunks, loadArtifacts]);

  // Chunk refreshes are throttled: at most one read per 1.5 s while events come.
  const timer = useRef<ReturnType<typeof setTimeout>>();
  const lastRead = useRef(0);
  const jobSize = useRef(0);
  jobSize.current = job?.chunks.total ?? 0;
  const refreshChunks = useCallback(() => {
    if (timer.current) return;
    // A big job's chunk list is many pages: read it less often (up to every 15 s).
    const every = Math.min(15_000, 1500 + (jobSize.current / 1000) * 500);
    const wait = Math.max(0, every - (Date.now() - lastRead.current));
    timer.current = setTimeout(() => {
      timer.current = undefined;
      lastRead.current = Date.now();
      loadChunks();
    }, wait);
  }, [loadChunks]);
  useEffect(() => () => clearTimeout(timer.current), []);

  const live = useEvents<JobEvent>('job', (e) => {
    if (e.topic === 'lagged') {
      loaded.reload();
      refreshChunks();
      return;
    }
    if (e.data?.id !== id) return;
    setJob((j) => (j ? applyJobEvent(j, e.data) : j));
    refreshChunks();
    if (isFinished(e.data.state)) {
      // The merged result, finish time and artifacts come with the full job.
      loaded.reload();
      loadArtifacts();
    }
  });

  // Events sent before the stream opened are not replayed: read the job
  // and its chunks again once it is open (and after a reconnect).
  const wasOpen = useRef(false);
  const reloadJob = loaded.reload;
  useEffect(() => {
    if (live === 'open' && !wasOpen.current) {
      reloadJob();
      refreshChunks();
    }
    wasOpen.current = live === 'open';
  }, [live, reloadJob, refreshChunks]);

  const act = async (what: 'cancel' | 'retry') => {
    setBusy(what);
    try {
      const j = what === 'cancel' ? await jobsApi.cancel(id) : await jobsApi.retry(id);
      if (j && typeof j === 'object' && 'id' in j) setJob(j);
      notify.ok(what === 'cancel' ? `Job ${job?.name ?? id} cancelled` : `Job ${job?.name ?? id}: failed chunks run again`);
      if (what === 'retry') setFollow(true);
      loaded.reload();
      loadChunks();
    } catch (e) {
      notify.fail(e, what === 'cancel' ? 'Cancelling the job failed' : 'Retrying the job failed');
    } finally {
      setBusy(undefined);
    }
  };

  const artifactColumns = useMemo(
    () => [
      { title: 'Chunk', dataIndex: 'chunk', width: 80, sorter: (a: Artifact, b: Artifact) => a.chunk - b.chunk },
      { title: 'Path', dataIndex: 'path', sorter: (a: Artifact, b: Artifact) => a.path.localeCompare(b.path) },
      { title: 'Size', dataIndex: 'bytes', align: 'right' as const, render: (v: number) => bytes(v), sorter: (a: Artifact, b: Artifact) => a.bytes - b.bytes },
      {
        title: 'Download',
        key: 'dl',
        render: (_: unknown, a: Artifact) => (
          <Button
            size="small"
            icon={<DownloadOutlined />}
            href={blobUrl(a.sha256)}
            download={a.path.split('/').pop()}
            aria-label={`Download ${a.path} of chunk ${a.chunk}`}
          >
            Download
          </Button>
        ),
      },
    ],
    [],
  );

  if (loaded.error && !job) return <ErrorView error={loaded.error} retry={loaded.reload} />;
  if (!job) return <Skeleton active />;

  const finished = isFinished(job.state);
  const pct = progressPercent(job.chunks);
  const canRetry = job.chunks.failed + job.chunks.cancelled > 0 && (finished || job.chunks.failed > 0);
  const stats = job.result?.stats ?? {};
  const outputs = job.result?.outputs ?? [];

  return (
    <>
      <PageHeader
        title={job.name}
        sub={
          <span>
            <span className="mono">{job.id}</span> · live: {live}
          </span>
        }
        extra={
          <>
            <JobStateTag state={job.state} />
            {!finished && (
              <Popconfirm
                title="Cancel this job?"
                description="Running chunks are stopped; pending ones never start."
                okText="Cancel job"
                cancelText="Keep running"
                okButtonProps={{ danger: true }}
                onConfirm={() => void act('cancel')}
              >
                <Button danger icon={<StopOutlined />} loading={busy === 'cancel'}>
                  Cancel
                </Button>
              </Popconfirm>
            )}
            {canRetry && (
              <Popconfirm
                title="Retry the failed chunks?"
                description={`${job.chunks.failed + job.chunks.cancelled} failed or cancelled chunks run again.`}
                okText="Retry"
                cancelText="Not now"
                onConfirm={() => void act('retry')}
              >
                <Button icon={<RedoOutlined />} loading={busy === 'retry'}>
                  Retry
                </Button>
              </Popconfirm>
            )}
          </>
        }
      />
      <div className="job-grid">
        {job.reason && <Alert type={job.state === 'failed' ? 'error' : 'warning'} showIcon message={job.reason} />}
        <Card size="small">
          <Progress
            percent={pct}
            status={job.state === 'failed' ? 'exception' : job.state === 'completed' ? 'success' : finished ? 'normal' : 'active'}
            aria-label="Job progress"
            format={(p) => `${p}%`}
          />
          <Typography.Text type="secondary" data-testid="chunk-progress">
            {job.chunks.completed.toLocaleString()} of {job.chunks.total.toLocaleString()} chunks completed
            {job.total_iterations ? ` · ${job.completed_iterations.toLocaleString()} of ${job.total_iterations.toLocaleString()} iterations` : ''}
            {job.chunks.running ? ` · ${job.chunks.running} running` : ''}
            {job.chunks.failed ? ` · ${job.chunks.failed} failed` : ''}
          </Typography.Text>
          <Descriptions
            size="small"
            column={{ xs: 1, sm: 2, lg: 3 }}
            style={{ marginTop: 12 }}
            items={[
              {
                key: 'what',
                label: job.script ? 'Script' : 'Program',
                children: job.script ? (
                  <Link to={`/scripts/${encodeURIComponent(job.script.name)}`}>
                    {job.script.name} v{job.script.version}
                  </Link>
                ) : (
                  job.program
                ),
              },
              { key: 'runtime', label: 'Runtime', children: job.runtime },
              ...(job.inputs?.length
                ? [{ key: 'inputs', label: 'Inputs', children: inputsText(job.inputs) }]
                : []),
              ...(job.args?.length ? [{ key: 'args', label: 'Arguments', children: <span className="mono">{job.args.join(' ')}</span> }] : []),
              { key: 'owner', label: 'Owner', children: job.owner },
              { key: 'created', label: 'Created', children: when(job.created_at) },
              { key: 'started', label: 'Started', children: when(job.started_at) },
              { key: 'finished', label: 'Finished', children: when(job.finished_at) },
              {
                key: 'limits',
                label: 'Limits',
                children: `${job.limits.time_s} s · ${job.limits.memory_mb} MB · ${job.limits.cpus} CPU · ${job.limits.gpus} GPU · network ${job.limits.network}`,
              },
              { key: 'chunking', label: 'Chunking', children: `${job.chunk_size} iteration${job.chunk_size === 1 ? '' : 's'} a chunk · ${job.max_attempts} attempt${job.max_attempts === 1 ? '' : 's'}` },
              {
                key: 'access',
                label: 'Access',
                children: typeof job.access === 'string' ? job.access : `users ${(job.access.users ?? []).join(', ') || '—'}; groups ${(job.access.groups ?? []).join(', ') || '—'}`,
              },
            ]}
          />
        </Card>
        <Card size="small">
          {chunkError !== undefined && !chunks && <ErrorView error={chunkError} retry={loadChunks} />}
          {chunks ? <ChunkMap chunks={chunks} names={names} total={job.chunks.total} /> : chunkError === undefined && <Skeleton active />}
        </Card>
        <Card size="small">{follow !== undefined && <LogTerminal key={`${id}:${follow}`} jobId={id} follow={follow} />}</Card>
        <Card size="small">
          <section aria-labelledby="result-title">
            <Typography.Title level={2} id="result-title" style={{ fontSize: 16 }}>
              Result
            </Typography.Title>
            {Object.keys(stats).length ? (
              <StatsTable stats={stats} />
            ) : (
              <Empty description={finished ? 'This job reported no statistics' : 'Statistics appear as chunks complete'} />
            )}
            {outputs.length > 0 && (
              <details style={{ marginTop: 12 }}>
                <summary>Outputs of {outputs.length} chunks</summary>
                <pre className="review-json">{JSON.stringify(outputs.slice(0, 100), null, 2)}</pre>
              </details>
            )}
          </section>
        </Card>
        <Card size="small">
          <section aria-labelledby="artifacts-title">
            <Typography.Title level={2} id="artifacts-title" style={{ fontSize: 16 }}>
              Artifacts <Tag>{artifacts?.length ?? 0}</Tag>
            </Typography.Title>
            <Table
              size="small"
              rowKey={(a) => `${a.chunk}:${a.path}`}
              loading={!artifacts}
              dataSource={artifacts ?? []}
              columns={artifactColumns}
              pagination={{ pageSize: 20, hideOnSinglePage: true }}
              locale={{ emptyText: <Typography.Text type="secondary">No artifacts</Typography.Text> }}
            />
          </section>
        </Card>
      </div>
    </>
  );
}

export default function JobPage() {
  return (
    <>
      <JobPageInner />
    </>
  );
}
