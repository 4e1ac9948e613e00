// One model: its versions (download, delete), scoring a vector against a
// version (the score, the threshold and the verdict), and its detectors.
import { DeleteOutlined, DownloadOutlined } from '@ant-design/icons';
import { Button, Card, Col, Descriptions, Form, InputNumber, Popconfirm, Row, Select, Table, Tag } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { modelsApi, type ModelVersion, type ScoreReply } from '../../api/models';
import { compact } from '../../components/charts/align';
import { ErrorView, PageHeader, bytes, useApi, useNotify, when } from '../../components/common';
import { DetectorsPanel } from './Detectors';
import './models.css';

function ScoreCard({ name, versions }: { name: string; versions: ModelVersion[] }) {
  const notify = useNotify();
  const [version, setVersion] = useState<number>(versions[0]!.version);
  const v = versions.find((x) => x.version === version) ?? versions[0]!;
  const [values, setValues] = useState<Record<string, number | null>>({});
  const [reply, setReply] = useState<ScoreReply>();
  const [busy, setBusy] = useState(false);
  const missing = v.features.filter((f, i) => values[`${i}:${f}`] === undefined || values[`${i}:${f}`] === null);

  const score = async () => {
    if (missing.length) {
      notify.fail(new Error(`Fill in ${missing.join(', ')}`), 'The vector is incomplete');
      return;
    }
    setBusy(true);
    try {
      const vec = v.features.map((f, i) => Number(values[`${i}:${f}`]));
      const r = await modelsApi.score(name, [vec], v.version);
      setReply(r);
      notify.ok(`Scored against ${r.model}@${r.version}: ${r.flags[0] ? 'anomalous' : 'normal'}`);
    } catch (e) {
      setReply(undefined);
      notify.fail(e, 'The vector could not be scored');
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title="Score a vector" size="small">
      <Form layout="vertical" name="score" onFinish={() => void score()}>
        <Row gutter={12}>
          <Col xs={24} sm={8}>
            <Form.Item label="Version" htmlFor="score-version">
              <Select
                id="score-version"
                value={v.version}
                onChange={(x: number) => (setVersion(x), setReply(undefined))}
                options={versions.map((x) => ({ value: x.version, label: `v${x.version} (threshold ${compact(x.threshold, 4)})` }))}
              />
            </Form.Item>
          </Col>
          {v.features.map((f, i) => (
            <Col key={`${i}:${f}`} xs={12} sm={8} md={6}>
              <Form.Item label={f} htmlFor={`score-f${i}`}>
                <InputNumber
                  id={`score-f${i}`}
                  style={{ width: '100%' }}
                  value={values[`${i}:${f}`] ?? null}
                  onChange={(x) => (setValues((o) => ({ ...o, [`${i}:${f}`]: x === null ? null : Number(x) })), setReply(undefined))}
                />
              </Form.Item>
            </Col>
          ))}
        </Row>
        {/* disabled rather than loading: antd's loading icon can stay in the button's name after its leave motion */}
        <Button type="primary" htmlType="submit" disabled={busy}>
          {busy ? 'Scoring…' : 'Score'}
        </Button>
      </Form>
      {reply && (
        <div className="score-verdict" role="status" aria-label="Score result">
          Score <b className="mono">{compact(reply.scores[0], 6)}</b> {reply.flags[0] ? '>' : '≤'} threshold{' '}
          <span className="mono">{compact(reply.threshold, 6)}</span>:{' '}
          {reply.flags[0] ? <Tag color="red">Anomalous</Tag> : <Tag color="green">Normal</Tag>}
        </div>
      )}
    </Card>
  );
}

export default function ModelPage() {
  const { name = '' } = useParams();
  const nav = useNavigate();
  const notify = useNotify();
  const model = useApi(() => modelsApi.get(name), [name]);
  const versions = useApi(() => modelsApi.versions(name), [name]);
  const sorted = useMemo(() => [...(versions.data ?? [])].sort((a, b) => b.version - a.version), [versions.data]);

  const removeModel = async () => {
    try {
      await modelsApi.remove(name);
      notify.ok(`Model ${name} deleted`);
      nav('/models');
    } catch (e) {
      notify.fail(e, 'The model could not be deleted');
    }
  };
  const removeVersion = async (v: number) => {
    try {
      await modelsApi.removeVersion(name, v);
      notify.ok(`Version ${v} of ${name} deleted`);
      versions.reload();
      model.reload();
    } catch (e) {
      notify.fail(e, 'The version could not be deleted');
    }
  };

  if (model.error) {
    return (
      <div className="models-page">
        <PageHeader title={name} />
        <ErrorView error={model.error} retry={model.reload} />
      </div>
    );
  }
  const m = model.data;
  const cols: ColumnsType<ModelVersion> = [
    { title: 'Version', dataIndex: 'version', sorter: (a, b) => a.version - b.version, render: (v: number) => `v${v}` },
    { title: 'Features', dataIndex: 'features', render: (f: string[]) => f.map((x) => <Tag key={x}>{x}</Tag>) },
    { title: 'Threshold', dataIndex: 'threshold', render: (t: number) => compact(t, 5), responsive: ['sm'] },
    { title: 'Kind', dataIndex: 'kind', responsive: ['lg'] },
    { title: 'Size', key: 'size', render: (_, v) => bytes(v.files.reduce((s, f) => s + f.bytes, 0)), responsive: ['lg'] },
    {
      title: 'Trained by',
      dataIndex: 'job',
      responsive: ['md'],
      render: (j: string | null, v) => (j ? <Link to={`/jobs/${encodeURIComponent(j)}`}>{j}</Link> : `upload by ${v.uploader}`),
    },
    { title: 'Created', dataIndex: 'created_at', render: when, responsive: ['md'] },
    {
      title: 'Actions',
      key: 'act',
      render: (_, v) => (
        <>
          <Button type="text" size="small" icon={<DownloadOutlined />} href={modelsApi.contentUrl(name, v.version)} download aria-label={`Download version ${v.version}`} />
          <Popconfirm title={`Delete version ${v.version}?`} okText="Delete" okButtonProps={{ danger: true }} onConfirm={() => removeVersion(v.version)}>
            <Button type="text" size="small" danger icon={<DeleteOutlined />} aria-label={`Delete version ${v.version}`} />
          </Popconfirm>
        </>
      ),
    },
  ];

  return (
    <div className="models-page">
      <PageHeader
        title={name}
        sub={<Link to="/models">All models</Link>}
        extra={
          <Popconfirm title={`Delete model ${name} and all its versions?`} okText="Delete" okButtonProps={{ danger: true }} onConfirm={removeModel}>
            <Button danger icon={<DeleteOutlined />}>
              Delete model
            </Button>
          </Popconfirm>
        }
      />
      <div className="models-stack">
        <Card size="small" loading={!m}>
          {m && (
            <Descriptions size="small" column={{ xs: 1, sm: 2, lg: 4 }}>
              <Descriptions.Item label="Owner">{m.owner}</Descriptions.Item>
              <Descriptions.Item label="Access">{m.public ? 'public' : m.shares.length ? m.shares.map((s) => `${s.group} (${s.access})`).join(', ') : 'private'}</Descriptions.Item>
              <Descriptions.Item label="Versions">{m.versions}</Descriptions.Item>
              <Descriptions.Item label="Updated">{when(m.updated_at)}</Descriptions.Item>
            </Descriptions>
          )}
        </Card>
        <Card title="Versions" size="small">
          {versions.error ? (
            <ErrorView error={versions.error} retry={versions.reload} />
          ) : (
            <Table<ModelVersion>
              rowKey="version"
              size="small"
              loading={!versions.data}
              columns={cols}
              dataSource={sorted}
              pagination={{ pageSize: 10, hideOnSinglePage: true }}
              locale={{ emptyText: 'No versions' }}
              aria-label="Versions"
            />
          )}
        </Card>
        {sorted.length > 0 && <ScoreCard key={sorted[0]!.version} name={name} versions={sorted} />}
        <DetectorsPanel model={name} />
      </div>
    </div>
  );
}
