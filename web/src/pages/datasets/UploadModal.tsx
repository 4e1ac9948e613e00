// Pushing a version: a first one (which creates the dataset) or a new one.
// One file goes whole (or through a resumable upload session when it is
// large); several files, or a folder, make a file set. Progress in bytes.
import { InboxOutlined } from '@ant-design/icons';
import { Alert, Button, Form, Input, Modal, Progress, Switch, Typography, Upload, type UploadFile } from 'antd';
import { useRef, useState } from 'react';
import { NAME_RE, pushVersion, RESUMABLE_MIN, type PushFile, type Version } from '../../api/datasets';
import { describeError } from '../../api/client';
import { bytes, useNotify } from '../../components/common';

interface Props {
  open: boolean;
  /** The dataset to push to; absent: a new dataset (its name is asked). */
  dataset?: string;
  onClose: () => void;
  onDone: (v: Version, name: string) => void;
}

const pathOf = (f: File) => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;

export function UploadModal({ open, dataset, onClose, onDone }: Props) {
  const notify = useNotify();
  const [name, setName] = useState('');
  const [message, setMessage] = useState('');
  const [folder, setFolder] = useState(false);
  const [list, setList] = useState<UploadFile[]>([]);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState<[number, number]>([0, 0]);
  const [retry, setRetry] = useState<string>();
  const [error, setError] = useState<unknown>();
  const ac = useRef<AbortController>();

  const files: PushFile[] = list.flatMap((u) => (u.originFileObj ? [{ path: pathOf(u.originFileObj), blob: u.originFileObj }] : []));
  const total = files.reduce((s, f) => s + f.blob.size, 0);
  const target = dataset ?? name.trim();
  const nameOk = !!dataset || NAME_RE.test(target);

  const reset = () => {
    setList([]);
    setMessage('');
    setName('');
    setSent([0, 0]);
    setRetry(undefined);
    setError(undefined);
  };

  const submit = async () => {
    if (!nameOk || files.length === 0) return;
    const c = new AbortController();
    ac.current = c;
    setBusy(true);
    setError(undefined);
    setRetry(undefined);
    setSent([0, total]);
    try {
      const v = await pushVersion(target, files, {
        message: message.trim(),
        signal: c.signal,
        onProgress: (s, t) => setSent([s, t]),
        onRetry: (n, e) => setRetry(`The connection failed (${describeError(e)}); resuming, attempt ${n}…`),
      });
      notify.ok(v.deduplicated ? `${target}: identical to version ${v.number}, nothing new stored` : `${target}: version ${v.number} uploaded`);
      reset();
      onDone(v, target);
    } catch (e) {
      if ((e as Error).name === 'AbortError') notify.info('Upload cancelled');
      else {
        setError(e);
        notify.fail(e, 'The upload failed');
      }
    } finally {
      setBusy(false);
      ac.current = undefined;
    }
  };

  const pct = sent[1] ? Math.floor((sent[0] / sent[1]) * 100) : 0;
  const big = files.length === 1 && total >= RESUMABLE_MIN;
  return (
    <Modal
      open={open}
      title={dataset ? `Upload a new version of ${dataset}` : 'New dataset'}
      onCancel={() => (busy ? ac.current?.abort() : onClose())}
      maskClosable={!busy}
      destroyOnHidden
      footer={[
        <Button key="cancel" onClick={() => (busy ? ac.current?.abort() : onClose())}>
          {busy ? 'Cancel upload' : 'Close'}
        </Button>,
        <Button key="ok" type="primary" loading={busy} disabled={!nameOk || files.length === 0} onClick={() => void submit()}>
          Upload
        </Button>,
      ]}
    >
      <Form layout="vertical" onFinish={() => void submit()}>
        {!dataset && (
          <Form.Item
            label="Name"
            htmlFor="ds-name"
            validateStatus={name && !nameOk ? 'error' : undefined}
            help={name && !nameOk ? 'Letters, digits, dot, dash and underscore (1 to 128), not starting with a dot' : undefined}
          >
            <Input id="ds-name" value={name} onChange={(e) => setName(e.target.value)} disabled={busy} autoFocus placeholder="e.g. sales-2026" />
          </Form.Item>
        )}
        <Form.Item label="Message" htmlFor="ds-message">
          <Input id="ds-message" value={message} onChange={(e) => setMessage(e.target.value)} disabled={busy} placeholder="What changed (optional)" />
        </Form.Item>
        <Form.Item label="Choose a folder (a file set of its files)" htmlFor="ds-folder">
          <Switch id="ds-folder" checked={folder} onChange={setFolder} disabled={busy} />
        </Form.Item>
        <Upload.Dragger
          multiple
          directory={folder}
          fileList={list}
          beforeUpload={() => false}
          onChange={({ fileList }) => setList(fileList)}
          disabled={busy}
          aria-label="Files to upload"
        >
          <p className="ant-upload-drag-icon">
            <InboxOutlined />
          </p>
          <p className="ant-upload-text">Click or drop files here</p>
          <p className="ant-upload-hint">One file is a version; several files (or a folder) are a file set. CSV and TSV files are profiled.</p>
        </Upload.Dragger>
        {files.length > 0 && (
          <Typography.Paragraph type="secondary" style={{ marginTop: 8 }}>
            {files.length === 1 ? '1 file' : `${files.length} files (a file set)`}, {bytes(total)}
            {big && ' — sent in resumable chunks'}
          </Typography.Paragraph>
        )}
        {(busy || sent[0] > 0) && (
          <div role="status" aria-live="polite">
            <Progress percent={pct} status={error ? 'exception' : busy ? 'active' : 'success'} aria-label="Upload progress" />
            <Typography.Text type="secondary">
              {bytes(sent[0])} of {bytes(sent[1])} sent{busy && pct === 100 ? '; the server is checking and profiling it…' : ''}
            </Typography.Text>
          </div>
        )}
        {retry && busy && <Alert type="warning" showIcon message={retry} style={{ marginTop: 8 }} />}
        {error !== undefined && <Alert type="error" showIcon message="The upload failed" description={describeError(error)} style={{ marginTop: 8 }} />}
      </Form>
    </Modal>
  );
}
