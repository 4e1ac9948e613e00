// The audit log (admins): newest first, filtered by actor, action, outcome,
// target and time, a page of 50 at a time (the server's next_cursor), and
// live: new entries matching the filters appear at the top of the first
// page as topic `audit` announces them. The filters live in the address, so
// a filtered view can be shared. The server filters all but the target,
// which is matched here on the page shown (a part of the target, any case).
import { ReloadOutlined, SearchOutlined } from '@ant-design/icons';
import { AutoComplete, Button, DatePicker, Form, Input, Select, Space, Table, Tag, Tooltip, Typography, type TableColumnsType } from 'antd';
import dayjs, { type Dayjs } from 'dayjs';
import { useCallback, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { AUDIT_ACTIONS, adminApi, auditMatches, type AuditEntry, type AuditFilter } from '../../api/admin';
import { useEvents, type SseEvent } from '../../api/sse';
import { ErrorView, PageHeader, useApi, when } from '../../components/common';
import { LiveIndicator } from '../overview/LiveIndicator';
import './admin.css';

const PAGE = 50;

interface Filters extends AuditFilter {
  target?: string;
}

interface FormValues {
  actor?: string;
  action?: string;
  outcome?: string;
  target?: string;
  range?: [Dayjs | null, Dayjs | null] | null;
}

const KEYS = ['actor', 'action', 'outcome', 'target', 'since', 'until'] as const;

export function filtersOf(p: URLSearchParams): Filters {
  const f: Filters = {};
  for (const k of KEYS) {
    const v = p.get(k);
    if (v) f[k] = v;
  }
  return f;
}

function AuditPageInner() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersOf(params), [params]);
  const key = params.toString();
  // cursors[i] is the cursor of page i (page 0: none)
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [pageNo, setPageNo] = useState(0);
  const [fresh, setFresh] = useState<AuditEntry[]>([]);
  const [form] = Form.useForm<FormValues>();

  const { target, ...server } = filters;
  const cursor = cursors[pageNo] ?? null;
  const page = useApi((s) => adminApi.audit(server, cursor, PAGE, s), [key, cursor]);

  const apply = (v: FormValues) => {
    const p = new URLSearchParams();
    if (v.actor?.trim()) p.set('actor', v.actor.trim());
    if (v.action?.trim()) p.set('action', v.action.trim());
    if (v.outcome) p.set('outcome', v.outcome);
    if (v.target?.trim()) p.set('target', v.target.trim());
    if (v.range?.[0]) p.set('since', v.range[0].toISOString());
    if (v.range?.[1]) p.set('until', v.range[1].toISOString());
    setCursors([null]);
    setPageNo(0);
    setFresh([]);
    setParams(p);
  };

  const clear = () => {
    form.resetFields();
    form.setFieldsValue({ actor: undefined, action: undefined, outcome: undefined, target: undefined, range: undefined });
    apply({});
  };

  const onEvent = useCallback(
    (e: SseEvent<AuditEntry>) => {
      const a = e.data;
      if (!a || typeof a !== 'object' || !a.id) return;
      const entry: AuditEntry = { ...a, count: a.count ?? 1 };
      if (auditMatches(entry, filters)) setFresh((f) => (f.some((x) => x.id === entry.id) ? f : [entry, ...f].slice(0, 200)));
    },
    [filters],
  );
  // live entries belong on the first page, newest first; not when the range ends in the past
  const liveOn = pageNo === 0 && !filters.until;
  const status = useEvents<AuditEntry>('audit', onEvent, { enabled: liveOn });

  const rows = useMemo(() => {
    const got = (page.data?.items ?? []).filter((r) => !target || auditMatches(r, { target }));
    if (pageNo !== 0) return got;
    const have = new Set(got.map((r) => r.id));
    return [...fresh.filter((r) => !have.has(r.id)), ...got];
  }, [page.data, fresh, pageNo, target]);

  const next = page.data?.next_cursor ?? null;

  const columns: TableColumnsType<AuditEntry> = [
    { title: 'Time', dataIndex: 'ts', key: 'ts', render: (t: string) => <span className="adm-nowrap">{when(t)}</span> },
    { title: 'Actor', dataIndex: 'actor', key: 'actor', render: (a: string | null) => a ?? <Typography.Text type="secondary">anonymous</Typography.Text> },
    { title: 'Action', dataIndex: 'action', key: 'action', render: (a: string) => <span className="mono">{a}</span> },
    { title: 'Target', dataIndex: 'target', key: 'target', render: (t: string | null) => (t ? <span className="mono adm-wrap">{t}</span> : '—') },
    {
      title: 'Outcome',
      dataIndex: 'outcome',
      key: 'outcome',
      render: (o: string, r) => (
        <Tooltip title={`HTTP ${r.status}`}>
          <Tag color={o === 'success' ? 'green' : o === 'denied' ? 'orange' : 'red'}>
            {o} {r.status}
          </Tag>
        </Tooltip>
      ),
    },
    { title: 'Count', dataIndex: 'count', key: 'count', render: (c: number) => (c > 1 ? `×${c}` : '') },
    { title: 'Address', dataIndex: 'address', key: 'address', render: (a?: string | null) => a ?? '—' },
    { title: 'Request', dataIndex: 'request_id', key: 'request_id', render: (a?: string | null) => (a ? <span className="mono">{a}</span> : '—') },
  ];

  const initial: FormValues = {
    actor: filters.actor,
    action: filters.action,
    outcome: filters.outcome,
    target: filters.target,
    range: filters.since || filters.until ? [filters.since ? dayjs(filters.since) : null, filters.until ? dayjs(filters.until) : null] : null,
  };

  return (
    <>
      <PageHeader
        title="Audit log"
        sub="Every change and every refusal, newest first."
        extra={
          <>
            {liveOn ? <LiveIndicator status={status} /> : <Tag>not live</Tag>}
            <Button icon={<ReloadOutlined />} onClick={() => { setFresh([]); page.reload(); }} aria-label="Reload the audit log">
              Reload
            </Button>
          </>
        }
      />
      <Form<FormValues> form={form} layout="inline" onFinish={apply} initialValues={initial} className="adm-filters" aria-label="Filters">
        <Form.Item label="Actor" name="actor">
          <Input allowClear placeholder="username or id" />
        </Form.Item>
        <Form.Item label="Action" name="action">
          <AutoComplete
            allowClear
            placeholder="e.g. user.create"
            options={AUDIT_ACTIONS.map((a) => ({ value: a }))}
            filterOption={(input, o) => (o?.value ?? '').toString().includes(input.toLowerCase())}
            style={{ minWidth: 190 }}
          />
        </Form.Item>
        <Form.Item label="Outcome" name="outcome">
          <Select
            allowClear
            placeholder="any"
            style={{ minWidth: 120 }}
            options={[
              { value: 'success', label: 'success' },
              { value: 'failure', label: 'failure' },
              { value: 'denied', label: 'denied' },
            ]}
          />
        </Form.Item>
        <Form.Item label="Target" name="target">
          <Input allowClear placeholder="part of the target" />
        </Form.Item>
        <Form.Item label="Time" name="range">
          <DatePicker.RangePicker showTime allowEmpty={[true, true]} aria-label="Time range" />
        </Form.Item>
        <Form.Item>
          <Space>
            <Button type="primary" htmlType="submit" icon={<SearchOutlined />}>
              Apply
            </Button>
            <Button onClick={clear}>Clear</Button>
          </Space>
        </Form.Item>
      </Form>
      {page.error ? (
        <ErrorView error={page.error} retry={page.reload} />
      ) : (
        <>
          <Table<AuditEntry>
            rowKey="id"
            size="small"
            columns={columns}
            dataSource={rows}
            loading={page.loading}
            pagination={false}
            scroll={{ x: 'max-content' }}
            rowClassName={(r) => (fresh.some((f) => f.id === r.id) ? 'adm-fresh' : '')}
            locale={{
              emptyText: (
                <Typography.Text type="secondary">
                  {target && page.data?.items.length ? 'No entry on this page matches the target' : 'No audit entries match'}
                </Typography.Text>
              ),
            }}
          />
          <div className="adm-pager" role="navigation" aria-label="Audit pages">
            <Button disabled={pageNo === 0 || page.loading} onClick={() => setPageNo((p) => Math.max(0, p - 1))}>
              Newer
            </Button>
            <span>Page {pageNo + 1}</span>
            <Button
              disabled={!next || page.loading}
              onClick={() => {
                setCursors((c) => [...c.slice(0, pageNo + 1), next]);
                setPageNo((p) => p + 1);
              }}
            >
              Older
            </Button>
          </div>
        </>
      )}
    </>
  );
}

export default function AuditPage() {
  return (
    <>
      <AuditPageInner />
    </>
  );
}
