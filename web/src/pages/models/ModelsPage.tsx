// Models: the list, training one from a dataset version (a `train` job:
// its link and progress until the server registers the version), and the
// detectors.
import { ExperimentOutlined } from '@ant-design/icons';
import { Button, Card, Col, Form, Input, InputNumber, Modal, Progress, Row, Select, Steps, Table, Tag } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useEffect, useMemo, useState } from 'react';
import { Link } from 'react-router-dom';
import { ACTIVATIONS, modelsApi, numericColumns, type JobBrief, type Model, type TrainOptions, type Training } from '../../api/models';
import { ErrorView, PageHeader, useApi, useNotify, when } from '../../components/common';
import { DetectorsPanel } from './Detectors';
import './models.css';

const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

interface TrainForm extends TrainOptions {
  model?: string;
  dataset?: string;
  version?: number;
  columns?: string[];
}

function TrainDialog({ onClose, onStarted }: { onClose: () => void; onStarted: (job: JobBrief, model: string) => void }) {
  const notify = useNotify();
  const [form] = Form.useForm<TrainForm>();
  const [busy, setBusy] = useState(false);
  const datasets = useApi(() => modelsApi.datasets(), []);
  const ds = Form.useWatch('dataset', form);
  const ver = Form.useWatch('version', form);
  const versions = useApi(() => (ds ? modelsApi.datasetVersions(ds) : Promise.resolve([])), [ds]);
  const chosen = useMemo(() => (versions.data ?? []).find((v) => v.number === ver), [versions.data, ver]);
  const columns = useMemo(() => numericColumns(chosen), [chosen]);

  // A dataset picked: its latest version; a version picked: all its numeric columns.
  useEffect(() => {
    const latest = versions.data?.[0];
    if (latest && !versions.data?.some((v) => v.number === form.getFieldValue('version'))) form.setFieldsValue({ version: latest.number });
  }, [versions.data, form]);
  useEffect(() => {
    form.setFieldsValue({ columns });
  }, [columns, form]);

  const start = async () => {
    const f = form.getFieldsValue(true) as TrainForm;
    const errs: Partial<Record<keyof TrainForm, string>> = {};
    if (!f.model || !NAME_RE.test(f.model)) errs.model = 'A name of 1–128 letters, digits, . _ - (not starting with a dot)';
    if (!f.dataset) errs.dataset = 'Pick a dataset';
    if (!f.version) errs.version = 'Pick a version';
    else if (chosen && chosen.kind !== 'file') errs.version = 'The trainer takes a single CSV file, not a file set';
    if (!f.columns?.length) errs.columns = 'Pick at least one numeric column';
    if (f.hidden && !/^\s*\d+(\s*,\s*\d+)*\s*$/.test(f.hidden)) errs.hidden = 'Widths such as 16,8,16';
    form.setFields((['model', 'dataset', 'version', 'columns', 'hidden'] as const).map((n) => ({ name: n, errors: errs[n] ? [errs[n]!] : [] })));
    if (Object.keys(errs).length) return;
    setBusy(true);
    try {
      const job = await modelsApi.train({ ...f, hidden: f.hidden?.replace(/\s+/g, ''), model: f.model!, dataset: f.dataset!, version: f.version!, columns: f.columns! });
      notify.ok(`Training job ${job.id} started`);
      onStarted(job, f.model!);
    } catch (e) {
      notify.fail(e, 'The training could not be started');
    } finally {
      setBusy(false);
    }
  };

  const num = (name: keyof TrainOptions, label: string, def: string, props: { min?: number; max?: number; step?: number } = {}) => (
    <Col xs={12} sm={8}>
      <Form.Item name={name} label={label}>
        <InputNumber style={{ width: '100%' }} placeholder={`default ${def}`} {...props} />
      </Form.Item>
    </Col>
  );

  return (
    <Modal open title="Train a model" okText="Start training" onOk={() => void start()} confirmLoading={busy} onCancel={onClose} destroyOnHidden width={720} className="models-dialog">
      <Form form={form} name="train" layout="vertical" initialValues={{ activation: 'relu' }}>
        <Row gutter={12}>
          <Col xs={24} sm={12}>
            <Form.Item name="model" label="Model name" extra="A new model, or a new version of one you may write">
              <Input maxLength={128} />
            </Form.Item>
          </Col>
          <Col xs={24} sm={12}>
            <Form.Item name="dataset" label="Dataset">
              <Select
                showSearch
                loading={!datasets.data && !datasets.error}
                notFoundContent={datasets.error ? 'The datasets could not be loaded' : 'No datasets'}
                options={(datasets.data ?? []).map((d) => ({ value: d.name, label: d.name }))}
              />
            </Form.Item>
          </Col>
          <Col xs={24} sm={12}>
            <Form.Item name="version" label="Dataset version">
              <Select
                options={(versions.data ?? []).map((v) => ({
                  value: v.number,
                  label: `v${v.number}${v.filename ? ` (${v.filename})` : ' (file set)'} ${when(v.created_at)}`,
                }))}
              />
            </Form.Item>
          </Col>
          <Col xs={24} sm={12}>
            <Form.Item name="columns" label="Columns (numeric)">
              <Select mode="multiple" options={columns.map((c) => ({ value: c, label: c }))} notFoundContent="No numeric columns" />
            </Form.Item>
          </Col>
          <Col xs={12} sm={8}>
            <Form.Item name="hidden" label="Hidden layers">
              <Input placeholder="default 16,8,16" />
            </Form.Item>
          </Col>
          <Col xs={12} sm={8}>
            <Form.Item name="activation" label="Activation">
              <Select options={ACTIVATIONS.map((a) => ({ value: a, label: a }))} />
            </Form.Item>
          </Col>
          {num('epochs', 'Epochs', '50', { min: 1 })}
          {num('batch', 'Batch', '256', { min: 1 })}
          {num('lr', 'Learning rate', '0.001', { min: 0, step: 0.0001 })}
          {num('seed', 'Seed', '1', { min: 0 })}
          {num('quantile', 'Threshold quantile', '0.99', { min: 0, max: 1, step: 0.01 })}
          {num('patience', 'Patience (epochs)', '10', { min: 0 })}
          {num('val_fraction', 'Validation share', '0.2', { min: 0, max: 0.9, step: 0.05 })}
        </Row>
      </Form>
    </Modal>
  );
}

