// Users (admins): list, create with a role, change a role, disable or
// enable, reset a password, delete. The server enforces who may do what
// (admins and superadmins are made by a superadmin; the last superadmin
// stays); its refusals are shown in words.
import { DeleteOutlined, KeyOutlined, StopOutlined, CheckCircleOutlined } from '@ant-design/icons';
import { Alert, Button, Form, Input, Modal, Popconfirm, Select, Space, Tag, Tooltip, type TableColumnsType } from 'antd';
import { useMemo, useState } from 'react';
import { adminApi, ROLES, type AdminUser } from '../../api/admin';
import type { Role } from '../../api/types';
import { useUser } from '../../auth/AuthContext';
import { useApi, useNotify, when } from '../../components/common';
import { AdminList } from './AdminList';
import './admin.css';

interface CreateForm {
  username: string;
  password: string;
  role: Role;
}

const roleColor: Record<Role, string> = { member: 'default', admin: 'cyan', superadmin: 'gold' };

/** The roles a caller may give: admins and superadmins only by a superadmin. */
export function grantable(me: Role): Role[] {
  return me === 'superadmin' ? ROLES : ['member'];
}

function UsersPageInner() {
  const me = useUser();
  const notify = useNotify();
  const list = useApi(() => adminApi.users(), []);
  const [q, setQ] = useState('');
  const [creating, setCreating] = useState(false);
  const [busy, setBusy] = useState<string>();
  const [resetting, setResetting] = useState<AdminUser>();
  const [createForm] = Form.useForm<CreateForm>();
  const [resetForm] = Form.useForm<{ password: string }>();
  const roles = grantable(me.role);

  const rows = useMemo(
    () => (list.data ?? []).filter((u) => !q || u.username.toLowerCase().includes(q.toLowerCase())),
    [list.data, q],
  );

  const act = async (key: string, what: string, fn: () => Promise<unknown>, ok: string) => {
    setBusy(key);
    try {
      await fn();
      notify.ok(ok);
      list.reload();
      return true;
    } catch (e) {
      notify.fail(e, what);
      return false;
    } finally {
      setBusy(undefined);
    }
  };

  const create = async (v: CreateForm) => {
    const done = await act(
      'create',
      'The user could not be created',
      () => adminApi.createUser({ username: v.username.trim(), password: v.password, role: v.role }),
      `User ${v.username.trim()} created`,
    );
    if (done) {
      setCreating(false);
      createForm.resetFields();
    }
  };

  const reset = async (v: { password: string }) => {
    if (!resetting) return;
    const u = resetting;
    const done = await act(
      `reset:${u.id}`,
      'The password could not be reset',
      () => adminApi.updateUser(u.username, { password: v.password }),
      `Password of ${u.username} reset; their sessions and tokens are revoked`,
    );
    if (done) {
      setResetting(undefined);
      resetForm.resetFields();
    }
  };

  const columns: TableColumnsType<AdminUser> = [
    {
      title: 'Username',
      dataIndex: 'username',
      key: 'username',
      sorter: (a, b) => a.username.localeCompare(b.username),
      defaultSortOrder: 'ascend',
      render: (n: string) => (
        <strong>
          {n}
          {n === me.username && <Tag className="adm-you">you</Tag>}
        </strong>
      ),
    },
    {
      title: 'Role',
      dataIndex: 'role',
      key: 'role',
      filters: ROLES.map((r) => ({ text: r, value: r })),
      onFilter: (v, u) => u.role === v,
      sorter: (a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role),
      render: (r: Role, u) =>
        u.id === me.id || (!roles.includes(r) && me.role !== 'superadmin') ? (
          <Tag color={roleColor[r]}>{r}</Tag>
        ) : (
          <Select<Role>
            size="small"
            value={r}
            aria-label={`Role of ${u.username}`}
            style={{ minWidth: 120 }}
            loading={busy === `role:${u.id}`}
            options={ROLES.map((x) => ({ value: x, label: x, disabled: !roles.includes(x) }))}
            onChange={(nr) =>
              act(`role:${u.id}`, 'The role could not be changed', () => adminApi.updateUser(u.username, { role: nr }), `${u.username} is now ${nr}`)
            }
          />
        ),
    },
    {
      title: 'State',
      dataIndex: 'disabled',
      key: 'disabled',
      filters: [
        { text: 'enabled', value: false },
        { text: 'disabled', value: true },
      ],
      onFilter: (v, u) => u.disabled === v,
      render: (d: boolean) => (d ? <Tag color="red">disabled</Tag> : <Tag color="green">enabled</Tag>),
    },
    {
      title: 'Created',
      dataIndex: 'created_at',
      key: 'created_at',
      sorter: (a, b) => a.created_at.localeCompare(b.created_at),
      render: when,
    },
    {
      title: 'Actions',
      key: 'actions',
      render: (_, u) => {
        const self = u.id === me.id;
        return (
          <Space wrap size={4}>
            {u.disabled ? (
              <Button
                size="small"
                icon={<CheckCircleOutlined />}
                loading={busy === `dis:${u.id}`}
                onClick={() =>
                  act(`dis:${u.id}`, 'The user could not be enabled', () => adminApi.updateUser(u.username, { disabled: false }), `${u.username} enabled`)
                }
              >
                Enable
              </Button>
            ) : (
              <Popconfirm
                title={`Disable ${u.username}?`}
                description="They are logged out and cannot log in until enabled again."
                okText="Disable"
                okButtonProps={{ danger: true }}
                disabled={self}
                onConfirm={() =>
                  act(`dis:${u.id}`, 'The user could not be disabled', () => adminApi.updateUser(u.username, { disabled: true }), `${u.username} disabled`)
                }
              >
                <Tooltip title={self ? 'You cannot disable yourself here' : undefined}>
                  <Button size="small" icon={<StopOutlined />} disabled={self} loading={busy === `dis:${u.id}`}>
                    Disable
                  </Button>
                </Tooltip>
              </Popconfirm>
            )}
            <Button size="small" icon={<KeyOutlined />} onClick={() => setResetting(u)} aria-label={`Reset password of ${u.username}`}>
              Reset password
            </Button>
            <Popconfirm
              title={`Delete ${u.username}?`}
              description="The user and their tokens are removed. This cannot be undone."
              okText="Delete"
              okButtonProps={{ danger: true }}
              disabled={self}
              onConfirm={() => act(`del:${u.id}`, 'The user could not be deleted', () => adminApi.deleteUser(u.username), `${u.username} deleted`)}
            >
              <Button size="small" danger icon={<DeleteOutlined />} disabled={self} aria-label={`Delete ${u.username}`} loading={busy === `del:${u.id}`} />
            </Popconfirm>
          </Space>
        );
      },
    },
  ];

  return (
    <>
      <AdminList<AdminUser>
        noun="user"
        title="Users"
        sub="Who may log in, and with which role."
        list={list}
        rows={rows}
        columns={columns}
        q={q}
        setQ={setQ}
        onNew={() => setCreating(true)}
        none="No users"
      />

      <Modal
        title="New user"
        open={creating}
        onCancel={() => setCreating(false)}
        onOk={() => createForm.submit()}
        okText="Create"
        confirmLoading={busy === 'create'}
        destroyOnHidden
      >
        <Form<CreateForm> form={createForm} layout="vertical" onFinish={create} initialValues={{ role: 'member' }} preserve={false}>
          <Form.Item
            label="Username"
            name="username"
            rules={[
              { required: true, whitespace: true, message: 'Enter a username' },
              { max: 64, message: 'At most 64 characters' },
            ]}
          >
            <Input autoComplete="off" autoFocus />
          </Form.Item>
          <Form.Item
            label="Initial password"
            name="password"
            rules={[
              { required: true, message: 'Enter a password' },
              { min: 8, message: 'At least 8 characters' },
            ]}
          >
            <Input.Password autoComplete="new-password" />
          </Form.Item>
          <Form.Item label="Role" name="role" extra={me.role !== 'superadmin' ? 'Only a superadmin may create admins.' : undefined}>
            <Select<Role> options={ROLES.map((r) => ({ value: r, label: r, disabled: !roles.includes(r) }))} />
          </Form.Item>
        </Form>
      </Modal>

      <Modal
        title={resetting ? `Reset the password of ${resetting.username}` : 'Reset password'}
        open={!!resetting}
        onCancel={() => setResetting(undefined)}
        onOk={() => resetForm.submit()}
        okText="Reset password"
        okButtonProps={{ danger: true }}
        confirmLoading={!!resetting && busy === `reset:${resetting.id}`}
        destroyOnHidden
      >
        <Alert
          type="warning"
          showIcon
          message="All their sessions and API tokens are revoked."
          description="Scripts and agents using their tokens will need new ones."
          style={{ marginBottom: 12 }}
        />
        <Form form={resetForm} layout="vertical" onFinish={reset} preserve={false}>
          <Form.Item
            label="New password"
            name="password"
            rules={[
              { required: true, message: 'Enter a password' },
              { min: 8, message: 'At least 8 characters' },
            ]}
          >
            <Input.Password autoComplete="new-password" />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}

export default function UsersPage() {
  return (
    <>
      <UsersPageInner />
    </>
  );
}
