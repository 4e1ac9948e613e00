// Groups (admins): list with member counts, create, delete, and a drawer
// per group to add and remove members. Groups are what datasets, models,
// agents and nodes are shared with.
import { DeleteOutlined, TeamOutlined, UserAddOutlined } from '@ant-design/icons';
import { Button, Drawer, Empty, Form, Grid, Input, Modal, Popconfirm, Select, Space, Table, Typography, type TableColumnsType } from 'antd';
import { useMemo, useState } from 'react';
import { adminApi, type GroupInfo } from '../../api/admin';
import { ErrorView, useApi, useNotify, when } from '../../components/common';
import { AdminList } from './AdminList';
import './admin.css';

interface CreateForm {
  name: string;
  description?: string;
}

function Members({ group, onChanged }: { group: GroupInfo; onChanged: () => void }) {
  const notify = useNotify();
  const detail = useApi((s) => adminApi.group(group.name, s), [group.name]);
  const users = useApi(() => adminApi.users(), []);
  const [pick, setPick] = useState<string>();
  const [busy, setBusy] = useState<string>();
  const members = detail.data?.member_list ?? [];
  const candidates = (users.data ?? []).filter((u) => !members.some((m) => m.id === u.id));

  const change = async (key: string, fn: () => Promise<unknown>, ok: string, what: string) => {
    setBusy(key);
    try {
      await fn();
      notify.ok(ok);
      detail.reload();
      onChanged();
      return true;
    } catch (e) {
      notify.fail(e, what);
      return false;
    } finally {
      setBusy(undefined);
    }
  };

  if (detail.error) return <ErrorView error={detail.error} retry={detail.reload} />;
  return (
    <>
      {group.description && <Typography.Paragraph type="secondary">{group.description}</Typography.Paragraph>}
      <Space.Compact className="adm-add">
        <Select<string>
          showSearch
          placeholder="Add a user"
          aria-label={`User to add to ${group.name}`}
          value={pick}
          onChange={setPick}
          loading={users.loading}
          options={candidates.map((u) => ({ value: u.username, label: u.username }))}
          notFoundContent={users.error ? 'The users could not be read' : 'No one left to add'}
          style={{ flex: 1, minWidth: 0 }}
        />
        <Button
          type="primary"
          icon={<UserAddOutlined />}
          disabled={!pick}
          loading={busy === 'add'}
          onClick={async () => {
            if (!pick) return;
            const u = pick;
            if (await change('add', () => adminApi.addMember(group.name, u), `${u} added to ${group.name}`, 'The member could not be added'))
              setPick(undefined);
          }}
        >
          Add
        </Button>
      </Space.Compact>
      <Table<{ id: string; username: string }>
        rowKey="id"
        size="small"
        loading={detail.loading}
        dataSource={members}
        pagination={{ pageSize: 50, hideOnSinglePage: true }}
        locale={{ emptyText: <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description="No members yet" /> }}
        columns={[
          {
            title: 'Member',
            dataIndex: 'username',
            key: 'username',
            sorter: (a, b) => a.username.localeCompare(b.username),
            defaultSortOrder: 'ascend',
          },
          {
            title: 'Remove',
            key: 'remove',
            width: 90,
            render: (_, m) => (
              <Popconfirm
                title={`Remove ${m.username} from ${group.name}?`}
                okText="Remove"
                okButtonProps={{ danger: true }}
                onConfirm={() =>
                  change(`rm:${m.id}`, () => adminApi.removeMember(group.name, m.username), `${m.username} removed from ${group.name}`, 'The member could not be removed')
                }
              >
                <Button size="small" danger icon={<DeleteOutlined />} aria-label={`Remove ${m.username}`} loading={busy === `rm:${m.id}`} />
              </Popconfirm>
            ),
          },
        ]}
      />
    </>
  );
}

