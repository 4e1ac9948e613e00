// The diff of two versions: pick them (and a key for tables), then the
// schema changes, the counts, and the rows themselves with added, removed
// and changed rows highlighted (changed cells show old → new); for file
// sets, a tree of added, removed and changed files (a changed table opens
// its own row diff). The logic lives in diffModel.ts.
import { KeyOutlined, SwapOutlined } from '@ant-design/icons';
import { Alert, Button, Empty, Form, Select, Space, Spin, Table, Tag, Tree, Typography, type TableColumnsType, type TreeDataNode } from 'antd';
import { useMemo } from 'react';
import { getDiff, getManifest, getPreview, type DiffReply, type Manifest, type Preview, type TableDiff, type Version } from '../../api/datasets';
import { bytes, ErrorView, useApi } from '../../components/common';
import { changedDirs, commonColumns, countsText, fileTree, guessKey, schemaChanges, tableModel, type DiffCell, type DiffRow, type FileNode } from './diffModel';

export interface DiffParams {
  from?: number;
  to?: number;
  /** undefined: guessed from the profiles; [] : whole rows. */
  key?: string[];
  path?: string;
}

interface Props {
  dataset: string;
  versions: Version[];
  params: DiffParams;
  onChange: (p: DiffParams) => void;
}

const STATUS_TEXT: Record<string, string> = { added: 'added', removed: 'removed', changed: 'changed' };
const STATUS_COLOR: Record<string, string> = { added: 'green', removed: 'red', changed: 'gold' };

function Value({ v }: { v: string | null }) {
  if (v === null) return <span className="cell-null">null</span>;
  if (v === '') return <span className="cell-null">(empty)</span>;
  return <span className="cell-value">{v}</span>;
}

function CellView({ c }: { c: DiffCell | undefined }) {
  if (!c) return <span className="cell-unknown">—</span>;
  if (!c.known) return <span className="cell-unknown" title="unchanged">·</span>;
  if (c.changed)
    return (
      <span aria-label={`changed from ${c.old ?? 'null'} to ${c.value ?? 'null'}`}>
        <span className="diff-old">
          <Value v={c.old ?? null} />
        </span>
        <span className="diff-new">
          <Value v={c.value} />
        </span>
      </span>
    );
  return <Value v={c.value} />;
}

function Counts({ d }: { d: TableDiff }) {
  const items: [string, number][] = [
    ['added', d.counts.added],
    ['removed', d.counts.removed],
    ['changed', d.counts.changed],
    ['unchanged', d.counts.unchanged],
  ];
  return (
    <div className="counts" aria-label="Row counts">
      {items.map(([k, n]) => (
        <div key={k} className={`count-card ${k}`} data-testid={`count-${k}`}>
          <span className="n">{n.toLocaleString()}</span>
          <span>{k} rows</span>
        </div>
      ))}
    </div>
  );
}

function TableDiffView({ d, preview }: { d: TableDiff; preview?: Preview }) {
  const m = useMemo(() => tableModel(d, preview), [d, preview]);
  const changes = schemaChanges(d);
  const columns: TableColumnsType<DiffRow> = [
    {
      title: 'Row',
      key: 'status',
      fixed: 'left',
      width: 110,
      filters: ['added', 'removed', 'changed'].map((s) => ({ text: s, value: s })),
      onFilter: (v, r) => r.status === v,
      render: (_, r) => (
        <Space size={4} direction="vertical">
          <Tag color={STATUS_COLOR[r.status]}>{STATUS_TEXT[r.status]}</Tag>
          <Typography.Text type="secondary" style={{ fontSize: 12 }}>
            {r.status === 'removed' ? `old #${r.rowA}` : r.status === 'added' ? `new #${r.rowB}` : `#${r.rowA} → #${r.rowB}`}
          </Typography.Text>
        </Space>
      ),
    },
    ...m.columns.map((c) => ({
      key: `c:${c.name}`,
      title: (
        <span className={c.status === 'added' ? 'col-added' : c.status === 'removed' ? 'col-removed' : undefined}>
          {c.key && (
            <>
              <KeyOutlined aria-label="key column" />{' '}
            </>
          )}
          {c.name}
          {c.status === 'added' ? ' (new)' : c.status === 'removed' ? ' (removed)' : c.status === 'retyped' ? ` (${c.from} → ${c.to})` : ''}
        </span>
      ),
      onCell: (r: DiffRow) => ({ className: r.cells[c.name]?.changed ? 'diff-cell-changed' : undefined }),
      render: (_: unknown, r: DiffRow) => <CellView c={r.cells[c.name]} />,
    })),
  ];
  return (
    <>
      <Counts d={d} />
      {changes.length > 0 ? (
        <Alert
          type="info"
          showIcon
          message="Schema changes"
          description={
            <ul style={{ margin: 0, paddingLeft: 18 }}>
              {changes.map((c) => (
                <li key={c}>{c}</li>
              ))}
            </ul>
          }
        />
      ) : (
        <Typography.Paragraph type="secondary">Same columns in both versions.</Typography.Paragraph>
      )}
      {d.key_unique === false && (
        <Alert
          style={{ marginTop: 8 }}
          type="warning"
          showIcon
          message={`The key is not unique: ${d.duplicate_keys?.a ?? 0} repeated keys in the old version, ${d.duplicate_keys?.b ?? 0} in the new one.`}
        />
      )}
      {m.truncated.length > 0 && (
        <Alert
          style={{ marginTop: 8 }}
          type="info"
          message={`Showing the first ${d.limit ?? 50} rows of each kind; there are more ${m.truncated.join(', ')} rows than shown.`}
        />
      )}
      {d.identical ? (
        <Empty description="The two versions are identical." />
      ) : (
        <Table<DiffRow>
          className="diff-table"
          style={{ marginTop: 12 }}
          size="small"
          rowKey="id"
          rowClassName={(r) => `diff-${r.status}`}
          columns={columns}
          dataSource={m.rows}
          pagination={m.rows.length > 50 ? { defaultPageSize: 50 } : false}
          scroll={{ x: 'max-content' }}
          locale={{ emptyText: 'No rows differ (on the columns both share).' }}
        />
      )}
    </>
  );
}

