// The jobs list: filters (state and owner asked of the server; script and
// name among what came back), sorting, paging, and live progress from the
// `job` topic. The filters live in the URL, so a filtered list is a link.
import { PlusOutlined, ReloadOutlined } from '@ant-design/icons';
import { Button, Input, Progress, Select, Space, Table, Typography, type TableColumnsType } from 'antd';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { JOB_STATES, jobsApi, type Job, type JobEvent } from '../../api/jobs';
import { useEvents } from '../../api/sse';
import { ErrorView, PageHeader, useApi, when } from '../../components/common';
import { JobStateTag } from './JobStateTag';
import { applyJobEvent, isFinished, progressPercent } from './logic';
import './jobs.css';

export const jobWhat = (j: Job) => (j.script ? `${j.script.name}@${j.script.version}` : (j.program ?? '—'));
const scriptKey = (j: Job) => (j.script ? j.script.name : `program:${j.program ?? ''}`);

export function filterJobs(jobs: Job[], script: string, q: string): Job[] {
  const needle = q.trim().toLowerCase();
  return jobs.filter(
    (j) => (!script || scriptKey(j) === script) && (!needle || j.name.toLowerCase().includes(needle) || j.id.includes(needle)),
  );
}

function JobsPageInner() {
  const [params, setParams] = useSearchParams();
  const nav = useNavigate();
  const state = params.get('state') ?? '';
  const owner = params.get('owner') ?? '';
  const script = params.get('script') ?? '';
  const q = params.get('q') ?? '';
  const set = (k: string, v: string) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v);
    else p.delete(k);
    setParams(p, { replace: true });
  };
  const [ownerText, setOwnerText] = useState(owner);
  useEffect(() => setOwnerText(owner), [owner]);

  const loaded = useApi(() => jobsApi.list({ state: state || undefined, owner: owner || undefined }), [state, owner]);
  const [jobs, setJobs] = useState<Job[]>([]);
  useEffect(() => {
    if (loaded.data) setJobs(loaded.data);
  }, [loaded.data]);

  // A job not in the list (a new one) reloads it, at most once a second.
  const pending = useRef<ReturnType<typeof setTimeout>>();
  const reloadSoon = useCallback(() => {
    if (pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = undefined;
      loaded.reload();
    }, 1000);
  }, [loaded]);
  useEffect(() => () => clearTimeout(pending.current), []);

  const live = useEvents<JobEvent>('job', (e) => {
    if (e.topic === 'lagged') return reloadSoon();
    const ev = e.data;
    if (!ev?.id) return;
    setJobs((list) => {
      const i = list.findIndex((j) => j.id === ev.id);
      if (i < 0) {
        reloadSoon();
        return list;
      }
      if (state && ev.state !== state) reloadSoon();
      const next = list.slice();
      next[i] = applyJobEvent(list[i]!, ev);
      return next;
    });
  });

  // Events sent before the stream opened are not replayed: read the list
  // again once it is open (and after a reconnect), and every 10 s while a
  // listed job is unfinished, in case an event was lost.
  const wasOpen = useRef(false);
  const reload = loaded.reload;
  useEffect(() => {
    if (live === 'open' && !wasOpen.current) reload();
    wasOpen.current = live === 'open';
  }, [live, reload]);
  const unfinished = jobs.some((j) => !isFinished(j.state));
  useEffect(() => {
    if (!unfinished) return undefined;
    const t = setInterval(reload, 10_000);
    return () => clearInterval(t);
  }, [unfinished, reload]);

  const scripts = useMemo(() => {
    const m = new Map<string, string>();
    for (const j of jobs) m.set(scriptKey(j), j.script ? j.script.name : `${j.program} (built-in)`);
    return [...m.entries()].sort((a, b) => a[1].localeCompare(b[1])).map(([value, label]) => ({ value, label }));
  }, [jobs]);
  const shown = useMemo(() => filterJobs(jobs, script, q), [jobs, script, q]);

  const columns: TableColumnsType<Job> = [
    {
      title: 'Name',
      dataIndex: 'name',
      sorter: (a, b) => a.name.localeCompare(b.name),
      render: (_, j) => (
        <Space direction="vertical" size={0}>
          <Link to={`/jobs/${encodeURIComponent(j.id)}`}>{j.name}</Link>
          <Typography.Text type="secondary" className="mono" style={{ fontSize: 12 }}>
            {j.id}
          </Typography.Text>
        </Space>
      ),
    },
    {
      title: 'State',
      dataIndex: 'state',
      sorter: (a, b) => a.state.localeCompare(b.state),
      render: (s: string) => <JobStateTag state={s} />,
    },
    {
      title: 'Progress',
      key: 'progress',
      width: 180,
      sorter: (a, b) => progressPercent(a.chunks) - progressPercent(b.chunks),
      render: (_, j) => (
        <div>
          <Progress
            percent={progressPercent(j.chunks)}
            size="small"
            status={j.state === 'failed' ? 'exception' : j.state === 'running' ? 'active' : undefined}
            aria-label={`Progress of ${j.name}`}
          />
          <Typography.Text type="secondary" style={{ fontSize: 12 }}>
            {j.chunks.completed}/{j.chunks.total} chunks{j.chunks.failed ? `, ${j.chunks.failed} failed` : ''}
          </Typography.Text>
        </div>
      ),
    },
    { title: 'Script', key: 'what', render: (_, j) => jobWhat(j), sorter: (a, b) => jobWhat(a).localeCompare(jobWhat(b)), responsive: ['md'] },
    { title: 'Owner', dataIndex: 'owner', sorter: (a, b) => a.owner.localeCompare(b.owner), responsive: ['lg'] },
    {
      title: 'Created',
      dataIndex: 'created_at',
      defaultSortOrder: 'descend',
      sorter: (a, b) => a.created_at.localeCompare(b.created_at),
      render: (v: string) => when(v),
      responsive: ['sm'],
    },
  ];

  return (
    <>
      <PageHeader
        title="Jobs"
        sub={`${shown.length} of ${jobs.length} job${jobs.length === 1 ? '' : 's'} · live: ${live}`}
        extra={
          <>
            <Button icon={<ReloadOutlined />} onClick={loaded.reload} aria-label="Reload the jobs">
              Reload
            </Button>
            <Button type="primary" icon={<PlusOutlined />} onClick={() => nav('/jobs/new')}>
              New job
            </Button>
          </>
        }
      />
      <Space wrap style={{ marginBottom: 12 }} role="search" aria-label="Filter the jobs">
        <Input.Search
          allowClear
          placeholder="Name or id"
          aria-label="Search by name or id"
          defaultValue={q}
          onSearch={(v) => set('q', v)}
          onChange={(e) => e.target.value === '' && set('q', '')}
          style={{ width: 200 }}
        />
        <Select
          allowClear
          placeholder="Any state"
          aria-label="Filter by state"
          value={state || undefined}
          onChange={(v?: string) => set('state', v ?? '')}
          options={JOB_STATES.map((s) => ({ value: s, label: s }))}
          style={{ width: 150 }}
        />
        <Input.Search
          allowClear
          placeholder="Owner (username)"
          aria-label="Filter by owner"
          value={ownerText}
          onChange={(e) => {
            setOwnerText(e.target.value);
            if (e.target.value === '') set('owner', '');
          }}
          onSearch={(v) => set('owner', v.trim())}
          style={{ width: 190 }}
        />
        <Select
          allowClear
          showSearch
          placeholder="Any script"
          aria-label="Filter by script"
          value={script || undefined}
          onChange={(v?: string) => set('script', v ?? '')}
          options={scripts}
          style={{ width: 190 }}
        />
      </Space>
      {loaded.error !== undefined ? (
        <ErrorView error={loaded.error} retry={loaded.reload} />
      ) : (
        <Table
          rowKey="id"
          size="middle"
          loading={loaded.loading && !loaded.data}
          dataSource={shown}
          columns={columns}
          pagination={{ defaultPageSize: 20, showSizeChanger: true, pageSizeOptions: [10, 20, 50, 100], showTotal: (t) => `${t} job${t === 1 ? '' : 's'}` }}
          locale={{ emptyText: <Typography.Text type="secondary">{jobs.length ? 'No job matches the filters' : 'No jobs yet: launch one with New job'}</Typography.Text> }}
        />
      )}
    </>
  );
}

export default function JobsPage() {
  return (
    <>
      <JobsPageInner />
    </>
  );
}
