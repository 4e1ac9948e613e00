// Nodes: their state and capacity, running chunks, CPU and memory
// sparklines (the figures each node pushes, read from the metrics store),
// claim by code, who may use a node, drain and resume. Live through the
// `node` topic; heartbeat facts (running, load) are read again every 10 s.
import { CloudServerOutlined, EditOutlined, PauseCircleOutlined, PlayCircleOutlined, ReloadOutlined } from '@ant-design/icons';
import {
  Button,
  Card,
  Form,
  Input,
  Modal,
  Popconfirm,
  Select,
  Space,
  Switch,
  Table,
  Tag,
  Tooltip,
  Typography,
  type TableColumnsType,
} from 'antd';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { lookups } from '../../api/jobs';
import { CODE_RE, NODE_STATES, nodesApi, normaliseCode, type NodeAccess, type NodeEvent, type SentinelNode } from '../../api/nodes';
import { useEvents } from '../../api/sse';
import { isAdmin } from '../../api/types';
import { useAuth } from '../../auth/AuthContext';
import { ErrorView, PageHeader, useApi, useNotify, when } from '../../components/common';
import { memPercent } from './spark';
import { Sparkline } from './Sparkline';
import './nodes.css';

const STATE_COLORS: Record<string, string> = { online: 'success', offline: 'default', draining: 'warning', pending: 'processing' };

type Figures = Record<string, { cpu: [number, number][]; mem: [number, number][] }>;

async function readFigures(signal?: AbortSignal): Promise<Figures> {
  const [cpu, used, total] = await Promise.all([
    nodesApi.figures('node.cpu_percent', '-30m', '30s', signal),
    nodesApi.figures('node.mem_used_bytes', '-30m', '30s', signal),
    nodesApi.figures('node.mem_total_bytes', '-30m', '30s', signal),
  ]);
  const out: Figures = {};
  const at = (a: string | null) => (out[a ?? ''] ??= { cpu: [], mem: [] });
  for (const s of cpu) at(s.agent).cpu = s.points;
  for (const s of used) {
    const t = total.find((x) => x.agent === s.agent);
    const lastTotal = t?.points[t.points.length - 1]?.[1] ?? 0;
    at(s.agent).mem = memPercent(s.points, t?.points ?? [], lastTotal);
  }
  return out;
}