function FileTreeView({ nodes, onOpen, tables }: { nodes: FileNode[]; onOpen: (path: string) => void; tables: Set<string> }) {
  const toData = (ns: FileNode[]): TreeDataNode[] =>
    ns.map((n) => ({
      key: n.key,
      isLeaf: !n.dir,
      title: (
        <span className={`file-${n.status}`}>
          {n.name}
          {n.dir ? '/' : ''}{' '}
          {n.status !== 'unchanged' && <Tag color={n.status === 'added' ? 'green' : n.status === 'removed' ? 'red' : 'gold'}>{n.status}</Tag>}
          {!n.dir && n.size !== undefined && <Typography.Text type="secondary">{bytes(n.size)}</Typography.Text>}
          {!n.dir && n.status === 'changed' && tables.has(n.key) && (
            <Button size="small" type="link" onClick={() => onOpen(n.key)}>
              compare rows
            </Button>
          )}
        </span>
      ),
      children: n.dir ? toData(n.children ?? []) : undefined,
    }));
  return <Tree treeData={toData(nodes)} defaultExpandedKeys={changedDirs(nodes)} selectable={false} showLine />;
}

function FilesetDiffView({ dataset, d, onOpen, tables }: { dataset: string; d: Extract<DiffReply, { kind: 'fileset' }>; onOpen: (p: string) => void; tables: Set<string> }) {
  const manifests = useApi(
    async (s) => {
      const get = (v: number) => getManifest(dataset, v, s).catch((): Manifest | undefined => undefined);
      return Promise.all([get(d.from), get(d.to)]);
    },
    [dataset, d.from, d.to],
  );
  const nodes = useMemo(() => (manifests.data ? fileTree(d, manifests.data[0], manifests.data[1]) : []), [d, manifests.data]);
  return (
    <>
      <div className="counts" aria-label="File counts">
        {(
          [
            ['added', d.added.length],
            ['removed', d.removed.length],
            ['changed', d.changed.length],
            ['unchanged', d.unchanged],
          ] as [string, number][]
        ).map(([k, n]) => (
          <div key={k} className={`count-card ${k}`} data-testid={`count-${k}`}>
            <span className="n">{n}</span>
            <span>{k} files</span>
          </div>
        ))}
      </div>
      {manifests.loading ? <Spin /> : <FileTreeView nodes={nodes} onOpen={onOpen} tables={tables} />}
    </>
  );
}