function GroupsPageInner() {
  const notify = useNotify();
  const screens = Grid.useBreakpoint();
  const list = useApi(() => adminApi.groups(), []);
  const [q, setQ] = useState('');
  const [creating, setCreating] = useState(false);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<GroupInfo>();
  const [form] = Form.useForm<CreateForm>();

  const rows = useMemo(
    () => (list.data ?? []).filter((g) => !q || g.name.toLowerCase().includes(q.toLowerCase())),
    [list.data, q],
  );

  const create = async (v: CreateForm) => {
    setBusy(true);
    try {
      const g = await adminApi.createGroup({ name: v.name.trim(), description: v.description?.trim() || undefined });
      notify.ok(`Group ${g.name} created`);
      setCreating(false);
      form.resetFields();
      list.reload();
    } catch (e) {
      notify.fail(e, 'The group could not be created');
    } finally {
      setBusy(false);
    }
  };

  const remove = async (g: GroupInfo) => {
    try {
      await adminApi.deleteGroup(g.name);
      notify.ok(`Group ${g.name} deleted`);
      list.reload();
    } catch (e) {
      notify.fail(e, 'The group could not be deleted');
    }
  };

  const columns: TableColumnsType<GroupInfo> = [
    {
      title: 'Name',
      dataIndex: 'name',
      key: 'name',
      sorter: (a, b) => a.name.localeCompare(b.name),
      defaultSortOrder: 'ascend',
      render: (n: string) => <strong>{n}</strong>,
    },
    { title: 'Description', dataIndex: 'description', key: 'description', render: (d?: string | null) => d || '—' },
    { title: 'Members', dataIndex: 'members', key: 'members', sorter: (a, b) => a.members - b.members },
    { title: 'Created', dataIndex: 'created_at', key: 'created_at', sorter: (a, b) => a.created_at.localeCompare(b.created_at), render: when },
    {
      title: 'Actions',
      key: 'actions',
      render: (_, g) => (
        <Space size={4}>
          <Button size="small" icon={<TeamOutlined />} onClick={() => setOpen(g)} aria-label={`Members of ${g.name}`}>
            Members
          </Button>
          <Popconfirm
            title={`Delete the group ${g.name}?`}
            description="What was shared with it is no longer shared with its members."
            okText="Delete"
            okButtonProps={{ danger: true }}
            onConfirm={() => remove(g)}
          >
            <Button size="small" danger icon={<DeleteOutlined />} aria-label={`Delete the group ${g.name}`} />
          </Popconfirm>
        </Space>
      ),
    },
  ];

  return (
    <>
      <AdminList<GroupInfo>
        noun="group"
        title="Groups"
        sub="Teams that datasets, models, agents and nodes are shared with."
        list={list}
        rows={rows}
        columns={columns}
        q={q}
        setQ={setQ}
        onNew={() => setCreating(true)}
        none="No groups yet"
      />

      <Modal
        title="New group"
        open={creating}
        onCancel={() => setCreating(false)}
        onOk={() => form.submit()}
        okText="Create"
        confirmLoading={busy}
        destroyOnHidden
      >
        <Form<CreateForm> form={form} layout="vertical" onFinish={create} preserve={false}>
          <Form.Item
            label="Name"
            name="name"
            rules={[
              { required: true, whitespace: true, message: 'Name the group' },
              { max: 128, message: 'At most 128 characters' },
            ]}
          >
            <Input autoComplete="off" autoFocus />
          </Form.Item>
          <Form.Item label="Description" name="description">
            <Input.TextArea rows={2} maxLength={1000} />
          </Form.Item>
        </Form>
      </Modal>

      <Drawer
        title={open ? `Members of ${open.name}` : 'Members'}
        open={!!open}
        onClose={() => setOpen(undefined)}
        width={screens.md ? 480 : '100%'}
        destroyOnHidden
      >
        {open && <Members group={open} onChanged={list.reload} />}
      </Drawer>
    </>
  );
}

export default function GroupsPage() {
  return (
    <>
      <GroupsPageInner />
    </>
  );
}
