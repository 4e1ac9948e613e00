// Monitoring: the agents (status, last values, tags), a chart of one metric
// (agent, range, aggregation, step, grouping) with the detectors' anomalies
// marked on it, the agent's LLM cost and latency summary, and an export of
// the raw samples with the same filters.
import { DownloadOutlined, ReloadOutlined } from '@ant-design/icons';
import { Button, Card, Col, DatePicker, Form, Row, Select, Statistic, Switch, Table, Tag, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import dayjs, { type Dayjs } from 'dayjs';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import {
  AGGREGATIONS,
  PRESETS,
  STEPS,
  formatDuration,
  metricsApi,
  resolveRange,
  seriesLabel,
  type Agent,
  type Agg,
  type AnomalyEvent,
  type Figures,
  type RangeSpec,
} from '../../api/metrics';
import { modelsApi } from '../../api/models';
import { useEvents } from '../../api/sse';
import { compact, marksInRange, type Mark } from '../../components/charts/align';
import { TimeChart } from '../../components/charts/TimeChart';
import { ErrorView, PageHeader, useApi, when } from '../../components/common';
import './monitoring.css';

type RangeKey = (typeof PRESETS)[number]['key'] | 'custom';
const GROUP_KEYS = ['model', 'status', 'agent', 'gpu', 'detector'];

interface AnomalyRow {
  ts: number;
  detector: string;
  model: string;
  score: number;
  threshold: number;
}

const anomalyColumns: ColumnsType<AnomalyRow> = [
  { title: 'Time', dataIndex: 'ts', render: (t: number) => when(t), sorter: (a, b) => a.ts - b.ts, defaultSortOrder: 'descend' },
  { title: 'Detector', dataIndex: 'detector', render: (d: string) => <span className="mono">{d}</span>, responsive: ['md'] },
  { title: 'Model', dataIndex: 'model', responsive: ['sm'] },
  { title: 'Score', dataIndex: 'score', render: (v: number) => compact(v, 4), sorter: (a, b) => a.score - b.score },
  { title: 'Threshold', dataIndex: 'threshold', render: (v: number) => compact(v, 4), responsive: ['sm'] },
];

function lastValues(a: Agent) {
  const entries = Object.entries(a.metrics).sort(([x], [y]) => x.localeCompare(y));
  const shown = entries.slice(0, 4);
  return (
    <span className="mono">
      {shown.map(([m, v]) => (
        <div key={m}>
          {m} = {compact(v.value, 4)}
        </div>
      ))}
      {entries.length > shown.length && <Typography.Text className="muted">+{entries.length - shown.length} more</Typography.Text>}
    </span>
  );
}

function AgentsTable({ agents, loading, selected, onSelect }: { agents: Agent[]; loading: boolean; selected?: string; onSelect: (name: string) => void }) {
  const columns: ColumnsType<Agent> = [
    {
      title: 'Agent',
      dataIndex: 'name',
      sorter: (a, b) => a.name.localeCompare(b.name),
      defaultSortOrder: 'ascend',
      render: (name: string) => (
        <Button type="link" size="small" onClick={() => onSelect(name)} aria-pressed={name === selected} style={{ padding: 0 }}>
          {name}
        </Button>
      ),
    },
    {
      title: 'Status',
      dataIndex: 'status',
      filters: [
        { text: 'online', value: 'online' },
        { text: 'offline', value: 'offline' },
      ],
      onFilter: (v, a) => a.status === v,
      sorter: (a, b) => a.status.localeCompare(b.status),
      render: (s: Agent['status']) => <Tag color={s === 'online' ? 'green' : 'default'}>{s}</Tag>,
    },
    { title: 'Last seen', dataIndex: 'last_seen', sorter: (a, b) => a.last_seen.localeCompare(b.last_seen), render: when, responsive: ['md'] },
    { title: 'Last values', key: 'values', render: (_, a) => lastValues(a) },
    {
      title: 'Tags',
      dataIndex: 'tags',
      responsive: ['lg'],
      render: (t: Agent['tags']) =>
        Object.keys(t).length ? Object.entries(t).map(([k, v]) => <Tag key={k}>{`${k}=${v}`}</Tag>) : <Typography.Text className="muted">none</Typography.Text>,
    },
    { title: 'Owner', dataIndex: 'owner', sorter: (a, b) => a.owner.localeCompare(b.owner), responsive: ['lg'] },
  ];
  return (
    <Table<Agent>
      rowKey="name"
      size="small"
      loading={loading}
      columns={columns}
      dataSource={agents}
      pagination={{ pageSize: 10, hideOnSinglePage: true }}
      rowClassName={(a) => (a.name === selected ? 'mon-row-selected' : '')}
      aria-label="Agents"
    />
  );
}

const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
const ms = (v: number | null) => (v === null ? '—' : `${compact(v, 4)} ms`);
const usd = (v: number) => `$${v.toFixed(v !== 0 && Math.abs(v) < 0.01 ? 6 : 4)}`;

function SummaryView({ agent, from, to, tick }: { agent: string; from: number; to: number; tick: number }) {
  const s = useApi((signal) => metricsApi.summary(agent, from, to, signal), [agent, from, to, tick]);
  if (s.error) return <ErrorView error={s.error} retry={s.reload} />;
  const d = s.data;
  if (!d) return <Card loading title="LLM calls" />;
  const cards: [string, string][] = [
    ['Calls', String(d.calls)],
    ['Error rate', pct(d.error_rate)],
    ['Latency p50', ms(d.latency_ms.p50)],
    ['Latency p95', ms(d.latency_ms.p95)],
    ['Latency p99', ms(d.latency_ms.p99)],
    ['Tokens in', String(d.tokens_in)],
    ['Tokens out', String(d.tokens_out)],
    ['Cost', usd(d.cost_usd)],
  ];
  type Row = Figures & { model: string };
  const columns: ColumnsType<Row> = [
    { title: 'Model', dataIndex: 'model', sorter: (a, b) => a.model.localeCompare(b.model) },
    { title: 'Calls', dataIndex: 'calls', sorter: (a, b) => a.calls - b.calls, defaultSortOrder: 'descend' },
    { title: 'Error rate', dataIndex: 'error_rate', render: pct, sorter: (a, b) => a.error_rate - b.error_rate },
    { title: 'p50', key: 'p50', render: (_, r) => ms(r.latency_ms.p50), responsive: ['md'] },
    { title: 'p95', key: 'p95', render: (_, r) => ms(r.latency_ms.p95), sorter: (a, b) => (a.latency_ms.p95 ?? 0) - (b.latency_ms.p95 ?? 0) },
    { title: 'p99', key: 'p99', render: (_, r) => ms(r.latency_ms.p99), responsive: ['md'] },
    { title: 'Tokens in', dataIndex: 'tokens_in', sorter: (a, b) => a.tokens_in - b.tokens_in, responsive: ['lg'] },
    { title: 'Tokens out', dataIndex: 'tokens_out', sorter: (a, b) => a.tokens_out - b.tokens_out, responsive: ['lg'] },
    { title: 'Cost', dataIndex: 'cost_usd', render: usd, sorter: (a, b) => a.cost_usd - b.cost_usd },
  ];
  return (
    <Card title={`LLM calls of ${agent}`} size="small" loading={s.loading && !d}>
      {d.calls === 0 ? (
        <Typography.Text className="muted">No LLM calls in this range.</Typography.Text>
      ) : (
        <>
          <Row gutter={[12, 12]} aria-label="Summary">
            {cards.map(([t, v]) => (
              <Col key={t} xs={12} sm={8} md={6} xl={3}>
                <Card size="small" className="stat-card">
                  <Statistic title={t} value={v} />
                </Card>
              </Col>
            ))}
          </Row>
          <Table<Row>
            style={{ marginTop: 12 }}
            rowKey="model"
            size="small"
            columns={columns}
            dataSource={d.by_model}
            pagination={{ pageSize: 10, hideOnSinglePage: true }}
            aria-label="Calls by model"
          />
        </>
      )}
    </Card>
  );
}

export default function MonitoringPage() {
  const [params, setParams] = useSearchParams();
  const agentsQ = useApi(() => metricsApi.agents(), []);
  const agents = useMemo(() => agentsQ.data ?? [], [agentsQ.data]);
  const agentParam = params.get('agent'); // '*': all agents
  const agent = agentParam && agentParam !== '*' ? agentParam : undefined;
  const [rangeKey, setRangeKey] = useState<RangeKey>((params.get('range') as RangeKey) || '1h');
  const [custom, setCustom] = useState<[Dayjs, Dayjs]>(() => [dayjs().subtract(1, 'hour'), dayjs()]);
  const [agg, setAgg] = useState<Agg>((params.get('agg') as Agg) || 'avg');
  const [step, setStep] = useState<number | 'auto'>(() => {
    const n = Number(params.get('step'));
    return Number.isFinite(n) && n >= 1 ? n : 'auto';
  });
  const [by, setBy] = useState<string[]>(() => (params.get('by') ?? '').split(',').filter(Boolean));
  const [live, setLive] = useState(true);
  const [tick, setTick] = useState(0);
  const [liveRows, setLiveRows] = useState<AnomalyRow[]>([]);

  // Several keys at once: two setParams calls in one event would keep only the last.
  const set = useCallback(
    (changes: Record<string, string | undefined>) =>
      setParams(
        (p) => {
          const n = new URLSearchParams(p);
          for (const [k, v] of Object.entries(changes)) {
            if (v) n.set(k, v);
            else n.delete(k);
          }
          return n;
        },
        { replace: true },
      ),
    [setParams],
  );

  // The metrics on offer: the agent's, or every agent's.
  const metricOptions = useMemo(() => {
    const names = new Set<string>();
    for (const a of agents) if (!agent || a.name === agent) Object.keys(a.metrics).forEach((m) => names.add(m));
    return [...names].sort();
  }, [agents, agent]);
  const metric = params.get('metric') ?? metricOptions.find((m) => !m.startsWith('anomaly.')) ?? metricOptions[0];

  // Pick the first agent once they are known.
  useEffect(() => {
    if (agentParam === null && agents.length) set({ agent: agents.find((a) => a.status === 'online')?.name ?? agents[0]!.name });
  }, [agentParam, agents, set]);

  const range: RangeSpec = rangeKey === 'custom' ? { from: custom[0].valueOf(), to: custom[1].valueOf() } : { preset: rangeKey };
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const win = useMemo(() => resolveRange(range, step), [rangeKey, custom, step, tick]);

  // Live: presets follow now; the agents' status and values are refreshed with them.
  useEffect(() => {
    if (!live || rangeKey === 'custom') return undefined;
    const t = setInterval(() => setTick((x) => x + 1), 15_000);
    return () => clearInterval(t);
  }, [live, rangeKey]);
  const reloadAgents = agentsQ.reload;
  useEffect(() => {
    if (tick) reloadAgents();
  }, [tick, reloadAgents]);

  const byKey = by.join(',');
  const seriesQ = useApi(
    (signal) =>
      metric ? metricsApi.query({ metric, agent, from: win.from, to: win.to, step: win.step, agg, by }, signal) : Promise.resolve([]),
    [metric, agent, win.from, win.to, win.step, agg, byKey],
  );
  const chartSeries = useMemo(() => (seriesQ.data ?? []).map((s) => ({ label: seriesLabel(s), points: s.points })), [seriesQ.data]);
  const points = useMemo(() => chartSeries.reduce((n, s) => n + s.points.length, 0), [chartSeries]);

  // Anomalies of the detectors watching this agent, stored and live.
  const detectorsQ = useApi(() => modelsApi.detectors(), [tick]);
  const watching = useMemo(() => (detectorsQ.data ?? []).filter((d) => !agent || d.agent === agent), [detectorsQ.data, agent]);
  const anomaliesQ = useApi(
    async (signal) => {
      const lists = await Promise.all(
        watching.map(async (d) =>
          (await metricsApi.anomalies(d.id, win.from, win.to + win.step * 1000, signal)).map<AnomalyRow>((a) => ({
            ts: a.ts,
            detector: d.id,
            model: `${d.model}@${d.version}`,
            score: a.score,
            threshold: a.threshold,
          })),
        ),
      );
      return lists.flat();
    },
    [watching, win.from, win.to, win.step],
  );
  useEvents<AnomalyEvent>('anomaly', (e) => {
    const a = e.data;
    if (!a || (agent && a.agent !== agent)) return;
    setLiveRows((m) => [...m.slice(-500), { ts: a.ts, detector: a.detector, model: a.model, score: a.score, threshold: a.threshold }]);
    if (live && rangeKey !== 'custom') setTick((x) => x + 1);
  });
  const anomalyRows = useMemo(() => {
    const seen = new Set<string>();
    return [...(anomaliesQ.data ?? []), ...liveRows]
      .filter((r) => r.ts >= win.from && r.ts < win.to + win.step * 1000)
      .filter((r) => (seen.has(`${r.detector}@${r.ts}`) ? false : (seen.add(`${r.detector}@${r.ts}`), true)))
      .sort((x, y) => y.ts - x.ts);
  }, [anomaliesQ.data, liveRows, win]);
  const marks = useMemo(
    () =>
      marksInRange(
        anomalyRows.map<Mark>((r) => ({
          ts: r.ts,
          title: `Anomaly at ${when(r.ts)}: score ${compact(r.score, 4)} > threshold ${compact(r.threshold, 4)} (detector ${r.detector}, model ${r.model})`,
        })),
        win.from,
        win.to + win.step * 1000,
      ),
    [anomalyRows, win],
  );

  const exportQuery = { metric, agent, from: win.from, to: win.to };
  const title = `${agg}(${metric ?? '—'})${by.length ? ` by ${by.join(', ')}` : ''}${agent ? ` of ${agent}` : ''}`;

  return (
    <div className="mon-page">
      <PageHeader
        title="Monitoring"
        sub={<span className="muted">Agents, their metrics, LLM costs and the anomalies the detectors found</span>}
        extra={
          <>
            <Button icon={<ReloadOutlined />} onClick={() => setTick((x) => x + 1)}>
              Refresh
            </Button>
            <Button icon={<DownloadOutlined />} href={metricsApi.exportUrl('csv', exportQuery)} download disabled={!metric}>
              Export CSV
            </Button>
            <Button icon={<DownloadOutlined />} href={metricsApi.exportUrl('ndjson', exportQuery)} download disabled={!metric}>
              Export NDJSON
            </Button>
          </>
        }
      />
      <div className="mon-stack">
        <Card title="Agents" size="small">
          {agentsQ.error ? (
            <ErrorView error={agentsQ.error} retry={agentsQ.reload} />
          ) : (
            <AgentsTable agents={agents} loading={!agentsQ.data} selected={agent} onSelect={(a) => set({ agent: a, metric: undefined })} />
          )}
        </Card>

        <Card title="Metrics" size="small">
          <Form layout="vertical" component="div">
            <Row gutter={12}>
              <Col xs={12} lg={6}>
                <Form.Item label="Agent" htmlFor="mon-agent">
                  <Select
                    id="mon-agent"
                    value={agentParam ?? '*'}
                    onChange={(v: string) => set({ agent: v, metric: undefined })}
                    showSearch
                    options={[{ value: '*', label: 'All agents' }, ...agents.map((a) => ({ value: a.name, label: a.name }))]}
                  />
                </Form.Item>
              </Col>
              <Col xs={12} lg={6}>
                <Form.Item label="Metric" htmlFor="mon-metric">
                  <Select
                    id="mon-metric"
                    value={metric}
                    onChange={(v: string) => set({ metric: v })}
                    showSearch
                    placeholder="No metrics yet"
                    options={metricOptions.map((m) => ({ value: m, label: m }))}
                  />
                </Form.Item>
              </Col>
              <Col xs={12} lg={6}>
                <Form.Item label="Time range" htmlFor="mon-range">
                  <Select
                    id="mon-range"
                    value={rangeKey}
                    onChange={(v: RangeKey) => (setRangeKey(v), set({ range: v }))}
                    options={[...PRESETS.map((p) => ({ value: p.key, label: p.label })), { value: 'custom', label: 'Custom…' }]}
                  />
                </Form.Item>
              </Col>
              <Col xs={12} lg={6}>
                <Form.Item label="Aggregation" htmlFor="mon-agg">
                  <Select id="mon-agg" value={agg} onChange={(v: Agg) => (setAgg(v), set({ agg: v }))} options={AGGREGATIONS.map((a) => ({ value: a, label: a }))} />
                </Form.Item>
              </Col>
              {rangeKey === 'custom' && (
                <Col xs={24} lg={12}>
                  <Form.Item label="From – to" htmlFor="mon-custom">
                    <DatePicker.RangePicker
                      id={{ start: 'mon-custom' }}
                      showTime
                      value={custom}
                      onChange={(v) => v && v[0] && v[1] && setCustom([v[0], v[1]])}
                      style={{ width: '100%' }}
                    />
                  </Form.Item>
                </Col>
              )}
              <Col xs={12} lg={6}>
                <Form.Item label="Step" htmlFor="mon-step">
                  <Select
                    id="mon-step"
                    value={step}
                    onChange={(v: number | 'auto') => (setStep(v), set({ step: v === 'auto' ? undefined : String(v) }))}
                    options={[{ value: 'auto', label: `Automatic (${formatDuration(win.step * 1000)})` }, ...STEPS.map((s) => ({ value: s, label: formatDuration(s * 1000) }))]}
                  />
                </Form.Item>
              </Col>
              <Col xs={12} lg={6}>
                <Form.Item label="Group by tag" htmlFor="mon-by">
                  <Select
                    id="mon-by"
                    mode="tags"
                    value={by}
                    onChange={(v: string[]) => (setBy(v), set({ by: v.join(',') || undefined }))}
                    placeholder="One series per stored series"
                    options={GROUP_KEYS.map((k) => ({ value: k, label: k }))}
                  />
                </Form.Item>
              </Col>
              <Col xs={12} lg={6}>
                <Form.Item label="Follow now (every 15 s)" htmlFor="mon-live">
                  <Switch id="mon-live" checked={live} onChange={setLive} disabled={rangeKey === 'custom'} />
                </Form.Item>
              </Col>
            </Row>
          </Form>
          {seriesQ.error ? (
            <ErrorView error={seriesQ.error} retry={seriesQ.reload} />
          ) : !metric ? (
            <Typography.Text className="muted">No metrics yet: push samples to POST /api/v1/metrics.</Typography.Text>
          ) : seriesQ.data === undefined ? (
            <Card loading size="small" />
          ) : (
            <>
              <Typography.Title level={2} style={{ fontSize: 16 }}>
                {title}
              </Typography.Title>
              <Typography.Paragraph className="muted" style={{ marginBottom: 8 }}>
                {chartSeries.length} series, {points} points, step {formatDuration(win.step * 1000)}
                {watching.length > 0 && `, ${watching.length} detector${watching.length === 1 ? '' : 's'} watching`}
                {anomaliesQ.error ? ' (the anomalies could not be loaded)' : ''}
              </Typography.Paragraph>
              <TimeChart title={title} yLabel={`${agg}(${metric})`} series={chartSeries} marks={marks} range={win} />
              {anomalyRows.length > 0 && (
                <Table<AnomalyRow>
                  style={{ marginTop: 12 }}
                  rowKey={(r) => `${r.detector}@${r.ts}`}
                  size="small"
                  columns={anomalyColumns}
                  dataSource={anomalyRows}
                  pagination={{ pageSize: 5, hideOnSinglePage: true }}
                  aria-label="Anomalies"
                />
              )}
            </>
          )}
        </Card>

        {agent && <SummaryView agent={agent} from={win.from} to={win.to} tick={tick} />}
      </div>
    </div>
  );
}
