// API tokens: the caller's own tokens for scripts, the CLI and metrics
// agents. A new token's secret is shown once, with a copy button; the server
// keeps only its hash, so it cannot be shown again. Revoking asks first.
import { CopyOutlined, DeleteOutlined, KeyOutlined, PlusOutlined } from '@ant-design/icons';
import { Alert, Button, Form, Input, InputNumber, Modal, Popconfirm, Radio, Table, Tag, Typography, type TableColumnsType } from 'antd';
import { useMemo, useState } from 'react';
import { adminApi, tokenState, type ApiToken, type NewToken, type TokenScope } from '../../api/admin';
import { ErrorView, PageHeader, useApi, useNotify, when } from '../../components/common';
import './tokens.css';

interface CreateForm {
  name: string;
  scope: TokenScope;
  expires_in_days?: number | null;
}

const stateColor = { active: 'green', expired: 'default', revoked: 'red' } as const;

function TokensPageInner() {
  const notify = useNotify();
  const list = useApi(() => adminApi.tokens(), []);
  const [creating, setCreating] = useState(false);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<NewToken>();
  const [copied, setCopied] = useState(false);
  const [showRevoked, setShowRevoked] = useState(false);
  const [form] = Form.useForm<CreateForm>();

  const create = async (v: CreateForm) => {
    setBusy(true);
    try {
      const t = await adminApi.createToken({
        name: v.name.trim(),
        scope: v.scope,
        expires_in_days: v.expires_in_days ?? undefined,
      });
      setCreating(false);
      form.resetFields();
      setCopied(false);
      setCreated(t);
      notify.ok(`Token "${t.name}" created`);
      list.reload();
    } catch (e) {
      notify.fail(e, 'The token could not be created');
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (t: ApiToken) => {
    try {
      await adminApi.revokeToken(t.id);
      notify.ok(`Token "${t.name}" revoked`);
      list.reload();
    } catch (e) {
      notify.fail(e, 'The token could not be revoked');
    }
  };

  const copy = async (text: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      notify.ok('Token copied to the clipboard');
    } catch (e) {
      notify.fail(e, 'The browser did not allow copying: select the token and copy it by hand');
    }
  };

  const rows = useMemo(
    () => (list.data ?? []).filter((t) => showRevoked || tokenState(t) !== 'revoked'),
    [list.data, showRevoked],
  );

  const columns: TableColumnsType<ApiToken> = [
    { title: 'Name', dataIndex: 'name', key: 'name', sorter: (a, b) => a.name.localeCompare(b.name), render: (n: string) => <strong>{n}</strong> },
    {
      title: 'Scope',
      dataIndex: 'scope',
      key: 'scope',
      filters: [
        { text: 'all', value: 'all' },
        { text: 'metrics:write', value: 'metrics:write' },
      ],
      onFilter: (v, t) => t.scope === v,
      render: (s: TokenScope) => <Tag color={s === 'all' ? 'cyan' : 'gold'}>{s}</Tag>,
    },
    {
      title: 'State',
      key: 'state',
      render: (_, t) => {
        const s = tokenState(t);
        return <Tag color={stateColor[s]}>{s}</Tag>;
      },
    },
    {
      title: 'Created',
      dataIndex: 'created_at',
      key: 'created_at',
      sorter: (a, b) => a.created_at.localeCompare(b.created_at),
      defaultSortOrder: 'descend',
      render: when,
    },
    { title: 'Expires', dataIndex: 'expires_at', key: 'expires_at', render: (v: string | null) => (v ? when(v) : 'never') },
    { title: 'Last used', dataIndex: 'last_used_at', key: 'last_used_at', render: (v: string | null) => (v ? when(v) : 'never') },
    {
      title: 'Actions',
      key: 'actions',
      render: (_, t) =>
        tokenState(t) === 'revoked' ? null : (
          <Popconfirm
            title={`Revoke "${t.name}"?`}
            description="Programs using it will be refused from now on."
            okText="Revoke"
            okButtonProps={{ danger: true }}
            onConfirm={() => revoke(t)}
          >
            <Button danger size="small" icon={<DeleteOutlined />} aria-label={`Revoke ${t.name}`}>
              Revoke
            </Button>
          </Popconfirm>
        ),
    },
  ];

  return (
    <>
      <PageHeader
        title="API tokens"
        sub="For scripts, the CLI and metrics agents. They act as you."
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)}>
            New token
          </Button>
        }
      />
      {list.error ? (
        <ErrorView error={list.error} retry={list.reload} />
      ) : (
        <>
          <div className="tk-filter">
            <Radio.Group
              value={showRevoked ? 'all' : 'live'}
              onChange={(e) => setShowRevoked(e.target.value === 'all')}
              optionType="button"
              size="small"
              aria-label="Which tokens to show"
              options={[
                { label: 'Not revoked', value: 'live' },
                { label: 'All', value: 'all' },
              ]}
            />
          </div>
          <Table<ApiToken>
            rowKey="id"
            columns={columns}
            dataSource={rows}
            loading={list.loading}
            pagination={{ pageSize: 20, hideOnSinglePage: true }}
            scroll={{ x: 'max-content' }}
            locale={{ emptyText: <Typography.Text type="secondary">No API tokens yet</Typography.Text> }}
          />
        </>
      )}

      <Modal
        title="New API token"
        open={creating}
        onCancel={() => setCreating(false)}
        onOk={() => form.submit()}
        okText="Create"
        confirmLoading={busy}
        destroyOnHidden
      >
        <Form<CreateForm> form={form} layout="vertical" onFinish={create} initialValues={{ scope: 'all' }} preserve={false}>
          <Form.Item
            label="Name"
            name="name"
            rules={[
              { required: true, whitespace: true, message: 'Name the token (what will use it)' },
              { max: 128, message: 'At most 128 characters' },
            ]}
          >
            <Input placeholder="ci-pipeline" autoFocus />
          </Form.Item>
          <Form.Item label="Scope" name="scope" extra="metrics:write may only push metrics and LLM calls (for agents); all may do what you may.">
            <Radio.Group
              options={[
                { label: 'all', value: 'all' },
                { label: 'metrics:write', value: 'metrics:write' },
              ]}
            />
          </Form.Item>
          <Form.Item label="Expires after (days)" name="expires_in_days" extra="Leave empty for a token that never expires.">
            <InputNumber min={1} max={3650} precision={0} style={{ width: '100%' }} />
          </Form.Item>
        </Form>
      </Modal>

      <Modal
        title={
          <span>
            <KeyOutlined /> Token created
          </span>
        }
        open={!!created}
        onCancel={() => setCreated(undefined)}
        footer={
          <Button type="primary" onClick={() => setCreated(undefined)}>
            Done
          </Button>
        }
        maskClosable={false}
        destroyOnHidden
        // no closing animation: the secret leaves the page at once
        transitionName=""
        maskTransitionName=""
      >
        {created && (
          <>
            <Alert
              type="warning"
              showIcon
              message="Copy it now: it won't be shown again."
              description="The server keeps only a hash of the token. If it is lost, revoke it and create another."
              style={{ marginBottom: 12 }}
            />
            <Typography.Paragraph>
              <strong>{created.name}</strong> (scope {created.scope}
              {created.expires_at ? `, expires ${when(created.expires_at)}` : ', never expires'})
            </Typography.Paragraph>
            <div className="tk-secret">
              <code className="mono" data-testid="new-token">
                {created.token}
              </code>
              <Button icon={<CopyOutlined />} onClick={() => copy(created.token)}>
                {copied ? 'Copied' : 'Copy'}
              </Button>
            </div>
          </>
        )}
      </Modal>
    </>
  );
}

export default function TokensPage() {
  return (
    <>
      <TokensPageInner />
    </>
  );
}
