// Detectors: a model scoring an agent's metric buckets every step. The list
// (optionally of one model), a creation form that checks the feature count
// against the model's dimension, and deletion.
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { Alert, Button, Card, Form, Input, Modal, Popconfirm, Select, Table, Tag } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useMemo, useState } from 'react';
import { Link } from 'react-router-dom';
import { metricsApi, parseDuration } from '../../api/metrics';
import { modelsApi, type Detector } from '../../api/models';
import { ErrorView, useApi, useNotify, when } from '../../components/common';

interface DetectorForm {
  model?: string;
  version?: number | 'latest';
  agent?: string;
  features?: string[];
  step?: string;
}

function NewDetector({ model, onClose, onCreated }: { model?: string; onClose: () => void; onCreated: (d: Detector) => void }) {
  const notify = useNotify();
  const [form] = Form.useForm<DetectorForm>();
  const [busy, setBusy] = useState(false);
  const models = useApi(() => modelsApi.list(), []);
  const agents = useApi(() => metricsApi.agents(), []);
  const m = Form.useWatch('model', form) ?? model;
  const v = Form.useWatch('version', form) ?? 'latest';
  const agent = Form.useWatch('agent', form);
  const versions = useApi(() => (m ? modelsApi.versions(m) : Promise.resolve([])), [m]);
  const chosen = useMemo(
    () => (versions.data ?? []).find((x) => (v === 'latest' ? true : x.version === v)),
    [versions.data, v],
  );
  const metricNames = useMemo(() => {
    const a = (agents.data ?? []).find((x) => x.name === agent);
    return Object.keys(a?.metrics ?? {}).filter((k) => !k.startsWith('anomaly.')).sort();
  }, [agents.data, agent]);

  const create = async () => {
    const f = form.getFieldsValue(true) as DetectorForm;
    const feats = f.features ?? [];
    const errs: [keyof DetectorForm, string][] = [];
    if (!f.model) errs.push(['model', 'Pick a model']);
    if (!f.agent) errs.push(['agent', 'Pick an agent']);
    if (chosen && feats.length !== chosen.dim) errs.push(['features', `The model takes ${chosen.dim} feature${chosen.dim === 1 ? '' : 's'}, not ${feats.length}`]);
    if (!chosen && feats.length === 0) errs.push(['features', 'Name the features']);
    const stepMs = parseDuration(f.step ?? '');
    if (stepMs === null || stepMs < 1000 || stepMs > 86_400_000 || stepMs % 1000 !== 0) errs.push(['step', 'Whole seconds, from 1s to 1d']);
    form.setFields((['model', 'agent', 'features', 'step'] as const).map((n) => ({ name: n, errors: errs.filter(([k]) => k === n).map(([, e]) => e) })));
    if (errs.length) return;
    setBusy(true);
    try {
      const d = await modelsApi.createDetector({
        model: `${f.model}@${f.version ?? 'latest'}`,
        agent: f.agent!,
        features: feats,
        step: f.step!.trim(),
      });
      notify.ok(`Detector ${d.id} created: ${d.model}@${d.version} watches ${d.agent}`);
      onCreated(d);
    } catch (e) {
      notify.fail(e, 'The detector could not be created');
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal open title="New detector" okText="Create detector" onOk={() => void create()} confirmLoading={busy} onCancel={onClose} destroyOnHidden className="models-dialog">
      <Form form={form} name="detector" layout="vertical" initialValues={{ model, version: 'latest', step: '1m', features: [] }}>
        <Form.Item name="model" label="Model">
          <Select
            showSearch
            onChange={() => form.setFieldsValue({ version: 'latest' })}
            options={(models.data ?? []).map((x) => ({ value: x.name, label: x.name }))}
          />
        </Form.Item>
        <Form.Item name="version" label="Version">
          <Select
            options={[
              { value: 'latest', label: 'Latest (fixed when created)' },
              ...(versions.data ?? []).map((x) => ({ value: x.version, label: `v${x.version} (${x.dim} features: ${x.features.join(', ')})` })),
            ]}
          />
        </Form.Item>
        <Form.Item name="agent" label="Agent">
          <Select showSearch options={(agents.data ?? []).map((a) => ({ value: a.name, label: a.name }))} />
        </Form.Item>
        <Form.Item
          name="features"
          label="Features (metric or metric:agg, one per model input, in order)"
          extra={chosen ? `The model takes ${chosen.dim}: ${chosen.features.join(', ')} (trained column names)` : undefined}
        >
          <Select mode="tags" tokenSeparators={[',', ' ']} options={metricNames.map((x) => ({ value: x, label: x }))} />
        </Form.Item>
        <Form.Item name="step" label="Step (bucket length, whole seconds)">
          <Input />
        </Form.Item>
        {versions.error ? <Alert type="error" showIcon message="The model's versions could not be loaded" /> : null}
      </Form>
    </Modal>
  );
}

export function DetectorsPanel({ model }: { model?: string }) {
  const notify = useNotify();
  const list = useApi(() => modelsApi.detectors(), []);
  const [adding, setAdding] = useState(false);
  const rows = useMemo(() => (list.data ?? []).filter((d) => !model || d.model === model), [list.data, model]);

  const remove = async (d: Detector) => {
    try {
      await modelsApi.removeDetector(d.id);
      notify.ok(`Detector ${d.id} deleted`);
      list.reload();
    } catch (e) {
      notify.fail(e, 'The detector could not be deleted');
    }
  };

  const columns: ColumnsType<Detector> = [
    { title: 'Detector', dataIndex: 'id', render: (id: string) => <span className="mono">{id}</span>, sorter: (a, b) => a.id.localeCompare(b.id) },
    {
      title: 'Model',
      key: 'model',
      sorter: (a, b) => a.model.localeCompare(b.model),
      render: (_, d) => <Link to={`/models/${encodeURIComponent(d.model)}`}>{`${d.model}@${d.version}`}</Link>,
    },
    {
      title: 'Agent',
      dataIndex: 'agent',
      sorter: (a, b) => a.agent.localeCompare(b.agent),
      render: (a: string) => <Link to={`/monitoring?agent=${encodeURIComponent(a)}`}>{a}</Link>,
    },
    { title: 'Features', dataIndex: 'features', render: (f: string[]) => f.map((x) => <Tag key={x}>{x}</Tag>), responsive: ['md'] },
    { title: 'Step', dataIndex: 'step', responsive: ['sm'] },
    { title: 'Last bucket', dataIndex: 'last_ts', render: (t: string | null) => when(t), responsive: ['lg'] },
    {
      title: 'Actions',
      key: 'act',
      render: (_, d) => (
        <Popconfirm title={`Delete detector ${d.id}?`} okText="Delete" okButtonProps={{ danger: true }} onConfirm={() => remove(d)}>
          <Button type="text" size="small" danger icon={<DeleteOutlined />} aria-label={`Delete detector ${d.id}`} />
        </Popconfirm>
      ),
    },
  ];

  return (
    <Card
      title="Detectors"
      size="small"
      extra={
        <Button icon={<PlusOutlined />} onClick={() => setAdding(true)}>
          New detector
        </Button>
      }
    >
      {list.error ? (
        <ErrorView error={list.error} retry={list.reload} />
      ) : (
        <Table<Detector>
          rowKey="id"
          size="small"
          loading={!list.data}
          columns={columns}
          dataSource={rows}
          pagination={{ pageSize: 10, hideOnSinglePage: true }}
          locale={{ emptyText: 'No detectors yet' }}
          aria-label="Detectors"
        />
      )}
      {adding && (
        <NewDetector
          model={model}
          onClose={() => setAdding(false)}
          onCreated={() => {
            setAdding(false);
            list.reload();
          }}
        />
      )}
    </Card>
  );
}
