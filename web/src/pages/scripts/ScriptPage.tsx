// One script in the Script Lab: edit it in Monaco, save a new version,
// browse the history and compare two versions (Monaco's diff editor), and
// "Run" a saved version through the job wizard (/jobs/new?script=&version=).
// A name that does not exist yet opens an empty editor when asked for
// (?new=1, from "New script"); its first save creates it.
import { CaretRightOutlined, HistoryOutlined, InboxOutlined, SaveOutlined, ShareAltOutlined } from '@ant-design/icons';
import { Alert, Button, Empty, Form, Input, Popconfirm, Select, Space, Spin, Table, Tabs, Tag, Typography, type TableColumnsType } from 'antd';
import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { ApiError } from '../../api/client';
import type { Version } from '../../api/datasets';
import { getScript, getScriptDiff, getScriptText, listScriptVersions, patchScript, pushScript, runUrl, type Language } from '../../api/scripts';
import { isAdmin } from '../../api/types';
import { useAuth } from '../../auth/AuthContext';
import { bytes, ErrorView, PageHeader, useApi, useNotify, when } from '../../components/common';
import { ItemNotFound, VisibilityTag } from '../datasets/common';
import { SharingModal } from '../datasets/SharingModal';
import { CodeDiff, CodeEditor } from './Editors';
import '../datasets/datasets.css';

const TEMPLATE: Record<Language, string> = {
  python: '# A Sentinel job script. Inputs and parameters arrive as the job wizard sets them.\n\ndef main():\n    print("hello from Sentinel")\n\n\nif __name__ == "__main__":\n    main()\n',
  shell: '#!/bin/sh\nset -eu\necho "hello from Sentinel"\n',
};

const intOf = (s: string | null) => (s && /^\d+$/.test(s) ? Number(s) : undefined);
const langOf = (s: string | null | undefined): Language => (s === 'shell' ? 'shell' : 'python');

function History({ name, versions, language, from, to, onPick, onOpen }: {
  name: string;
  versions: Version[];
  language: Language;
  from?: number;
  to?: number;
  onPick: (from?: number, to?: number) => void;
  onOpen: (v: number) => void;
}) {
  const nav = useNavigate();
  const t = to ?? versions[0]?.number;
  const f = from ?? (t !== undefined ? versions.find((v) => v.number === t)?.parent ?? undefined : undefined);
  const ready = f !== undefined && t !== undefined && f !== t;
  const texts = useApi(
    async (s) => {
      if (!ready) return undefined;
      const [a, b, d] = await Promise.all([getScriptText(name, f, s), getScriptText(name, t, s), getScriptDiff(name, f, t, s)]);
      return { a, b, d };
    },
    [name, f, t, ready],
  );
  const options = versions.map((v) => ({ value: v.number, label: `v${v.number}${v.message ? ` — ${v.message}` : ''}` }));
  const cols: TableColumnsType<Version> = [
    { title: 'Version', dataIndex: 'number', render: (n: number) => `v${n}`, sorter: (a, b) => a.number - b.number, defaultSortOrder: 'descend', width: 90 },
    { title: 'Message', dataIndex: 'message', render: (m: string) => m || <Typography.Text type="secondary">—</Typography.Text> },
    { title: 'Language', dataIndex: 'language', render: (l?: string) => <Tag>{l ?? '—'}</Tag> },
    { title: 'Size', dataIndex: 'bytes', align: 'right', render: (b: number) => bytes(b) },
    { title: 'Author', dataIndex: 'uploader' },
    { title: 'When', dataIndex: 'created_at', render: (x: string) => when(x) },
    {
      title: 'Actions',
      key: 'act',
      render: (_, v) => (
        <Space wrap size={4}>
          <Button size="small" onClick={() => onOpen(v.number)}>
            Open
          </Button>
          {v.parent !== null && (
            <Button size="small" onClick={() => onPick(v.parent ?? undefined, v.number)}>
              Diff with v{v.parent}
            </Button>
          )}
          <Button size="small" icon={<CaretRightOutlined />} onClick={() => nav(runUrl(name, v.number))} aria-label={`Run v${v.number}`} />
        </Space>
      ),
    },
  ];
  return (
    <>
      <Table<Version> rowKey="number" size="small" columns={cols} dataSource={versions} pagination={{ defaultPageSize: 10, hideOnSinglePage: true }} scroll={{ x: 760 }} />
      <Typography.Title level={2} style={{ fontSize: 16, marginTop: 16 }}>
        Compare two versions
      </Typography.Title>
      {versions.length < 2 ? (
        <Empty description="Save another version to compare it with this one." />
      ) : (
        <>
          <Form layout="inline" style={{ rowGap: 8, marginBottom: 12 }}>
            <Form.Item label="From" htmlFor="sdiff-from">
              <Select id="sdiff-from" style={{ minWidth: 150 }} value={f} options={options} onChange={(v: number) => onPick(v, t)} />
            </Form.Item>
            <Form.Item label="To" htmlFor="sdiff-to">
              <Select id="sdiff-to" style={{ minWidth: 150 }} value={t} options={options} onChange={(v: number) => onPick(f, v)} />
            </Form.Item>
          </Form>
          {!ready ? (
            <Empty description="Pick two different versions." />
          ) : texts.error !== undefined ? (
            <ErrorView error={texts.error} retry={texts.reload} />
          ) : !texts.data ? (
            <Spin />
          ) : (
            <>
              <Typography.Paragraph data-testid="script-diff-summary">
                v{f} → v{t}:{' '}
                {texts.data.d.identical ? (
                  'identical'
                ) : (
                  <>
                    <span className="col-added">+{texts.data.d.added}</span> / <span className="col-removed">−{texts.data.d.removed}</span> lines
                  </>
                )}
              </Typography.Paragraph>
              <CodeDiff original={texts.data.a} modified={texts.data.b} language={language === 'shell' ? 'plaintext' : 'python'} label={`Changes from v${f} to v${t}`} />
            </>
          )}
        </>
      )}
    </>
  );
}

