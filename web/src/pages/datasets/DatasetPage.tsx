// One dataset: its versions, a version's profile, the diff of any two
// versions, uploading a new version, sharing, archiving and (admins)
// deleting. The tab and its choices live in the address (?tab=diff&from=1&to=2),
// so a view can be linked to and survives a reload.
import { CloudUploadOutlined, DeleteOutlined, DiffOutlined, DownloadOutlined, InboxOutlined, ShareAltOutlined } from '@ant-design/icons';
import { Button, Popconfirm, Select, Space, Spin, Table, Tabs, Tag, Typography, type CheckboxProps, type TableColumnsType } from 'antd';
import { useMemo, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { ApiError } from '../../api/client';
import { contentUrl, deleteDataset, getDataset, getVersion, listVersions, patchDataset, type Version } from '../../api/datasets';
import { isAdmin } from '../../api/types';
import { useAuth } from '../../auth/AuthContext';
import { bytes, ErrorView, PageHeader, useApi, useNotify, when } from '../../components/common';
import { ItemNotFound, VisibilityTag } from './common';
import { DiffView, type DiffParams } from './DiffView';
import { ProfileView } from './ProfileView';
import { SharingModal } from './SharingModal';
import { UploadModal } from './UploadModal';
import './datasets.css';

const intOf = (s: string | null) => (s && /^\d+$/.test(s) ? Number(s) : undefined);

export default function DatasetPage() {
  const { name = '' } = useParams();
  const nav = useNavigate();
  const notify = useNotify();
  const { user } = useAuth();
  const [sp, setSp] = useSearchParams();
  const [uploading, setUploading] = useState(false);
  const [sharing, setSharing] = useState(false);
  const [picked, setPicked] = useState<number[]>([]);

  const ds = useApi((s) => getDataset(name, s), [name]);
  // after the dataset: a name the user may not read answers one 404, not two
  const versions = useApi(() => (ds.data ? listVersions(name) : Promise.resolve(undefined)), [name, ds.data?.latest_version, !!ds.data]);
  const tab = sp.get('tab') ?? 'versions';
  const vs = useMemo(() => versions.data ?? [], [versions.data]);
  const vnum = intOf(sp.get('v')) ?? vs[0]?.number;
  const fromList = vs.find((v) => v.number === vnum);
  // The list carries the profiles; a version missing from it (a link to an old one) is fetched.
  const single = useApi((s) => (vnum !== undefined && !fromList && versions.data ? getVersion(name, vnum, s) : Promise.resolve(undefined)), [name, vnum, !!fromList, !!versions.data]);
  const version: Version | undefined = fromList ?? single.data;

  const set = (changes: Record<string, string | undefined>) => {
    const next = new URLSearchParams(sp);
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined) next.delete(k);
      else next.set(k, v);
    }
    setSp(next, { replace: false });
  };
  const diffParams: DiffParams = {
    from: intOf(sp.get('from')),
    to: intOf(sp.get('to')),
    key: sp.has('key') ? (sp.get('key') ?? '').split(',').filter(Boolean) : undefined,
    path: sp.get('path') ?? undefined,
  };

  if (ds.error instanceof ApiError && ds.error.status === 404) return <ItemNotFound kind="dataset" name={name} back="/datasets" />;
  if (ds.error !== undefined) return <ErrorView error={ds.error} retry={ds.reload} />;
  if (!ds.data) return <Spin style={{ display: 'block', margin: '20vh auto' }} />;
  const d = ds.data;
  const mine = d.owner === user?.username || isAdmin(user);

  const archive = async () => {
    try {
      await patchDataset(name, { archived: !d.archived });
      notify.ok(d.archived ? `${name} restored from the archive` : `${name} archived`);
      ds.reload();
    } catch (e) {
      notify.fail(e, d.archived ? 'Could not restore it' : 'Could not archive it');
    }
  };
  const remove = async () => {
    try {
      await deleteDataset(name);
      notify.ok(`${name} deleted`);
      nav('/datasets');
    } catch (e) {
      notify.fail(e, 'Could not delete it');
    }
  };

  const vcols: TableColumnsType<Version> = [
    { title: 'Version', dataIndex: 'number', render: (n: number) => `v${n}`, sorter: (a, b) => a.number - b.number, defaultSortOrder: 'descend', width: 90 },
    { title: 'Message', dataIndex: 'message', render: (m: string) => m || <Typography.Text type="secondary">—</Typography.Text> },
    {
      title: 'Contents',
      key: 'kind',
      filters: [
        { text: 'file', value: 'file' },
        { text: 'file set', value: 'fileset' },
      ],
      onFilter: (v, r) => r.kind === v,
      render: (_, v) => (v.kind === 'fileset' ? `${v.files} files` : <span className="mono">{v.filename}</span>),
    },
    { title: 'Size', dataIndex: 'bytes', align: 'right', sorter: (a, b) => a.bytes - b.bytes, render: (b: number) => bytes(b) },
    {
      title: 'Rows',
      key: 'rows',
      align: 'right',
      render: (_, v) => {
        const ps = Object.values(v.profiles);
        return ps.length ? ps.reduce((s, p) => s + p.rows, 0).toLocaleString() : '—';
      },
    },
    { title: 'Uploader', dataIndex: 'uploader' },
    { title: 'When', dataIndex: 'created_at', render: (t: string) => when(t), sorter: (a, b) => a.created_at.localeCompare(b.created_at) },
    {
      title: 'Actions',
      key: 'act',
      render: (_, v) => (
        <Space wrap size={4}>
          <Button size="small" onClick={() => set({ tab: 'profile', v: String(v.number) })}>
            Profile
          </Button>
          {v.parent !== null && (
            <Button size="small" icon={<DiffOutlined />} onClick={() => set({ tab: 'diff', from: String(v.parent), to: String(v.number), key: undefined, path: undefined })}>
              Diff with v{v.parent}
            </Button>
          )}
          <Button
            size="small"
            icon={<DownloadOutlined />}
            href={v.kind === 'fileset' ? `${contentUrl(name, v.number)}?format=tar` : contentUrl(name, v.number)}
            aria-label={`Download v${v.number}`}
          />
        </Space>
      ),
    },
  ];

  return (
    <>
      <PageHeader
        title={d.name}
        sub={
          <Space wrap size={4}>
            <span>
              owned by {d.owner} · {d.versions} version{d.versions === 1 ? '' : 's'} · updated {when(d.updated_at)}
            </span>
            <VisibilityTag item={d} />
            {d.archived && <Tag icon={<InboxOutlined />}>Archived</Tag>}
          </Space>
        }
        extra={
          <>
            <Button type="primary" icon={<CloudUploadOutlined />} onClick={() => setUploading(true)}>
              Upload a version
            </Button>
            {mine && (
              <Button icon={<ShareAltOutlined />} onClick={() => setSharing(true)}>
                Sharing
              </Button>
            )}
            {mine && (
              <Button icon={<InboxOutlined />} onClick={() => void archive()}>
                {d.archived ? 'Unarchive' : 'Archive'}
              </Button>
            )}
            {isAdmin(user) && (
              <Popconfirm
                title={`Delete ${d.name}?`}
                description="All its versions go; this cannot be undone."
                okText="Delete"
                okButtonProps={{ danger: true }}
                onConfirm={() => void remove()}
              >
                <Button danger icon={<DeleteOutlined />}>
                  Delete
                </Button>
              </Popconfirm>
            )}
          </>
        }
      />
      <Tabs
        activeKey={tab}
        onChange={(k) => set({ tab: k })}
        items={[
          {
            key: 'versions',
            label: 'Versions',
            children:
              versions.error !== undefined ? (
                <ErrorView error={versions.error} retry={versions.reload} />
              ) : (
                <>
                  <Space wrap style={{ marginBottom: 8 }}>
                    <Button
                      icon={<DiffOutlined />}
                      disabled={picked.length !== 2}
                      onClick={() => {
                        const [a, b] = [...picked].sort((x, y) => x - y);
                        set({ tab: 'diff', from: String(a), to: String(b), key: undefined, path: undefined });
                      }}
                    >
                      Compare the two selected
                    </Button>
                    <Typography.Text type="secondary">Tick two versions to compare them.</Typography.Text>
                  </Space>
                  <Table<Version>
                    rowKey="number"
                    size="middle"
                    loading={versions.loading}
                    columns={vcols}
                    dataSource={vs}
                    rowSelection={{
                      // two at most; a select-all box would also sit in the table's aria-hidden measure row
                      hideSelectAll: true,
                      selectedRowKeys: picked,
                      onChange: (keys) => setPicked((keys as number[]).slice(-2)),
                      // rc-checkbox passes other props to its <input>: a label for screen readers
                      getCheckboxProps: (v) => ({ 'aria-label': `Select v${v.number}` }) as CheckboxProps,
                    }}
                    pagination={{ defaultPageSize: 20, hideOnSinglePage: true }}
                    scroll={{ x: 860 }}
                  />
                </>
              ),
          },
          {
            key: 'profile',
            label: 'Profile',
            children: (
              <>
                <Space wrap style={{ marginBottom: 12 }}>
                  <label htmlFor="profile-version">Version</label>
                  <Select
                    id="profile-version"
                    style={{ minWidth: 200 }}
                    value={vnum}
                    onChange={(n: number) => set({ v: String(n) })}
                    options={vs.map((v) => ({ value: v.number, label: `v${v.number}${v.message ? ` — ${v.message}` : ''}` }))}
                  />
                </Space>
                {single.error !== undefined ? (
                  <ErrorView error={single.error} retry={single.reload} />
                ) : version ? (
                  <ProfileView dataset={name} version={version} />
                ) : versions.loading || single.loading ? (
                  <Spin />
                ) : (
                  <Typography.Text type="secondary">No versions yet.</Typography.Text>
                )}
              </>
            ),
          },
          {
            key: 'diff',
            label: 'Diff',
            children: versions.data ? (
              <DiffView
                dataset={name}
                versions={vs}
                params={diffParams}
                onChange={(p) =>
                  set({
                    from: p.from?.toString(),
                    to: p.to?.toString(),
                    key: p.key === undefined ? undefined : p.key.join(','),
                    path: p.path,
                  })
                }
              />
            ) : (
              <Spin />
            ),
          },
        ]}
      />
      <Typography.Paragraph type="secondary" style={{ marginTop: 24 }}>
        <Link to="/datasets">← All datasets</Link>
      </Typography.Paragraph>
      <UploadModal
        open={uploading}
        dataset={name}
        onClose={() => setUploading(false)}
        onDone={() => {
          setUploading(false);
          ds.reload();
        }}
      />
      <SharingModal item={d} open={sharing} onClose={() => setSharing(false)} save={(p) => patchDataset(name, p)} onSaved={() => ds.reload()} />
    </>
  );
}
