// The job wizard: script and runtime → inputs → resources and chunking →
// access → review and launch. One form across the steps (every step stays
// mounted, only the current one shows), checked step by step; the Script
// Lab links here with ?script=NAME&version=N.
import { DeleteOutlined, PlusOutlined, RocketOutlined } from '@ant-design/icons';
import {
  Alert,
  Button,
  Card,
  Descriptions,
  Form,
  Input,
  InputNumber,
  Radio,
  Select,
  Space,
  Steps,
  Typography,
  type FormInstance,
} from 'antd';
import { useEffect, useMemo, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { describeError } from '../../api/client';
import { jobsApi, lookups } from '../../api/jobs';
import { isAdmin } from '../../api/types';
import { useAuth } from '../../auth/AuthContext';
import { PageHeader, useApi, useNotify } from '../../components/common';
import { buildSubmit, chunkCount, MAX_CHUNKS, parseConfig, parseEnv, STEP_FIELDS, WIZARD_DEFAULTS, type WizardValues } from './logic';
import './jobs.css';

const PROGRAMS = [
  { value: 'montecarlo-pi', label: 'montecarlo-pi: estimates π by sampling' },
  { value: 'sleep', label: 'sleep: waits args[0] seconds' },
  { value: 'noop', label: 'noop: does nothing' },
  { value: 'train', label: 'train: fits an autoencoder (needs a config and a CSV input)' },
];

// Selects are checked by a validator, not `required` (which puts
// aria-required on antd's select wrapper, a div with no role: axe refuses it).
const need = (message: string) => ({
  validator: async (_: unknown, v: unknown) => {
    if (v === undefined || v === null || v === '') throw new Error(message);
  },
});

const STEPS = ['Script & runtime', 'Inputs', 'Resources', 'Access', 'Review'];

function InputRow({ form, name, remove, datasets }: { form: FormInstance<WizardValues>; name: number; remove: () => void; datasets: { value: string; label: string; local: boolean }[] }) {
  const ds = Form.useWatch(['inputs', name, 'dataset'], form) as string | undefined;
  const local = datasets.find((d) => d.value === ds)?.local ?? false;
  const versions = useApi(async () => (ds && !local ? lookups.datasetVersions(ds) : []), [ds, local]);
  const options = local
    ? [{ value: 'local', label: 'on the node (local)' }]
    : [{ value: 'latest', label: 'latest' }, ...(versions.data ?? []).map((v) => ({ value: v.number, label: `v${v.number}${v.message ? ` · ${v.message}` : ''}` }))];
  useEffect(() => {
    const cur = form.getFieldValue(['inputs', name, 'version']) as unknown;
    if (local && cur !== 'local') form.setFieldValue(['inputs', name, 'version'], 'local');
    if (!local && cur === 'local') form.setFieldValue(['inputs', name, 'version'], 'latest');
  }, [local, form, name]);
  return (
    <Space align="start" wrap>
      <Form.Item name={[name, 'dataset']} label={`Dataset ${name + 1}`} rules={[need('Pick a dataset or remove this row')]}>
        <Select showSearch options={datasets} placeholder="Dataset" style={{ width: 240 }} optionFilterProp="label" />
      </Form.Item>
      <Form.Item name={[name, 'version']} label="Version" initialValue="latest">
        <Select options={options} loading={versions.loading && !!ds} style={{ width: 200 }} />
      </Form.Item>
      <Form.Item label=" " colon={false}>
        <Button icon={<DeleteOutlined />} onClick={remove} aria-label={`Remove input ${name + 1}`} />
      </Form.Item>
    </Space>
  );
}

function Review({ values }: { values: WizardValues }) {
  let body: ReturnType<typeof buildSubmit> | undefined;
  let error: string | undefined;
  try {
    body = buildSubmit(values);
  } catch (e) {
    error = describeError(e);
  }
  if (!body) return <Alert type="error" showIcon message={`The job cannot be built: ${error}`} />;
  const access = typeof body.access === 'string' ? body.access : `users: ${body.access?.users?.join(', ') || '—'}; groups: ${body.access?.groups?.join(', ') || '—'}`;
  return (
    <>
      <Descriptions
        bordered
        size="small"
        column={1}
        items={[
          { key: 'name', label: 'Name', children: body.name },
          { key: 'what', label: body.script ? 'Script' : 'Program', children: body.script ?? body.program },
          ...(body.script ? [{ key: 'runtime', label: 'Runtime', children: body.runtime }] : []),
          { key: 'args', label: 'Arguments', children: body.args?.length ? body.args.join(' ') : '—' },
          { key: 'env', label: 'Environment', children: Object.keys(body.env ?? {}).length ? Object.entries(body.env ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') : '—' },
          { key: 'inputs', label: 'Inputs', children: body.inputs?.join(', ') || '—' },
          { key: 'config', label: 'Config', children: body.config ? `${Object.keys(body.config).length} keys` : '—' },
          {
            key: 'chunks',
            label: 'Chunks',
            children: `${chunkCount(body.total_iterations, body.chunk_size).toLocaleString()} (${body.total_iterations ? `${body.total_iterations.toLocaleString()} iterations, ${body.chunk_size} each` : 'one chunk'}), ${body.max_attempts} attempts each`,
          },
          {
            key: 'limits',
            label: 'Limits',
            children: `${body.limits?.time_s} s, ${body.limits?.memory_mb} MB, ${body.limits?.cpus} CPU, ${body.limits?.gpus} GPU, network ${body.limits?.network}`,
          },
          { key: 'access', label: 'Runs on', children: access },
          { key: 'priority', label: 'Priority', children: body.priority },
        ]}
      />
      <details style={{ marginTop: 12 }}>
        <summary>The request (POST /api/v1/jobs)</summary>
        <pre className="review-json">{JSON.stringify(body, null, 2)}</pre>
      </details>
    </>
  );
}

function JobWizardInner() {
  const [params] = useSearchParams();
  const nav = useNavigate();
  const notify = useNotify();
  const { user } = useAuth();
  const [form] = Form.useForm<WizardValues>();
  const [step, setStep] = useState(0);
  const [bad, setBad] = useState<number>();
  const [launching, setLaunching] = useState(false);
  const [launchError, setLaunchError] = useState<unknown>();
  const [review, setReview] = useState<WizardValues>(WIZARD_DEFAULTS);

  const initial = useMemo<WizardValues>(() => {
    const s = params.get('script');
    const v = Number(params.get('version'));
    return { ...WIZARD_DEFAULTS, ...(s ? { script: s, name: s, version: Number.isInteger(v) && v > 0 ? v : 'latest' } : {}) };
  }, [params]);

  const kind = Form.useWatch('kind', form) ?? initial.kind;
  const script = Form.useWatch('script', form) as string | undefined;
  const access = Form.useWatch('access', form) ?? 'private';
  const total = Form.useWatch('total_iterations', form) as number | null | undefined;
  const size = Form.useWatch('chunk_size', form) as number | undefined;

  const scripts = useApi(() => lookups.scripts(), []);
  const versions = useApi(async () => (script ? lookups.scriptVersions(script) : []), [script]);
  const runtimes = useApi(() => lookups.runtimes(), []);
  const datasets = useApi(async () => {
    const [up, local] = await Promise.all([lookups.datasets(), lookups.localDatasets().catch(() => [])]);
    return [
      ...up.map((d) => ({ value: d.name, label: d.name, local: false })),
      ...local.map((d) => ({ value: d.name, label: `${d.name} (on ${d.location.map((l) => l.node_name).join(', ')})`, local: true })),
    ];
  }, []);
  const groups = useApi(() => lookups.groups(), []);
  const users = useApi(async () => (isAdmin(user) ? lookups.users() : []), [user]);

  const lookupError = scripts.error ?? runtimes.error ?? datasets.error;

  const next = async () => {
    try {
      await form.validateFields(STEP_FIELDS[step], { recursive: true });
      setBad(undefined);
      const to = step + 1;
      if (to === STEPS.length - 1) setReview(form.getFieldsValue(true) as WizardValues);
      setStep(to);
    } catch {
      setBad(step);
    }
  };
  const back = () => setStep((s) => Math.max(0, s - 1));
  const jump = async (to: number) => {
    if (to <= step) {
      setStep(to);
      return;
    }
    // Forward only through steps that pass their checks.
    for (let s = step; s < to; s++) {
      try {
        await form.validateFields(STEP_FIELDS[s], { recursive: true });
      } catch {
        setBad(s);
        setStep(s);
        return;
      }
    }
    setBad(undefined);
    if (to === STEPS.length - 1) setReview(form.getFieldsValue(true) as WizardValues);
    setStep(to);
  };

  const launch = async () => {
    setLaunching(true);
    setLaunchError(undefined);
    try {
      const body = buildSubmit(form.getFieldsValue(true) as WizardValues);
      const job = await jobsApi.submit(body);
      notify.ok(`Job ${job.name} launched (${job.chunks.total} chunk${job.chunks.total === 1 ? '' : 's'})`);
      nav(`/jobs/${encodeURIComponent(job.id)}`);
    } catch (e) {
      setLaunchError(e);
      notify.fail(e, 'The job was not launched');
    } finally {
      setLaunching(false);
    }
  };

  const pane = (i: number) => ({ hidden: step !== i, role: 'group' as const, 'aria-label': STEPS[i] });
  const chunks = chunkCount(total, size);

  return (
    <>
      <PageHeader title="New job" sub="Run a script or a built-in program on the nodes, in chunks" />
      <Card>
        <Steps
          className="wizard-steps"
          current={step}
          status={bad === step ? 'error' : 'process'}
          onChange={(s) => void jump(s)}
          responsive
          size="small"
          items={STEPS.map((t) => ({ title: t }))}
        />
        {lookupError !== undefined && (
          <Alert type="error" showIcon style={{ marginBottom: 12 }} message="Some lists could not be read" description={describeError(lookupError)} />
        )}
        <Form<WizardValues> form={form} layout="vertical" initialValues={initial} requiredMark={false} scrollToFirstError>
          <div {...pane(0)}>
            <Typography.Title level={2} style={{ fontSize: 16 }}>
              What runs
            </Typography.Title>
            <Form.Item name="kind" label="Kind">
              <Radio.Group
                optionType="button"
                options={[
                  { value: 'script', label: 'A script' },
                  { value: 'program', label: 'A built-in program' },
                ]}
              />
            </Form.Item>
            {kind === 'script' ? (
              <Space wrap align="start">
                <Form.Item name="script" label="Script" rules={[need('Pick a script (the Script Lab makes them)')]}>
                  <Select
                    showSearch
                    placeholder="Script"
                    style={{ width: 260 }}
                    loading={scripts.loading}
                    options={(scripts.data ?? []).map((s) => ({ value: s.name, label: s.name }))}
                    onChange={(v: string) => {
                      form.setFieldValue('version', 'latest');
                      if (!form.getFieldValue('name')) form.setFieldValue('name', v);
                    }}
                    notFoundContent={scripts.loading ? 'Loading…' : 'No scripts yet'}
                  />
                </Form.Item>
                <Form.Item name="version" label="Version">
                  <Select
                    style={{ width: 220 }}
                    loading={versions.loading && !!script}
                    options={[
                      { value: 'latest', label: 'latest' },
                      ...(versions.data ?? []).map((v) => ({ value: v.number, label: `v${v.number}${v.message ? ` · ${v.message}` : ''}` })),
                    ]}
                  />
                </Form.Item>
                <Form.Item name="runtime" label="Runtime" rules={[need('Pick a runtime')]}>
                  <Select
                    style={{ width: 200 }}
                    loading={runtimes.loading}
                    options={(runtimes.data ?? [{ name: 'host', kind: 'host' }]).map((r) => ({ value: r.name, label: `${r.name} (${r.kind})` }))}
                  />
                </Form.Item>
              </Space>
            ) : (
              <Form.Item name="program" label="Program" rules={[need('Pick a program')]}>
                <Select options={PROGRAMS} placeholder="Program" style={{ maxWidth: 480 }} />
              </Form.Item>
            )}
            <Form.Item
              name="name"
              label="Job name"
              rules={[
                { required: true, whitespace: true, message: 'Name the job' },
                { max: 128, message: 'At most 128 characters' },
              ]}
            >
              <Input placeholder="e.g. pi estimate" style={{ maxWidth: 480 }} />
            </Form.Item>
            <Form.Item name="args" label="Arguments (optional)" extra="Type each argument and press Enter.">
              <Select mode="tags" open={false} suffixIcon={null} placeholder="Arguments" style={{ maxWidth: 480 }} />
            </Form.Item>
            <Form.Item
              name="env"
              label="Environment (optional)"
              extra="One NAME=value a line."
              rules={[
                {
                  validator: async (_, v: string) => {
                    parseEnv(v);
                  },
                },
              ]}
            >
              <Input.TextArea rows={3} className="mono" placeholder="MODE=fast" style={{ maxWidth: 480 }} />
            </Form.Item>
          </div>

          <div {...pane(1)}>
            <Typography.Title level={2} style={{ fontSize: 16 }}>
              Inputs
            </Typography.Title>
            <Typography.Paragraph type="secondary">
              Datasets the job reads (under /data/NAME/). A dataset on a node's own disks pins the job to that node.
            </Typography.Paragraph>
            <Form.List name="inputs">
              {(fields, { add, remove }) => (
                <>
                  {fields.map((f) => (
                    <InputRow key={f.key} form={form} name={f.name} remove={() => remove(f.name)} datasets={datasets.data ?? []} />
                  ))}
                  <Button icon={<PlusOutlined />} onClick={() => add({ version: 'latest' })} style={{ marginBottom: 16 }}>
                    Add an input
                  </Button>
                </>
              )}
            </Form.List>
            <Form.Item
              name="config"
              label="Config (JSON object, optional)"
              extra="Given to the script as /job/config.json."
              rules={[
                {
                  validator: async (_, v: string) => {
                    parseConfig(v);
                  },
                },
              ]}
            >
              <Input.TextArea rows={4} className="mono" placeholder='{"learning_rate": 0.01}' style={{ maxWidth: 640 }} />
            </Form.Item>
          </div>

          <div {...pane(2)}>
            <Typography.Title level={2} style={{ fontSize: 16 }}>
              Resources and chunking
            </Typography.Title>
            <Space wrap align="start">
              <Form.Item
                name="total_iterations"
                label="Iterations in all"
                extra="Empty: one chunk."
                rules={[
                  { type: 'integer', min: 1, message: 'A whole number, 1 or more' },
                  {
                    validator: async () => {
                      const n = chunkCount(form.getFieldValue('total_iterations') as number, form.getFieldValue('chunk_size') as number);
                      if (n > MAX_CHUNKS) throw new Error(`That makes ${n.toLocaleString()} chunks; at most ${MAX_CHUNKS.toLocaleString()}`);
                    },
                  },
                ]}
              >
                <InputNumber min={1} precision={0} style={{ width: 180 }} placeholder="e.g. 100000" />
              </Form.Item>
              <Form.Item
                name="chunk_size"
                label="Iterations a chunk"
                dependencies={['total_iterations']}
                rules={[
                  { required: true, message: 'How many iterations a chunk runs' },
                  { type: 'integer', min: 1, message: 'A whole number, 1 or more' },
                ]}
              >
                <InputNumber min={1} precision={0} style={{ width: 160 }} />
              </Form.Item>
              <Form.Item label="Chunks">
                <Typography.Text strong data-testid="chunk-count">
                  {chunks.toLocaleString()}
                </Typography.Text>
              </Form.Item>
            </Space>
            <Space wrap align="start">
              <Form.Item name="time_s" label="Time limit (s)" rules={[{ required: true, type: 'integer', min: 1, message: 'Seconds, 1 or more' }]}>
                <InputNumber min={1} precision={0} style={{ width: 140 }} />
              </Form.Item>
              <Form.Item name="memory_mb" label="Memory (MB)" rules={[{ required: true, type: 'integer', min: 16, message: 'At least 16 MB' }]}>
                <InputNumber min={16} precision={0} style={{ width: 140 }} />
              </Form.Item>
              <Form.Item name="cpus" label="CPUs" rules={[{ required: true, type: 'number', min: 1, message: '1 or more' }]}>
                <InputNumber min={1} precision={0} style={{ width: 100 }} />
              </Form.Item>
              <Form.Item name="gpus" label="GPUs" rules={[{ required: true, type: 'integer', min: 0, message: '0 or more' }]}>
                <InputNumber min={0} precision={0} style={{ width: 100 }} />
              </Form.Item>
              <Form.Item name="network" label="Network">
                <Radio.Group
                  optionType="button"
                  options={[
                    { value: 'none', label: 'None' },
                    { value: 'egress', label: 'Outbound' },
                  ]}
                />
              </Form.Item>
            </Space>
            <Space wrap align="start">
              <Form.Item name="max_attempts" label="Attempts a chunk" rules={[{ required: true, type: 'integer', min: 1, max: 100, message: 'From 1 to 100' }]}>
                <InputNumber min={1} max={100} precision={0} style={{ width: 140 }} />
              </Form.Item>
              <Form.Item name="priority" label="Priority" extra="Higher runs first." rules={[{ type: 'integer', message: 'A whole number' }]}>
                <InputNumber precision={0} style={{ width: 120 }} />
              </Form.Item>
            </Space>
          </div>

          <div {...pane(3)}>
            <Typography.Title level={2} style={{ fontSize: 16 }}>
              Which nodes may run it
            </Typography.Title>
            <Form.Item name="access" label="Access">
              <Radio.Group
                options={[
                  { value: 'private', label: 'Private: my own nodes' },
                  { value: 'public', label: 'Public: any node I may use' },
                  { value: 'shared', label: 'Nodes of these users and groups (and mine)' },
                ]}
              />
            </Form.Item>
            {access === 'shared' && (
              <Space wrap align="start">
                <Form.Item
                  name="users"
                  label="Users"
                  dependencies={['groups']}
                  rules={[
                    {
                      validator: async (_, v: string[] | undefined) => {
                        const g = (form.getFieldValue('groups') as string[] | undefined) ?? [];
                        if (!(v ?? []).length && !g.length) throw new Error('Name at least one user or group');
                      },
                    },
                  ]}
                >
                  <Select
                    mode="tags"
                    placeholder="Usernames"
                    style={{ width: 260 }}
                    options={(users.data ?? []).map((u) => ({ value: u, label: u }))}
                  />
                </Form.Item>
                <Form.Item name="groups" label="Groups">
                  <Select
                    mode="multiple"
                    placeholder="Groups"
                    style={{ width: 260 }}
                    loading={groups.loading}
                    options={(groups.data ?? []).map((g) => ({ value: g.name, label: g.name }))}
                  />
                </Form.Item>
              </Space>
            )}
          </div>

          <div {...pane(4)}>
            <Typography.Title level={2} style={{ fontSize: 16 }}>
              Review
            </Typography.Title>
            {step === 4 && <Review values={review} />}
            {launchError !== undefined && <Alert style={{ marginTop: 12 }} type="error" showIcon message="The server refused the job" description={describeError(launchError)} />}
          </div>
        </Form>
        <div className="wizard-actions">
          {step > 0 && <Button onClick={back}>Back</Button>}
          {step < STEPS.length - 1 ? (
            <Button type="primary" onClick={() => void next()}>
              Next
            </Button>
          ) : (
            <Button type="primary" icon={<RocketOutlined />} loading={launching} onClick={() => void launch()}>
              Launch
            </Button>
          )}
        </div>
      </Card>
    </>
  );
}

export default function JobWizard() {
  return (
    <>
      <JobWizardInner />
    </>
  );
}
