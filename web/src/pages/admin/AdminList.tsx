// The list part of the users and groups pages: header with "New", a name
// search, and the table with its empty text.
import { PlusOutlined, SearchOutlined } from '@ant-design/icons';
import { Button, Input, Table, Typography, type TableColumnsType } from 'antd';
import { ErrorView, PageHeader, type Loaded } from '../../components/common';

export interface AdminListProps<T> {
  /** "user" or "group": the words of labels and empty texts */
  noun: string;
  title: string;
  sub: string;
  list: Loaded<unknown>;
  rows: T[];
  columns: TableColumnsType<T>;
  q: string;
  setQ: (q: string) => void;
  onNew: () => void;
  /** the empty text when there is nothing at all */
  none: string;
}

export function AdminList<T extends { id: string }>(p: AdminListProps<T>) {
  return (
    <>
      <PageHeader
        title={p.title}
        sub={p.sub}
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={p.onNew}>
            New {p.noun}
          </Button>
        }
      />
      {p.list.error ? (
        <ErrorView error={p.list.error} retry={p.list.reload} />
      ) : (
        <>
          <div className="adm-toolbar">
            <Input
              allowClear
              prefix={<SearchOutlined />}
              placeholder={`Find a ${p.noun}`}
              aria-label={`Find a ${p.noun} by name`}
              value={p.q}
              onChange={(e) => p.setQ(e.target.value)}
              className="adm-search"
            />
          </div>
          <Table<T>
            rowKey="id"
            columns={p.columns}
            dataSource={p.rows}
            loading={p.list.loading}
            pagination={{ pageSize: 25, hideOnSinglePage: true, showSizeChanger: false }}
            scroll={{ x: 'max-content' }}
            locale={{ emptyText: <Typography.Text type="secondary">{p.q ? `No ${p.noun} matches` : p.none}</Typography.Text> }}
          />
        </>
      )}
    </>
  );
}
