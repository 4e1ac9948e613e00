// The list page of datasets and of scripts (both are versioned items on the
// server): header with refresh and "New", a search, active or archived, and
// the table with its empty text.
import { PlusOutlined, ReloadOutlined } from '@ant-design/icons';
import { Button, Input, Segmented, Table, Typography, type TableColumnsType } from 'antd';
import type { Item } from '../../api/datasets';
import { ErrorView, PageHeader, type Loaded } from '../../components/common';

export interface ItemListProps<T extends Item> {
  /** "dataset" or "script": the words of labels and empty texts */
  noun: string;
  title: string;
  sub: string;
  list: Loaded<T[]>;
  rows: T[];
  columns: TableColumnsType<T>;
  search: string;
  setSearch: (s: string) => void;
  archived: boolean;
  setArchived: (a: boolean) => void;
  onNew: () => void;
  /** the empty text when nothing is there at all */
  emptyHint: string;
  scrollX: number;
}

export function ItemList<T extends Item>(p: ItemListProps<T>) {
  return (
    <>
      <PageHeader
        title={p.title}
        sub={p.sub}
        extra={
          <>
            <Button icon={<ReloadOutlined />} onClick={p.list.reload} aria-label="Refresh the list" />
            <Button type="primary" icon={<PlusOutlined />} onClick={p.onNew}>
              New {p.noun}
            </Button>
          </>
        }
      />
      <div className="toolbar">
        <Input.Search
          className="grow"
          allowClear
          placeholder="Search by name or owner"
          aria-label={`Search ${p.noun}s`}
          value={p.search}
          onChange={(e) => p.setSearch(e.target.value)}
        />
        <Segmented
          aria-label={`Which ${p.noun}s`}
          value={p.archived ? 'archived' : 'active'}
          onChange={(v) => p.setArchived(v === 'archived')}
          options={[
            { value: 'active', label: 'Active' },
            { value: 'archived', label: 'Archived' },
          ]}
        />
      </div>
      {p.list.error !== undefined ? (
        <ErrorView error={p.list.error} retry={p.list.reload} />
      ) : (
        <Table<T>
          rowKey="name"
          size="middle"
          loading={p.list.loading}
          columns={p.columns}
          dataSource={p.rows}
          pagination={{ defaultPageSize: 20, showSizeChanger: true, showTotal: (n) => `${n} ${p.noun}s` }}
          locale={{
            emptyText: (
              <Typography.Text type="secondary">
                {p.search ? `No ${p.noun} matches the search.` : p.archived ? `No archived ${p.noun}s.` : p.emptyHint}
              </Typography.Text>
            ),
          }}
          scroll={{ x: p.scrollX }}
        />
      )}
    </>
  );
}
