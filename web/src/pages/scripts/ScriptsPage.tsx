// The Script Lab's list: the scripts the user may read (sort, filter,
// page, search) and "New script", which opens an empty editor.
import { Form, Input, Modal, Select, Typography, type TableColumnsType } from 'antd';
import { useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { NAME_RE } from '../../api/datasets';
import { listScripts, type Language, type Script } from '../../api/scripts';
import { useApi, when } from '../../components/common';
import { visibilityOf, VisibilityTag, type Visibility } from '../datasets/common';
import { ItemList } from '../datasets/ItemList';
import '../datasets/datasets.css';

function NewScript({ open, onClose, taken }: { open: boolean; onClose: () => void; taken: Set<string> }) {
  const nav = useNavigate();
  const [name, setName] = useState('');
  const [language, setLanguage] = useState<Language>('python');
  const n = name.trim();
  const problem = !n ? undefined : !NAME_RE.test(n) ? 'Letters, digits, dot, dash and underscore (1 to 128), not starting with a dot' : taken.has(n) ? 'A script of that name exists' : undefined;
  const go = () => {
    if (!n || problem) return;
    nav(`/scripts/${encodeURIComponent(n)}?new=1&language=${language}`);
  };
  return (
    <Modal open={open} title="New script" okText="Open the editor" onOk={go} okButtonProps={{ disabled: !n || !!problem }} onCancel={onClose} destroyOnHidden>
      <Form layout="vertical" onFinish={go}>
        <Form.Item label="Name" htmlFor="script-name" validateStatus={problem ? 'error' : undefined} help={problem}>
          <Input id="script-name" value={name} onChange={(e) => setName(e.target.value)} autoFocus placeholder="e.g. clean_sales.py" />
        </Form.Item>
        <Form.Item label="Language" htmlFor="script-language">
          <Select
            id="script-language"
            value={language}
            onChange={setLanguage}
            options={[
              { value: 'python', label: 'Python' },
              { value: 'shell', label: 'Shell' },
            ]}
          />
        </Form.Item>
        <Typography.Text type="secondary">Nothing is stored until you save the first version.</Typography.Text>
      </Form>
    </Modal>
  );
}

export default function ScriptsPage() {
  const [archived, setArchived] = useState(false);
  const [search, setSearch] = useState('');
  const [creating, setCreating] = useState(false);
  const list = useApi(() => listScripts({ archived }), [archived]);
  const rows = useMemo(() => {
    const q = search.trim().toLowerCase();
    return (list.data ?? []).filter((d) => !q || d.name.toLowerCase().includes(q) || d.owner.toLowerCase().includes(q));
  }, [list.data, search]);
  const owners = useMemo(() => [...new Set((list.data ?? []).map((d) => d.owner))].sort(), [list.data]);

  const columns: TableColumnsType<Script> = [
    {
      title: 'Name',
      dataIndex: 'name',
      sorter: (a, b) => a.name.localeCompare(b.name),
      defaultSortOrder: 'ascend',
      render: (n: string) => (
        <Link className="mono" to={`/scripts/${encodeURIComponent(n)}`}>
          {n}
        </Link>
      ),
    },
    { title: 'Versions', dataIndex: 'versions', align: 'right', width: 100, sorter: (a, b) => a.versions - b.versions },
    {
      title: 'Owner',
      dataIndex: 'owner',
      sorter: (a, b) => a.owner.localeCompare(b.owner),
      filters: owners.map((o) => ({ text: o, value: o })),
      onFilter: (v, d) => d.owner === v,
    },
    {
      title: 'Visibility',
      key: 'visibility',
      filters: (['private', 'shared', 'public'] as Visibility[]).map((v) => ({ text: v, value: v })),
      onFilter: (v, d) => visibilityOf(d) === v,
      render: (_, d) => <VisibilityTag item={d} />,
    },
    { title: 'Updated', dataIndex: 'updated_at', sorter: (a, b) => a.updated_at.localeCompare(b.updated_at), render: (t: string) => when(t) },
  ];

  return (
    <>
      <ItemList<Script>
        noun="script"
        title="Script Lab"
        sub="Versioned Python and shell scripts to run as jobs"
        list={list}
        rows={rows}
        columns={columns}
        search={search}
        setSearch={setSearch}
        archived={archived}
        setArchived={setArchived}
        onNew={() => setCreating(true)}
        emptyHint='No scripts yet: write one with "New script".'
        scrollX={640}
      />
      <NewScript open={creating} onClose={() => setCreating(false)} taken={new Set((list.data ?? []).map((s) => s.name))} />
    </>
  );
}