export function DiffView({ dataset, versions, params, onChange }: Props) {
  const byNumber = useMemo(() => new Map(versions.map((v) => [v.number, v])), [versions]);
  const newest = versions[0]?.number;
  const to = params.to ?? newest;
  const from = params.from ?? (to !== undefined ? byNumber.get(to)?.parent ?? undefined : undefined);
  const vf = from !== undefined ? byNumber.get(from) : undefined;
  const vt = to !== undefined ? byNumber.get(to) : undefined;
  // Two single files compare whatever their names; a file of a set by its path.
  const singles = vf?.kind === 'file' && vt?.kind === 'file';
  const path = params.path ?? (singles ? (vt.filename ?? undefined) : undefined);
  const pa = params.path ? vf?.profiles[params.path] : singles ? Object.values(vf.profiles)[0] : undefined;
  const pb = params.path ? vt?.profiles[params.path] : singles ? Object.values(vt.profiles)[0] : undefined;
  const key = params.key ?? guessKey(pa, pb);
  const options = versions.map((v) => ({ value: v.number, label: `v${v.number}${v.message ? ` — ${v.message}` : ''}` }));
  const ready = from !== undefined && to !== undefined && from !== to;

  const diff = useApi(
    async (s) => {
      if (!ready) return undefined;
      const d = await getDiff(dataset, from, to, { key, path: params.path }, s);
      let preview: Preview | undefined;
      if (d.kind === 'table' && d.diff.samples.changed.some((c) => c.row_b <= 1000)) {
        preview = await getPreview(dataset, to, d.path, Math.min(1000, Math.max(...d.diff.samples.changed.map((c) => c.row_b))), s).catch(() => undefined);
      }
      return { d, preview };
    },
    [dataset, from, to, key.join(','), params.path, ready],
  );

  if (versions.length < 2) return <Empty description="A diff needs two versions: upload another one." />;
  return (
    <>
      <Form layout="inline" style={{ rowGap: 8, marginBottom: 12 }}>
        <Form.Item label="From" htmlFor="diff-from">
          <Select id="diff-from" style={{ minWidth: 160, maxWidth: '100%' }} value={from} options={options} onChange={(v: number) => onChange({ ...params, from: v, to, key: undefined })} />
        </Form.Item>
        <Button aria-label="Swap the versions" icon={<SwapOutlined />} onClick={() => onChange({ ...params, from: to, to: from, key: undefined })} />
        <Form.Item label="To" htmlFor="diff-to" style={{ marginLeft: 8 }}>
          <Select id="diff-to" style={{ minWidth: 160, maxWidth: '100%' }} value={to} options={options} onChange={(v: number) => onChange({ ...params, to: v, from, key: undefined })} />
        </Form.Item>
        {path && (pa || pb) && (
          <Form.Item label="Key" htmlFor="diff-key" tooltip="Rows with the same key are compared cell by cell; without a key, whole rows are added or removed.">
            <Select
              id="diff-key"
              mode="multiple"
              allowClear
              style={{ minWidth: 180 }}
              placeholder="whole rows"
              value={key}
              options={commonColumns(pa, pb).map((c) => ({ value: c, label: c }))}
              onChange={(k: string[]) => onChange({ ...params, from, to, key: k })}
            />
          </Form.Item>
        )}
        {params.path && (
          <Form.Item>
            <Space>
              <Typography.Text>
                File <span className="mono">{params.path}</span>
              </Typography.Text>
              <Button size="small" onClick={() => onChange({ from, to })}>
                Back to the file tree
              </Button>
            </Space>
          </Form.Item>
        )}
      </Form>
      {!ready ? (
        <Empty description="Pick two different versions." />
      ) : diff.error !== undefined ? (
        <ErrorView error={diff.error} retry={diff.reload} />
      ) : diff.loading || !diff.data ? (
        <Spin tip="Comparing…">
          <div style={{ minHeight: 80 }} />
        </Spin>
      ) : diff.data.d.kind === 'table' ? (
        <>
          <Typography.Title level={2} style={{ fontSize: 16 }}>
            v{from} → v{to}: {countsText(diff.data.d.diff)}
          </Typography.Title>
          <TableDiffView d={diff.data.d.diff} preview={diff.data.preview} />
        </>
      ) : diff.data.d.kind === 'binary' ? (
        <Alert
          type={diff.data.d.identical ? 'success' : 'warning'}
          showIcon
          message={diff.data.d.identical ? 'The two versions are identical.' : 'The files differ (they are not tables, so no rows are compared).'}
        />
      ) : (
        <>
          <Typography.Title level={2} style={{ fontSize: 16 }}>
            v{from} → v{to}: files
          </Typography.Title>
          <FilesetDiffView
            dataset={dataset}
            d={diff.data.d}
            onOpen={(p) => onChange({ from, to, path: p })}
            // a changed file that is a table in both versions has a row diff
            tables={new Set(Object.keys(vf?.profiles ?? {}).filter((p) => vt?.profiles[p]))}
          />
        </>
      )}
    </>
  );
}
