// A version's contents: its schema and column profiles (type, missing
// values, min/max, mean/std, distinct, the most frequent values as bars, a
// histogram when the profile has one), the first rows, and a file set's files.
import { Card, Collapse, Descriptions, Empty, Spin, Table, Tag, Tree, Typography, type TableColumnsType, type TreeDataNode } from 'antd';
import { useMemo } from 'react';
import { contentUrl, getManifest, getPreview, type ColumnProfile, type Profile, type Version } from '../../api/datasets';
import { bytes, ErrorView, useApi, when } from '../../components/common';
import { fileTree, type FileNode } from './diffModel';

const num = (v: number | string | null | undefined, digits = 4): string => {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return v.toLocaleString();
  return Number(v.toPrecision(digits)).toLocaleString(undefined, { maximumFractionDigits: 6 });
};

export function TopBars({ col, rows }: { col: ColumnProfile; rows: number }) {
  if (col.histogram?.length) {
    const max = Math.max(...col.histogram.map((h) => h.count), 1);
    return (
      <div className="hist" role="img" aria-label={`Histogram of ${col.name}: ${col.histogram.map((h) => `${num(h.lo)} to ${num(h.hi)}: ${h.count}`).join('; ')}`}>
        {col.histogram.map((h, i) => (
          <div key={i} style={{ height: `${(h.count / max) * 100}%` }} title={`${num(h.lo)} – ${num(h.hi)}: ${h.count}`} />
        ))}
      </div>
    );
  }
  if (!col.top) return <Typography.Text type="secondary">{col.top_dropped ? `not kept: ${col.top_dropped}` : 'too many values'}</Typography.Text>;
  const top = col.top.slice(0, 5);
  const total = Math.max(rows, 1);
  return (
    <div className="bars">
      {top.map((t) => (
        <div className="bar-row" key={t.value}>
          <span className="label mono" title={t.value}>
            {t.value === '' ? '(empty)' : t.value}
          </span>
          <span className="bar-track" aria-hidden>
            <span className="bar-fill" style={{ width: `${(t.count / total) * 100}%`, display: 'block' }} />
          </span>
          <span>{t.count.toLocaleString()}</span>
        </div>
      ))}
    </div>
  );
}

function ColumnsTable({ profile }: { profile: Profile }) {
  const columns: TableColumnsType<ColumnProfile> = [
    { title: 'Column', dataIndex: 'name', fixed: 'left', render: (n: string) => <span className="mono">{n}</span>, sorter: (a, b) => a.name.localeCompare(b.name) },
    {
      title: 'Type',
      dataIndex: 'type',
      render: (t: string) => <Tag>{t}</Tag>,
      filters: [...new Set(profile.columns.map((c) => c.type))].map((t) => ({ text: t, value: t })),
      onFilter: (v, c) => c.type === v,
    },
    {
      title: 'Missing',
      dataIndex: 'nulls',
      align: 'right',
      sorter: (a, b) => a.nulls - b.nulls,
      render: (n: number) => `${n.toLocaleString()}${profile.rows ? ` (${((n / profile.rows) * 100).toFixed(n && n < profile.rows / 1000 ? 2 : 0)}%)` : ''}`,
    },
    {
      title: 'Min / max',
      key: 'minmax',
      render: (_, c) =>
        c.min !== undefined ? `${num(c.min)} … ${num(c.max)}` : c.min_length !== undefined ? `length ${c.min_length} … ${c.max_length}` : '—',
    },
    { title: 'Mean ± std', key: 'mean', render: (_, c) => (c.mean !== undefined ? `${num(c.mean)} ± ${num(c.std)}` : '—') },
    {
      title: 'Distinct',
      dataIndex: 'distinct',
      align: 'right',
      sorter: (a, b) => a.distinct - b.distinct,
      render: (n: number, c) => (c.distinct_exact ? n.toLocaleString() : `≈ ${n.toLocaleString()}`),
    },
    { title: 'Top values', key: 'top', width: 260, render: (_, c) => <TopBars col={c} rows={profile.rows} /> },
  ];
  return (
    <Table<ColumnProfile>
      rowKey="name"
      size="small"
      columns={columns}
      dataSource={profile.columns}
      pagination={profile.columns.length > 25 ? { defaultPageSize: 25 } : false}
      scroll={{ x: 1000 }}
    />
  );
}