export default function ScriptPage() {
  const { name = '' } = useParams();
  const nav = useNavigate();
  const notify = useNotify();
  const { user } = useAuth();
  const [sp, setSp] = useSearchParams();
  const isNew = sp.get('new') === '1';
  const script = useApi(async (s) => {
    try {
      return await getScript(name, s);
    } catch (e) {
      if (isNew && e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }, [name, isNew]);
  const versions = useApi(() => (script.data ? listScriptVersions(name) : Promise.resolve([] as Version[])), [name, script.data]);
  const vs = useMemo(() => versions.data ?? [], [versions.data]);
  const vnum = intOf(sp.get('v')) ?? vs[0]?.number;
  const current = vs.find((v) => v.number === vnum);
  const loaded = useApi((s) => (vnum !== undefined && script.data ? getScriptText(name, vnum, s) : Promise.resolve(undefined)), [name, vnum, !!script.data]);

  const [draft, setDraft] = useState<string>();
  const [language, setLanguage] = useState<Language>(langOf(sp.get('language')));
  const [message, setMessage] = useState('');
  const [saving, setSaving] = useState(false);
  const [sharing, setSharing] = useState(false);
  const tab = sp.get('tab') ?? 'editor';

  // A loaded version replaces the draft; a new script starts from a template.
  const [doc, setDoc] = useState({ key: 0, text: '' });
  const replace = (text: string) => {
    setDraft(text);
    setDoc((d) => ({ key: d.key + 1, text }));
  };
  useEffect(() => {
    if (loaded.data !== undefined) replace(loaded.data);
  }, [loaded.data]);
  useEffect(() => {
    if (current?.language) setLanguage(langOf(current.language));
  }, [current?.language]);
  useEffect(() => {
    if (script.data === null && draft === undefined) replace(TEMPLATE[langOf(sp.get('language'))]);
  }, [script.data, draft, sp]);

  const base = loaded.data ?? (script.data === null ? TEMPLATE[langOf(sp.get('language'))] : undefined);
  const dirty = draft !== undefined && (script.data === null || draft !== base || (current !== undefined && current.language !== language));

  useEffect(() => {
    if (!dirty) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [dirty]);

  const set = (changes: Record<string, string | undefined>) => {
    const next = new URLSearchParams(sp);
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined) next.delete(k);
      else next.set(k, v);
    }
    setSp(next);
  };

  const save = async () => {
    if (draft === undefined || saving) return;
    setSaving(true);
    try {
      const v = await pushScript(name, draft, { message: message.trim(), language });
      notify.ok(v.deduplicated ? `Identical to version ${v.number}: nothing new saved` : `Saved ${name} as version ${v.number}`);
      setMessage('');
      // the saved text is now the version's: no reload of the editor's content
      const next = new URLSearchParams(sp);
      next.delete('new');
      next.delete('language');
      next.set('v', String(v.number));
      setSp(next, { replace: true });
      script.reload();
    } catch (e) {
      notify.fail(e, 'The script was not saved');
    } finally {
      setSaving(false);
    }
  };

  const archive = async () => {
    if (!script.data) return;
    try {
      await patchScript(name, { archived: !script.data.archived });
      notify.ok(script.data.archived ? `${name} restored from the archive` : `${name} archived`);
      script.reload();
    } catch (e) {
      notify.fail(e, 'Could not change it');
    }
  };

  if (script.error instanceof ApiError && script.error.status === 404) return <ItemNotFound kind="script" name={name} back="/scripts" />;
  if (script.error !== undefined) return <ErrorView error={script.error} retry={script.reload} />;
  if (script.data === undefined) return <Spin style={{ display: 'block', margin: '20vh auto' }} />;
  const s = script.data;
  const mine = !s || s.owner === user?.username || isAdmin(user);

  const runButton = vnum !== undefined && (
    dirty ? (
      <Popconfirm
        title={`Run v${vnum}?`}
        description="Your unsaved changes are not part of it: save first to run them."
        okText={`Run v${vnum}`}
        onConfirm={() => nav(runUrl(name, vnum))}
      >
        <Button icon={<CaretRightOutlined />}>Run v{vnum}</Button>
      </Popconfirm>
    ) : (
      <Button icon={<CaretRightOutlined />} onClick={() => nav(runUrl(name, vnum))}>
        Run v{vnum}
      </Button>
    )
  );

  return (
    <>
      <PageHeader
        title={<span className="mono">{name}</span>}
        sub={
          s ? (
            <Space wrap size={4}>
              <span>
                owned by {s.owner} · {s.versions} version{s.versions === 1 ? '' : 's'} · updated {when(s.updated_at)}
              </span>
              <VisibilityTag item={s} />
              {s.archived && <Tag icon={<InboxOutlined />}>Archived</Tag>}
            </Space>
          ) : (
            'A new script: not saved yet'
          )
        }
        extra={
          <>
            {runButton}
            {s && mine && (
              <Button icon={<ShareAltOutlined />} onClick={() => setSharing(true)}>
                Sharing
              </Button>
            )}
            {s && mine && (
              <Button icon={<InboxOutlined />} onClick={() => void archive()}>
                {s.archived ? 'Unarchive' : 'Archive'}
              </Button>
            )}
          </>
        }
      />
      <Tabs
        activeKey={tab}
        onChange={(k) => set({ tab: k })}
        items={[
          {
            key: 'editor',
            label: 'Editor',
            children: (
              <>
                <Form layout="inline" style={{ rowGap: 8, marginBottom: 12 }} onFinish={() => void save()}>
                  {vs.length > 0 && (
                    <Form.Item label="Version" htmlFor="script-version">
                      <Select
                        id="script-version"
                        style={{ minWidth: 130 }}
                        value={vnum}
                        onChange={(n: number) => set({ v: String(n) })}
                        options={vs.map((v) => ({ value: v.number, label: `v${v.number}${v.number === vs[0]?.number ? ' (latest)' : ''}` }))}
                      />
                    </Form.Item>
                  )}
                  <Form.Item label="Language" htmlFor="script-lang">
                    <Select
                      id="script-lang"
                      style={{ width: 110 }}
                      value={language}
                      onChange={setLanguage}
                      options={[
                        { value: 'python', label: 'Python' },
                        { value: 'shell', label: 'Shell' },
                      ]}
                    />
                  </Form.Item>
                  <Form.Item label="Message" htmlFor="script-message" style={{ flex: '1 1 220px' }}>
                    <Input id="script-message" value={message} onChange={(e) => setMessage(e.target.value)} placeholder="What changed (optional)" />
                  </Form.Item>
                  <Form.Item>
                    <Button type="primary" htmlType="submit" icon={<SaveOutlined />} loading={saving} disabled={!dirty}>
                      {s ? 'Save a new version' : 'Save the first version'}
                    </Button>
                  </Form.Item>
                </Form>
                {dirty && s && vnum !== undefined && (
                  <Typography.Paragraph type="warning" role="status">
                    Unsaved changes (from v{vnum}).
                  </Typography.Paragraph>
                )}
                {vnum !== undefined && vs[0] && vnum !== vs[0].number && (
                  <Alert type="info" showIcon style={{ marginBottom: 8 }} message={`You are looking at v${vnum}; the latest is v${vs[0].number}. Saving makes a new version from this text.`} />
                )}
                {loaded.error !== undefined ? (
                  <ErrorView error={loaded.error} retry={loaded.reload} />
                ) : draft === undefined ? (
                  <Spin />
                ) : (
                  <CodeEditor doc={doc} onChange={setDraft} language={language === 'shell' ? 'plaintext' : 'python'} label={`Code of ${name}`} onSave={() => void save()} />
                )}
                <Typography.Paragraph type="secondary" style={{ marginTop: 8 }}>
                  Ctrl+S (⌘S) saves. Run uses a saved version; the job wizard asks for inputs and resources.
                </Typography.Paragraph>
              </>
            ),
          },
          {
            key: 'history',
            label: (
              <span>
                <HistoryOutlined /> History
              </span>
            ),
            disabled: !s,
            children: versions.error !== undefined ? (
              <ErrorView error={versions.error} retry={versions.reload} />
            ) : versions.loading && !versions.data ? (
              <Spin />
            ) : (
              <History
                name={name}
                versions={vs}
                language={language}
                from={intOf(sp.get('from'))}
                to={intOf(sp.get('to'))}
                onPick={(f, t) => set({ from: f?.toString(), to: t?.toString() })}
                onOpen={(v) => set({ v: String(v), tab: 'editor' })}
              />
            ),
          },
        ]}
      />
      <Typography.Paragraph type="secondary" style={{ marginTop: 24 }}>
        <Link to="/scripts">← All scripts</Link>
      </Typography.Paragraph>
      {s && <SharingModal item={s} open={sharing} onClose={() => setSharing(false)} save={(p) => patchScript(name, p)} onSaved={() => script.reload()} />}
    </>
  );
}
