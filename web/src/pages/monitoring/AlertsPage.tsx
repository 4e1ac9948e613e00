// Alerts: the rules (threshold or detector), an editor that checks what the
// server would refuse before sending, and the firing/resolved events, live
// through the SSE topic `alert` (each one a toast).
import { DeleteOutlined, EditOutlined, PlusOutlined } from '@ant-design/icons';
import { AutoComplete, Button, Card, Col, Form, Input, InputNumber, Modal, Popconfirm, Radio, Row, Select, Table, Tag, Tooltip, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useEffect, useMemo, useState } from 'react';
import {
  OPS,
  alertsApi,
  describeRule,
  ruleBody,
  ruleForm,
  validateRule,
  type AlertEvent,
  type AlertRule,
  type AlertState,
  type RuleForm,
} from '../../api/alerts';
import { AGGREGATIONS, metricsApi } from '../../api/metrics';
import { modelsApi } from '../../api/models';
import { useEvents } from '../../api/sse';
import { compact } from '../../components/charts/align';
import { ErrorView, PageHeader, useApi, useNotify, when } from '../../components/common';
import './monitoring.css';

const STATE_COLOR: Record<AlertState | 'resolved', string> = { ok: 'green', pending: 'gold', firing: 'red', resolved: 'green' };

function RuleEditor({ rule, onClose, onSaved }: { rule: AlertRule | null; onClose: () => void; onSaved: (r: AlertRule) => void }) {
  const notify = useNotify();
  const [form] = Form.useForm<RuleForm>();
  const [saving, setSaving] = useState(false);
  const kind = Form.useWatch('kind', form) ?? (rule?.detector ? 'detector' : 'metric');
  const agentSel = Form.useWatch('agent', form);
  const agents = useApi(() => metricsApi.agents(), []);
  const detectors = useApi(() => modelsApi.detectors(), []);
  const metricNames = useMemo(() => {
    const s = new Set<string>();
    for (const a of agents.data ?? []) if (!agentSel || a.name === agentSel) Object.keys(a.metrics).forEach((m) => s.add(m));
    return [...s].sort();
  }, [agents.data, agentSel]);
  const initial: RuleForm = rule ? ruleForm(rule) : { kind: 'metric', agg: 'avg', op: '>', window: '5m', for: '0s' };

  const save = async () => {
    const f = { ...initial, ...form.getFieldsValue(true) } as RuleForm;
    const errors = validateRule(f);
    form.setFields(
      (['name', 'agent', 'metric', 'tags', 'agg', 'window', 'op', 'threshold', 'for', 'detector'] as const).map((n) => ({
        name: n,
        errors: errors[n] ? [errors[n]!] : [],
      })),
    );
    if (Object.keys(errors).length) return;
    setSaving(true);
    try {
      const body = ruleBody(f);
      const saved = rule ? await alertsApi.update(rule.id, body) : await alertsApi.create(body);
      notify.ok(rule ? `Rule "${saved.name}" saved` : `Rule "${saved.name}" created`);
      onSaved(saved);
    } catch (e) {
      notify.fail(e, rule ? 'The rule could not be saved' : 'The rule could not be created');
    } finally {
      setSaving(false);
    }
  };

  return (
    <Modal
      open
      title={rule ? `Edit rule ${rule.name}` : 'New alert rule'}
      okText={rule ? 'Save rule' : 'Create rule'}
      onOk={() => void save()}
      confirmLoading={saving}
      onCancel={onClose}
      destroyOnHidden
      className="rule-editor"
      width={640}
    >
      <Form form={form} name="rule" layout="vertical" initialValues={initial} onFinish={() => void save()}>
        <Form.Item name="kind" label="Kind">
          <Radio.Group
            optionType="button"
            onChange={(e) => {
              // An untouched window follows the kind's default (metric 5m; detector: the server's 1m).
              if (!rule && !form.isFieldTouched('window')) form.setFieldsValue({ window: e.target.value === 'detector' ? '1m' : '5m' });
            }}
            options={[
              { value: 'metric', label: 'Threshold on a metric' },
              { value: 'detector', label: 'Detector anomalies' },
            ]}
          />
        </Form.Item>
        <Form.Item name="name" label="Name" required>
          <Input maxLength={128} placeholder="latency too high" />
        </Form.Item>
        {kind === 'metric' ? (
          <>
            <Row gutter={12}>
              <Col xs={24} sm={12}>
                <Form.Item name="agent" label="Agent (empty: every agent)">
                  <Select allowClear showSearch placeholder="Every agent" options={(agents.data ?? []).map((a) => ({ value: a.name, label: a.name }))} />
                </Form.Item>
              </Col>
              <Col xs={24} sm={12}>
                <Form.Item name="metric" label="Metric">
                  <AutoComplete
                    options={metricNames.map((m) => ({ value: m }))}
                    placeholder="latency_ms"
                    filterOption={(input, o) => (o?.value ?? '').toLowerCase().includes(input.toLowerCase())}
                  />
                </Form.Item>
              </Col>
            </Row>
            <Form.Item name="tags" label="Tags (k=v, comma-separated; equality filters)">
              <Input placeholder="model=gpt-4o, status=ok" />
            </Form.Item>
            <Row gutter={12}>
              <Col xs={12} sm={6}>
                <Form.Item name="agg" label="Aggregation">
                  <Select options={AGGREGATIONS.map((a) => ({ value: a, label: a }))} />
                </Form.Item>
              </Col>
              <Col xs={12} sm={6}>
                <Form.Item name="window" label="Window" required>
                  <Input placeholder="5m" />
                </Form.Item>
              </Col>
              <Col xs={12} sm={6}>
                <Form.Item name="op" label="Comparison">
                  <Select options={OPS.map((o) => ({ value: o, label: o }))} />
                </Form.Item>
              </Col>
              <Col xs={12} sm={6}>
                <Form.Item name="threshold" label="Threshold" required>
                  <InputNumber style={{ width: '100%' }} />
                </Form.Item>
              </Col>
            </Row>
          </>
        ) : (
          <Row gutter={12}>
            <Col xs={24} sm={12}>
              <Form.Item name="detector" label="Detector">
                <Select
                  showSearch
                  placeholder={detectors.data?.length === 0 ? 'No detectors yet (Models page)' : 'Pick a detector'}
                  options={(detectors.data ?? []).map((d) => ({ value: d.id, label: `${d.id} (${d.model}@${d.version} on ${d.agent})` }))}
                />
              </Form.Item>
            </Col>
            <Col xs={24} sm={12}>
              <Form.Item name="window" label="Window (default 1m)">
                <Input placeholder="1m" />
              </Form.Item>
            </Col>
          </Row>
        )}
        <Form.Item name="for" label="For (how long it must hold before firing)">
          <Input placeholder="0s" />
        </Form.Item>
      </Form>
    </Modal>
  );
}