function PreviewTable({ dataset, version, path }: { dataset: string; version: number; path: string }) {
  const p = useApi((s) => getPreview(dataset, version, path, 20, s), [dataset, version, path]);
  if (p.error !== undefined) return <ErrorView error={p.error} retry={p.reload} />;
  if (!p.data) return <Spin />;
  const cols = p.data.columns.map((c, i) => ({
    title: c.name,
    key: String(i),
    render: (_: unknown, r: (string | number | boolean | null)[]) => {
      const v = r[i];
      return v === null || v === undefined ? <span className="cell-null">null</span> : String(v);
    },
  }));
  return (
    <Table
      size="small"
      rowKey={(_, i) => String(i)}
      columns={cols}
      dataSource={p.data.rows}
      pagination={false}
      scroll={{ x: 'max-content' }}
      footer={p.data.truncated ? () => 'The first 20 rows' : undefined}
    />
  );
}

function FilesTree({ dataset, version }: { dataset: string; version: Version }) {
  const m = useApi((s) => getManifest(dataset, version.number, s), [dataset, version.number]);
  const tree = useMemo(() => {
    if (!m.data) return [];
    return fileTree({ kind: 'fileset', from: version.number, to: version.number, added: [], removed: [], changed: [], unchanged: m.data.files.length }, undefined, m.data);
  }, [m.data, version.number]);
  if (m.error !== undefined) return <ErrorView error={m.error} retry={m.reload} />;
  if (!m.data) return <Spin />;
  const toData = (ns: FileNode[]): TreeDataNode[] =>
    ns.map((n) => ({
      key: n.key,
      isLeaf: !n.dir,
      title: n.dir ? (
        `${n.name}/`
      ) : (
        <a href={contentUrl(dataset, version.number, n.key)} download={n.name}>
          {n.name} <Typography.Text type="secondary">({bytes(n.size)})</Typography.Text>
        </a>
      ),
      children: n.dir ? toData(n.children ?? []) : undefined,
    }));
  return <Tree treeData={toData(tree)} defaultExpandAll selectable={false} showLine />;
}

export function ProfileView({ dataset, version }: { dataset: string; version: Version }) {
  const paths = Object.keys(version.profiles).sort();
  return (
    <>
      <Descriptions
        size="small"
        column={{ xs: 1, sm: 2, lg: 3 }}
        items={[
          { key: 'v', label: 'Version', children: version.number },
          { key: 'k', label: 'Kind', children: version.kind === 'fileset' ? `file set of ${version.files} files` : (version.filename ?? 'file') },
          { key: 'b', label: 'Size', children: bytes(version.bytes) },
          { key: 'u', label: 'Uploaded by', children: version.uploader },
          { key: 't', label: 'When', children: when(version.created_at) },
          { key: 'm', label: 'Message', children: version.message || '—' },
          { key: 's', label: 'SHA-256', children: <span className="mono" style={{ wordBreak: 'break-all' }}>{version.sha256}</span> },
        ]}
      />
      {version.kind === 'fileset' && (
        <Card size="small" title="Files" style={{ marginTop: 16 }}>
          <FilesTree dataset={dataset} version={version} />
        </Card>
      )}
      {paths.length === 0 && version.kind === 'file' && (
        <Empty style={{ marginTop: 24 }} description="This file is not a table: it has no profile." />
      )}
      {paths.map((p) => {
        const prof = version.profiles[p]!;
        return (
          <Card
            key={p}
            size="small"
            style={{ marginTop: 16 }}
            title={
              <Typography.Title level={2} style={{ fontSize: 16, margin: 0 }}>
                <span className="mono">{p}</span>
              </Typography.Title>
            }
            extra={`${prof.rows.toLocaleString()} rows · ${prof.column_count} columns`}
          >
            <ColumnsTable profile={prof} />
            <Collapse
              style={{ marginTop: 12 }}
              items={[{ key: 'rows', label: 'First rows', children: <PreviewTable dataset={dataset} version={version.number} path={p} /> }]}
            />
          </Card>
        );
      })}
    </>
  );
}