function ClaimForm({ onClaimed }: { onClaimed: (n: SentinelNode) => void }) {
  const [form] = Form.useForm<{ code: string }>();
  const [busy, setBusy] = useState(false);
  const notify = useNotify();
  const submit = async ({ code }: { code: string }) => {
    setBusy(true);
    try {
      const n = await nodesApi.claim(code);
      notify.ok(`Node ${n.name} claimed: it is yours now`);
      form.resetFields();
      onClaimed(n);
    } catch (e) {
      notify.fail(e, 'The node was not claimed');
      form.setFields([{ name: 'code', errors: [e instanceof Error ? e.message : String(e)] }]);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card size="small" style={{ marginBottom: 16 }}>
      <Typography.Title level={2} style={{ fontSize: 16 }}>
        Claim a node
      </Typography.Title>
      <Typography.Paragraph type="secondary">
        A new node prints <span className="mono">Claim this node with: sentinel node claim CODE</span>. Type that code here to make the node yours.
      </Typography.Paragraph>
      <Form form={form} layout="inline" onFinish={(v) => void submit(v)} requiredMark={false} aria-label="Claim a node">
        <Form.Item
          name="code"
          label="Claim code"
          rules={[
            { required: true, message: 'Type the code the node printed' },
            {
              validator: async (_, v: string | undefined) => {
                if (v && !CODE_RE.test(normaliseCode(v))) throw new Error('A claim code is 6 letters and digits, e.g. 7DCXR6');
              },
            },
          ]}
        >
          <Input placeholder="7DCXR6" className="mono" maxLength={12} style={{ width: 140 }} autoComplete="off" />
        </Form.Item>
        <Form.Item>
          <Button type="primary" htmlType="submit" loading={busy} icon={<CloudServerOutlined />}>
            Claim
          </Button>
        </Form.Item>
      </Form>
    </Card>
  );
}

function AccessEditor({ node, onClose, onSaved }: { node: SentinelNode | undefined; onClose: () => void; onSaved: (n: SentinelNode) => void }) {
  const [form] = Form.useForm<{ name: string } & NodeAccess>();
  const { user } = useAuth();
  const notify = useNotify();
  const [busy, setBusy] = useState(false);
  const groups = useApi(async () => (node ? lookups.groups() : []), [node?.id]);
  const users = useApi(async () => (node && isAdmin(user) ? lookups.users() : []), [node?.id, user]);
  const save = async () => {
    let v: { name: string } & NodeAccess;
    try {
      v = await form.validateFields();
    } catch {
      return;
    }
    if (!node) return;
    setBusy(true);
    try {
      const n = await nodesApi.update(node.id, { name: v.name.trim(), access: { public: v.public, users: v.users ?? [], groups: v.groups ?? [] } });
      notify.ok(`Node ${n.name}: settings saved`);
      onSaved(n);
    } catch (e) {
      notify.fail(e, 'The node was not changed');
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      open={!!node}
      title={node ? `Who may use ${node.name}` : ''}
      onCancel={onClose}
      onOk={() => void save()}
      okText="Save"
      confirmLoading={busy}
      destroyOnHidden
    >
      <Form
        key={node?.id}
        form={form}
        layout="vertical"
        preserve={false}
        initialValues={node ? { name: node.name, public: node.access.public, users: node.access.users, groups: node.access.groups } : undefined}
      >
        <Form.Item name="name" label="Name" rules={[{ required: true, whitespace: true, message: 'Name the node' }, { max: 128, message: 'At most 128 characters' }]}>
          <Input />
        </Form.Item>
        <Form.Item name="public" label="Every member may use it" valuePropName="checked">
          <Switch />
        </Form.Item>
        <Form.Item name="users" label="Users" extra="The owner always may. Type a username and press Enter.">
          <Select mode="tags" placeholder="Usernames" options={(users.data ?? []).map((u) => ({ value: u, label: u }))} />
        </Form.Item>
        <Form.Item name="groups" label="Groups">
          <Select mode="multiple" placeholder="Groups" loading={groups.loading} options={(groups.data ?? []).map((g) => ({ value: g.name, label: g.name }))} />
        </Form.Item>
      </Form>
    </Modal>
  );
}

function NodesPageInner() {
  const { user } = useAuth();
  const notify = useNotify();
  const loaded = useApi(() => nodesApi.list(), []);
  const [nodes, setNodes] = useState<SentinelNode[]>([]);
  const [editing, setEditing] = useState<SentinelNode>();
  const [busy, setBusy] = useState<string>();
  const [q, setQ] = useState('');
  useEffect(() => {
    if (loaded.data) setNodes(loaded.data);
  }, [loaded.data]);

  const figures = useApi((s) => readFigures(s), []);
  const reloadNodes = loaded.reload;
  const reloadFigures = figures.reload;
  useEffect(() => {
    const a = setInterval(reloadNodes, 10_000);
    const b = setInterval(reloadFigures, 30_000);
    return () => {
      clearInterval(a);
      clearInterval(b);
    };
  }, [reloadNodes, reloadFigures]);

  const soon = useRef<ReturnType<typeof setTimeout>>();
  const reloadSoon = useCallback(() => {
    if (soon.current) return;
    soon.current = setTimeout(() => {
      soon.current = undefined;
      reloadNodes();
    }, 300);
  }, [reloadNodes]);
  useEffect(() => () => clearTimeout(soon.current), []);
  const live = useEvents<NodeEvent>('node', (e) => {
    if (e.topic === 'lagged' || e.data?.id) reloadSoon();
  });

  const replace = (n: SentinelNode) => setNodes((list) => (list.some((x) => x.id === n.id) ? list.map((x) => (x.id === n.id ? n : x)) : [...list, n]));
  const mayChange = (n: SentinelNode) => isAdmin(user) || (!!n.owner && n.owner === user?.username);

  const drain = async (n: SentinelNode, on: boolean) => {
    setBusy(n.id);
    try {
      const r = await nodesApi.drain(n.id, on);
      if (r && typeof r === 'object' && 'id' in r) replace(r);
      notify.ok(on ? `Node ${n.name} drains: it takes no new chunks` : `Node ${n.name} takes chunks again`);
      // At once: a read started before the change (the 10 s poll) is dropped.
      reloadNodes();
    } catch (e) {
      notify.fail(e, on ? 'The node was not drained' : 'The node was not resumed');
    } finally {
      setBusy(undefined);
    }
  };
  const claim = async (n: SentinelNode) => {
    if (!n.claim_code) return;
    setBusy(n.id);
    try {
      const r = await nodesApi.claim(n.claim_code);
      replace(r);
      reloadNodes();
      notify.ok(`Node ${r.name} claimed: it is yours now`);
    } catch (e) {
      notify.fail(e, 'The node was not claimed');
    } finally {
      setBusy(undefined);
    }
  };

  const shown = useMemo(() => {
    const s = q.trim().toLowerCase();
    return s ? nodes.filter((n) => n.name.toLowerCase().includes(s) || n.id.includes(s) || (n.owner ?? '').toLowerCase().includes(s)) : nodes;
  }, [nodes, q]);
  const counts = useMemo(() => Object.fromEntries(NODE_STATES.map((s) => [s, nodes.filter((n) => n.state === s).length])), [nodes]);
  const fig = figures.data ?? {};

  const columns: TableColumnsType<SentinelNode> = [
    {
      title: 'Node',
      dataIndex: 'name',
      sorter: (a, b) => a.name.localeCompare(b.name),
      render: (_, n) => (
        <Space direction="vertical" size={0}>
          <Typography.Text strong>{n.name}</Typography.Text>
          <Typography.Text type="secondary" className="mono" style={{ fontSize: 12 }}>
            {n.id}
          </Typography.Text>
          {n.claim_code && (
            <Typography.Text type="secondary" style={{ fontSize: 12 }}>
              claim code <span className="mono">{n.claim_code}</span>
            </Typography.Text>
          )}
        </Space>
      ),
    },
    {
      title: 'State',
      dataIndex: 'state',
      filters: NODE_STATES.map((s) => ({ text: s, value: s })),
      onFilter: (v, n) => n.state === v,
      sorter: (a, b) => a.state.localeCompare(b.state),
      render: (s: string, n) => (
        <Space size={4} wrap>
          <Tag color={STATE_COLORS[s]} data-state={s}>
            {s}
          </Tag>
          {n.draining && s !== 'draining' && <Tag color="warning">drained</Tag>}
        </Space>
      ),
    },
    { title: 'Owner', dataIndex: 'owner', render: (o: string | null) => o ?? '—', sorter: (a, b) => (a.owner ?? '').localeCompare(b.owner ?? ''), responsive: ['md'] },
    {
      title: 'Capacity',
      key: 'cap',
      responsive: ['sm'],
      sorter: (a, b) => a.max_parallel - b.max_parallel,
      render: (_, n) => (
        <Typography.Text style={{ fontSize: 13 }}>
          {n.max_parallel} slot{n.max_parallel === 1 ? '' : 's'} · {n.cores} cores · {(n.memory_mb / 1024).toFixed(1)} GiB
          {n.gpus ? ` · ${n.gpus} GPU` : ''}
        </Typography.Text>
      ),
    },
    {
      title: 'Running',
      dataIndex: 'running',
      sorter: (a, b) => a.running - b.running,
      render: (r: number, n) => (
        <span aria-label={`${r} of ${n.max_parallel} slots running`}>
          {r}/{n.max_parallel}
        </span>
      ),
    },
    {
      title: 'CPU (30 min)',
      key: 'cpu',
      responsive: ['sm'],
      render: (_, n) => <Sparkline points={fig[n.name]?.cpu ?? []} label={`CPU of ${n.name}`} lo={0} hi={100} unit="%" />,
    },
    {
      title: 'Memory (30 min)',
      key: 'mem',
      responsive: ['sm'],
      render: (_, n) => <Sparkline points={fig[n.name]?.mem ?? []} label={`Memory of ${n.name}`} lo={0} hi={100} unit="%" color="#a78bfa" />,
    },
    {
      title: 'Last heartbeat',
      dataIndex: 'last_heartbeat',
      sorter: (a, b) => (a.last_heartbeat ?? '').localeCompare(b.last_heartbeat ?? ''),
      render: (v: string | null, n) => (
        <Tooltip title={`load ${n.load1.toFixed(2)} · ${n.platform} · sentinel ${n.version}`}>
          <span>{when(v)}</span>
        </Tooltip>
      ),
      responsive: ['lg'],
    },
    {
      title: 'Actions',
      key: 'act',
      render: (_, n) => {
        if (n.state === 'pending')
          return n.claim_code ? (
            <Popconfirm title={`Claim ${n.name}?`} description="The node becomes yours." okText="Claim" onConfirm={() => void claim(n)}>
              <Button size="small" loading={busy === n.id} aria-label={`Claim ${n.name}`}>
                Claim
              </Button>
            </Popconfirm>
          ) : null;
        if (!mayChange(n)) return <Typography.Text type="secondary">—</Typography.Text>;
        return (
          <Space wrap size={4}>
            <Button size="small" icon={<EditOutlined />} onClick={() => setEditing(n)} aria-label={`Permissions of ${n.name}`}>
              Permissions
            </Button>
            {n.draining ? (
              <Popconfirm title={`Resume ${n.name}?`} description="It takes new chunks again." okText="Resume" onConfirm={() => void drain(n, false)}>
                <Button size="small" icon={<PlayCircleOutlined />} loading={busy === n.id} aria-label={`Resume ${n.name}`}>
                  Resume
                </Button>
              </Popconfirm>
            ) : (
              <Popconfirm
                title={`Drain ${n.name}?`}
                description="It finishes its running chunks and takes no new ones."
                okText="Drain"
                okButtonProps={{ danger: true }}
                onConfirm={() => void drain(n, true)}
              >
                <Button size="small" danger icon={<PauseCircleOutlined />} loading={busy === n.id} aria-label={`Drain ${n.name}`}>
                  Drain
                </Button>
              </Popconfirm>
            )}
          </Space>
        );
      },
    },
  ];

  return (
    <>
      <PageHeader
        title="Nodes"
        sub={`${counts.online ?? 0} online · ${counts.draining ?? 0} draining · ${counts.offline ?? 0} offline${counts.pending ? ` · ${counts.pending} pending` : ''} · live: ${live}`}
        extra={
          <Button
            icon={<ReloadOutlined />}
            onClick={() => {
              reloadNodes();
              reloadFigures();
            }}
          >
            Reload
          </Button>
        }
      />
      <ClaimForm
        onClaimed={(n) => {
          replace(n);
          reloadNodes();
        }}
      />
      <Space style={{ marginBottom: 12 }} wrap>
        <Input.Search allowClear placeholder="Name, id or owner" aria-label="Search the nodes" onChange={(e) => setQ(e.target.value)} style={{ width: 240 }} />
      </Space>
      {loaded.error !== undefined && !loaded.data ? (
        <ErrorView error={loaded.error} retry={reloadNodes} />
      ) : (
        <Table
          rowKey="id"
          size="middle"
          loading={loaded.loading && !loaded.data}
          dataSource={shown}
          columns={columns}
          pagination={{ defaultPageSize: 20, showSizeChanger: true, hideOnSinglePage: false, showTotal: (t) => `${t} node${t === 1 ? '' : 's'}` }}
          locale={{ emptyText: <Typography.Text type="secondary">{nodes.length ? 'No node matches' : 'No nodes yet: start one with sentinel node --server URL, then claim it above'}</Typography.Text> }}
        />
      )}
      <AccessEditor
        node={editing}
        onClose={() => setEditing(undefined)}
        onSaved={(n) => {
          replace(n);
          reloadNodes();
          setEditing(undefined);
        }}
      />
    </>
  );
}

export default function NodesPage() {
  return (
    <>
      <NodesPageInner />
    </>
  );
}
