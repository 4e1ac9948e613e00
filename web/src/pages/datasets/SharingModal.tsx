// Who may read a dataset or a script: public to every member, or shared
// with groups for reading or also pushing versions (PATCH {public, shares}).
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { Alert, Button, Modal, Select, Space, Switch, Typography } from 'antd';
import { useEffect, useState } from 'react';
import { listGroups, type DatasetPatch, type Item, type Share } from '../../api/datasets';
import { useApi, useNotify } from '../../components/common';
import { describeError } from '../../api/client';

interface Props {
  item: Item;
  open: boolean;
  onClose: () => void;
  save: (p: DatasetPatch) => Promise<Item>;
  onSaved: (i: Item) => void;
}

export function SharingModal({ item, open, onClose, save, onSaved }: Props) {
  const notify = useNotify();
  const groups = useApi(() => (open ? listGroups() : Promise.resolve([])), [open]);
  const [pub, setPub] = useState(item.public);
  const [shares, setShares] = useState<Share[]>(item.shares);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (open) {
      setPub(item.public);
      setShares(item.shares);
    }
  }, [open, item]);

  const ok = async () => {
    setBusy(true);
    try {
      const i = await save({ public: pub, shares: shares.filter((s) => s.group) });
      notify.ok(`Sharing of ${item.name} saved`);
      onSaved(i);
      onClose();
    } catch (e) {
      notify.fail(e, 'Sharing was not saved');
    } finally {
      setBusy(false);
    }
  };

  const used = new Set(shares.map((s) => s.group));
  const options = (groups.data ?? []).map((g) => ({ value: g.name, label: g.name }));
  return (
    <Modal open={open} title={`Sharing of ${item.name}`} onCancel={onClose} onOk={() => void ok()} okText="Save" confirmLoading={busy} destroyOnHidden>
      <Space direction="vertical" style={{ width: '100%' }} size="middle">
        <Space>
          <Switch id="share-public" checked={pub} onChange={setPub} />
          <label htmlFor="share-public">Public: every member may read it</label>
        </Space>
        <Typography.Text type="secondary">
          Otherwise only its owner ({item.owner}), administrators and the groups below see it.
        </Typography.Text>
        {groups.error !== undefined && <Alert type="error" showIcon message={`Groups could not be listed: ${describeError(groups.error)}`} />}
        {shares.map((s, i) => (
          <Space key={i} wrap>
            <Select
              aria-label={`Group ${i + 1}`}
              style={{ minWidth: 180 }}
              placeholder="Group"
              value={s.group || undefined}
              options={options.filter((o) => o.value === s.group || !used.has(o.value))}
              onChange={(g: string) => setShares(shares.map((x, j) => (j === i ? { ...x, group: g } : x)))}
              showSearch
            />
            <Select
              aria-label={`Access of group ${i + 1}`}
              style={{ width: 170 }}
              value={s.access}
              options={[
                { value: 'read', label: 'Read' },
                { value: 'write', label: 'Read and push' },
              ]}
              onChange={(a: Share['access']) => setShares(shares.map((x, j) => (j === i ? { ...x, access: a } : x)))}
            />
            <Button aria-label={`Remove group ${s.group || i + 1}`} icon={<DeleteOutlined />} onClick={() => setShares(shares.filter((_, j) => j !== i))} />
          </Space>
        ))}
        <Button icon={<PlusOutlined />} onClick={() => setShares([...shares, { group: '', access: 'read' }])} disabled={options.length === used.size}>
          Share with a group
        </Button>
      </Space>
    </Modal>
  );
}