export default function AlertsPage() {
  const notify = useNotify();
  const rules = useApi(() => alertsApi.list(), []);
  const events = useApi(() => alertsApi.events(), []);
  const [liveEvents, setLiveEvents] = useState<AlertEvent[]>([]);
  const [editing, setEditing] = useState<AlertRule | null | 'new'>(null);

  // States change without events too (ok → pending, values): re-read the rules every 10 s.
  const reloadRules = rules.reload;
  useEffect(() => {
    const t = setInterval(reloadRules, 10_000);
    return () => clearInterval(t);
  }, [reloadRules]);

  useEvents<AlertEvent>('alert', (e) => {
    const ev = e.data;
    if (!ev || !ev.id) return;
    setLiveEvents((l) => (l.some((x) => x.id === ev.id) ? l : [ev, ...l].slice(0, 500)));
    const text = `Alert "${ev.name}" ${ev.state}${ev.value !== null ? ` (value ${compact(ev.value, 4)})` : ''}`;
    const cond = ev.detector ? `detector ${ev.detector} flagged an anomaly` : `${ev.agg}(${ev.metric}${ev.agent ? `{agent=${ev.agent}}` : ''}) ${ev.op} ${ev.threshold}`;
    if (ev.state === 'firing') notify.fail(new Error(cond), text);
    else notify.ok(text);
    rules.reload();
  });

  const allEvents = useMemo(() => {
    const seen = new Set<string>();
    return [...liveEvents, ...(events.data ?? [])]
      .filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)))
      .sort((a, b) => b.ts.localeCompare(a.ts));
  }, [liveEvents, events.data]);

  const remove = async (r: AlertRule) => {
    try {
      await alertsApi.remove(r.id);
      notify.ok(`Rule "${r.name}" deleted`);
      rules.reload();
      events.reload();
    } catch (e) {
      notify.fail(e, 'The rule could not be deleted');
    }
  };

  const ruleCols: ColumnsType<AlertRule> = [
    { title: 'Name', dataIndex: 'name', sorter: (a, b) => a.name.localeCompare(b.name) },
    {
      title: 'Condition',
      key: 'cond',
      render: (_, r) => <span className="mono">{describeRule(r)}</span>,
      responsive: ['md'],
    },
    {
      title: 'State',
      dataIndex: 'state',
      filters: (['ok', 'pending', 'firing'] as const).map((s) => ({ text: s, value: s })),
      onFilter: (v, r) => r.state === v,
      sorter: (a, b) => a.state.localeCompare(b.state),
      render: (s: AlertState, r) => (
        <Tooltip title={`since ${when(r.state_since)}`}>
          <Tag color={STATE_COLOR[s]}>{s}</Tag>
        </Tooltip>
      ),
    },
    { title: 'Last value', dataIndex: 'value', render: (v: number | null) => compact(v, 4), responsive: ['sm'] },
    { title: 'Evaluated', dataIndex: 'evaluated_at', render: when, responsive: ['lg'] },
    { title: 'Owner', dataIndex: 'owner', responsive: ['lg'], sorter: (a, b) => a.owner.localeCompare(b.owner) },
    {
      title: 'Actions',
      key: 'actions',
      render: (_, r) => (
        <>
          <Button size="small" type="text" icon={<EditOutlined />} aria-label={`Edit rule ${r.name}`} onClick={() => setEditing(r)} />
          <Popconfirm title={`Delete rule "${r.name}" and its events?`} okText="Delete" okButtonProps={{ danger: true }} onConfirm={() => remove(r)}>
            <Button size="small" type="text" danger icon={<DeleteOutlined />} aria-label={`Delete rule ${r.name}`} />
          </Popconfirm>
        </>
      ),
    },
  ];

  const eventCols: ColumnsType<AlertEvent> = [
    { title: 'Time', dataIndex: 'ts', render: when, sorter: (a, b) => a.ts.localeCompare(b.ts), defaultSortOrder: 'descend' },
    { title: 'Rule', dataIndex: 'name', sorter: (a, b) => a.name.localeCompare(b.name) },
    {
      title: 'State',
      dataIndex: 'state',
      filters: [
        { text: 'firing', value: 'firing' },
        { text: 'resolved', value: 'resolved' },
      ],
      onFilter: (v, e) => e.state === v,
      render: (s: AlertEvent['state']) => <Tag color={STATE_COLOR[s]}>{s}</Tag>,
    },
    { title: 'Value', dataIndex: 'value', render: (v: number | null) => compact(v, 4) },
    {
      title: 'Condition',
      key: 'cond',
      responsive: ['md'],
      render: (_, e) =>
        e.detector ? `detector ${e.detector}` : <span className="mono">{`${e.agg}(${e.metric}${e.agent ? `{agent=${e.agent}}` : ''}) ${e.op} ${e.threshold}`}</span>,
    },
  ];

  return (
    <div className="mon-page">
      <PageHeader
        title="Alerts"
        sub={<span className="muted">Rules evaluated by the server; events also go to the webhooks</span>}
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setEditing('new')}>
            New rule
          </Button>
        }
      />
      <div className="mon-stack">
        <Card title="Rules" size="small">
          {rules.error ? (
            <ErrorView error={rules.error} retry={rules.reload} />
          ) : (
            <Table<AlertRule>
              rowKey="id"
              size="small"
              loading={!rules.data}
              columns={ruleCols}
              dataSource={rules.data}
              pagination={{ pageSize: 20, hideOnSinglePage: true }}
              locale={{ emptyText: 'No rules yet' }}
              aria-label="Alert rules"
            />
          )}
        </Card>
        <Card title="Events" size="small">
          {events.error ? (
            <ErrorView error={events.error} retry={events.reload} />
          ) : (
            <Table<AlertEvent>
              rowKey="id"
              size="small"
              loading={!events.data}
              columns={eventCols}
              dataSource={allEvents}
              pagination={{ pageSize: 20, hideOnSinglePage: true }}
              locale={{ emptyText: 'No events yet' }}
              aria-label="Alert events"
            />
          )}
        </Card>
      </div>
      {editing && (
        <RuleEditor
          rule={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            rules.reload();
          }}
        />
      )}
      <Typography.Text className="muted" style={{ display: 'block', marginTop: 12 }}>
        A rule fires when its condition holds (for its "for" duration) and resolves as soon as it does not.
      </Typography.Text>
    </div>
  );
}