/** A training's progress: the job, then the server's registration of the version. */
function TrainingProgress({ jobId, model, onDone }: { jobId: string; model: string; onDone: () => void }) {
  const notify = useNotify();
  const [job, setJob] = useState<JobBrief>();
  const [training, setTraining] = useState<Training>();
  const [error, setError] = useState<unknown>();
  const finished = training?.state === 'registered' || training?.state === 'failed' || (job && ['failed', 'cancelled'].includes(job.state));

  useEffect(() => {
    if (finished) return undefined;
    let live = true;
    const poll = async () => {
      try {
        const [j, t] = await Promise.all([modelsApi.job(jobId), modelsApi.training(jobId).catch(() => undefined)]);
        if (!live) return;
        setJob(j);
        if (t) setTraining(t);
        setError(undefined);
        if (t?.state === 'registered') {
          notify.ok(`Model ${t.model} version ${t.version} registered`);
          onDone();
        } else if (t?.state === 'failed' || ['failed', 'cancelled'].includes(j.state)) {
          notify.fail(new Error(t?.error ?? j.reason ?? `the job ${j.state}`), 'The training failed');
        }
      } catch (e) {
        if (live) setError(e);
      }
    };
    void poll();
    const t = setInterval(() => void poll(), 1000);
    return () => {
      live = false;
      clearInterval(t);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [jobId, finished]);

  const c = job?.chunks;
  const pct = c && c.total ? Math.round((100 * (c.completed + c.failed + c.cancelled)) / c.total) : 0;
  const failed = training?.state === 'failed' || (job && ['failed', 'cancelled'].includes(job.state));
  const step = training?.state === 'registered' ? 3 : job?.state === 'completed' ? 2 : job?.state === 'running' ? 1 : 0;
  const out = job?.result?.outputs?.[0];
  return (
    <Card
      size="small"
      title={
        <>
          Training {model}: job <Link to={`/jobs/${encodeURIComponent(jobId)}`}>{jobId}</Link>
        </>
      }
      aria-live="polite"
    >
      <Steps
        size="small"
        current={step}
        status={failed ? 'error' : step === 3 ? 'finish' : 'process'}
        items={[{ title: 'Queued' }, { title: 'Training' }, { title: 'Registering' }, { title: 'Registered' }]}
      />
      <Progress percent={training?.state === 'registered' ? 100 : pct} status={failed ? 'exception' : finished ? 'success' : 'active'} aria-label="Training progress" />
      <div>
        Job state: <Tag>{job?.state ?? 'starting'}</Tag> Registration: <Tag color={training?.state === 'registered' ? 'green' : failed ? 'red' : 'default'}>{training?.state ?? 'pending'}</Tag>
      </div>
      {out && (
        <div className="muted">
          {out.rows} rows, {out.features} features, {out.epochs} epochs, validation loss {out.val_loss?.toPrecision(4)}, threshold {out.threshold?.toPrecision(4)}
        </div>
      )}
      {training?.state === 'registered' && (
        <p>
          Registered as{' '}
          <Link to={`/models/${encodeURIComponent(training.model)}`}>
            {training.model}@{training.version}
          </Link>
        </p>
      )}
      {failed && <p className="error-text">The training failed: {training?.error ?? job?.reason ?? job?.state}</p>}
      {error ? <p className="error-text">Progress could not be read: {String((error as Error).message ?? error)}</p> : null}
    </Card>
  );
}

export default function ModelsPage() {
  const models = useApi(() => modelsApi.list(), []);
  const [training, setTraining] = useState(false);
  const [running, setRunning] = useState<{ job: string; model: string }[]>([]);

  const columns: ColumnsType<Model> = [
    {
      title: 'Model',
      dataIndex: 'name',
      sorter: (a, b) => a.name.localeCompare(b.name),
      defaultSortOrder: 'ascend',
      render: (n: string) => <Link to={`/models/${encodeURIComponent(n)}`}>{n}</Link>,
    },
    { title: 'Versions', dataIndex: 'versions', sorter: (a, b) => a.versions - b.versions },
    { title: 'Latest', dataIndex: 'latest_version', render: (v: number | null) => (v === null ? '—' : `v${v}`), responsive: ['sm'] },
    { title: 'Owner', dataIndex: 'owner', sorter: (a, b) => a.owner.localeCompare(b.owner), responsive: ['md'] },
    {
      title: 'Access',
      key: 'access',
      responsive: ['lg'],
      filters: [
        { text: 'public', value: true },
        { text: 'private', value: false },
      ],
      onFilter: (v, m) => m.public === v,
      render: (_, m) => (m.public ? <Tag color="cyan">public</Tag> : <Tag>private</Tag>),
    },
    { title: 'Updated', dataIndex: 'updated_at', render: when, sorter: (a, b) => a.updated_at.localeCompare(b.updated_at), responsive: ['md'] },
  ];

  return (
    <div className="models-page">
      <PageHeader
        title="Models"
        sub={<span className="muted">Anomaly-detection autoencoders: train, score, and watch agents with detectors</span>}
        extra={
          <Button type="primary" icon={<ExperimentOutlined />} onClick={() => setTraining(true)}>
            Train a model
          </Button>
        }
      />
      <div className="models-stack">
        {running.map((r) => (
          <TrainingProgress key={r.job} jobId={r.job} model={r.model} onDone={models.reload} />
        ))}
        <Card title="Models" size="small">
          {models.error ? (
            <ErrorView error={models.error} retry={models.reload} />
          ) : (
            <Table<Model>
              rowKey="name"
              size="small"
              loading={!models.data}
              columns={columns}
              dataSource={models.data}
              pagination={{ pageSize: 20, hideOnSinglePage: true }}
              locale={{ emptyText: 'No models yet: train one from a dataset' }}
              aria-label="Models"
            />
          )}
        </Card>
        <DetectorsPanel />
      </div>
      {training && (
        <TrainDialog
          onClose={() => setTraining(false)}
          onStarted={(job, model) => {
            setTraining(false);
            setRunning((r) => [{ job: job.id, model }, ...r]);
          }}
        />
      )}
    </div>
  );
}
