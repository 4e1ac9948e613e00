// The datasets the user may read: a table to sort, filter and page, a
// search, archived ones on request, and "New dataset" (a first upload).
import { type TableColumnsType } from 'antd';
import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { latestVersions, listDatasets, type Dataset } from '../../api/datasets';
import { bytes, useApi, when } from '../../components/common';
import { mapLimit, visibilityOf, VisibilityTag, type Visibility } from './common';
import { ItemList } from './ItemList';
import { UploadModal } from './UploadModal';
import './datasets.css';

interface Sized {
  bytes: number;
  files: number;
  kind: string;
}

export default function DatasetsPage() {
  const nav = useNavigate();
  const [archived, setArchived] = useState(false);
  const [search, setSearch] = useState('');
  const [creating, setCreating] = useState(false);
  const list = useApi(() => listDatasets({ archived }), [archived]);
  const [sizes, setSizes] = useState<Record<string, Sized>>({});

  // The list carries no size: the latest version of each (the first 200) tells it.
  useEffect(() => {
    const items = (list.data ?? []).filter((d) => d.latest_version !== null).slice(0, 200);
    let live = true;
    void mapLimit(items, 4, async (d) => {
      try {
        const v = await latestVersions(d.name);
        if (live && v) setSizes((s) => ({ ...s, [d.name]: { bytes: v.bytes, files: v.files, kind: v.kind } }));
      } catch {
        /* the size stays unknown (—); the row itself is fine */
      }
    });
    return () => {
      live = false;
    };
  }, [list.data]);

  const rows = useMemo(() => {
    const q = search.trim().toLowerCase();
    return (list.data ?? []).filter((d) => !q || d.name.toLowerCase().includes(q) || d.owner.toLowerCase().includes(q));
  }, [list.data, search]);
  const owners = useMemo(() => [...new Set((list.data ?? []).map((d) => d.owner))].sort(), [list.data]);

  const columns: TableColumnsType<Dataset> = [
    {
      title: 'Name',
      dataIndex: 'name',
      sorter: (a, b) => a.name.localeCompare(b.name),
      defaultSortOrder: 'ascend',
      render: (n: string) => <Link to={`/datasets/${encodeURIComponent(n)}`}>{n}</Link>,
    },
    { title: 'Versions', dataIndex: 'versions', sorter: (a, b) => a.versions - b.versions, align: 'right', width: 100 },
    {
      title: 'Size',
      key: 'size',
      align: 'right',
      sorter: (a, b) => (sizes[a.name]?.bytes ?? -1) - (sizes[b.name]?.bytes ?? -1),
      render: (_, d) => {
        const s = sizes[d.name];
        if (!s) return '—';
        return s.kind === 'fileset' ? `${bytes(s.bytes)} (${s.files} files)` : bytes(s.bytes);
      },
    },
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
    {
      title: 'Updated',
      dataIndex: 'updated_at',
      sorter: (a, b) => a.updated_at.localeCompare(b.updated_at),
      render: (t: string) => when(t),
    },
  ];

  return (
    <>
      <ItemList<Dataset>
        noun="dataset"
        title="Datasets"
        sub="Versioned tables and file sets, profiled on upload"
        list={list}
        rows={rows}
        columns={columns}
        search={search}
        setSearch={setSearch}
        archived={archived}
        setArchived={setArchived}
        onNew={() => setCreating(true)}
        emptyHint="No datasets yet: upload a CSV file or a set of files to make one."
        scrollX={720}
      />
      <UploadModal
        open={creating}
        onClose={() => setCreating(false)}
        onDone={(_v, name) => {
          setCreating(false);
          nav(`/datasets/${encodeURIComponent(name)}`);
        }}
      />
    </>
  );
}
