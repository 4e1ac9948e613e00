// Pieces the dataset and script pages share: who may see an item, a
// not-found view in words, and a bounded-concurrency map.
import { GlobalOutlined, LockOutlined, TeamOutlined } from '@ant-design/icons';
import { Button, Result, Tag, Tooltip } from 'antd';
import { Link } from 'react-router-dom';
import type { Item } from '../../api/datasets';

export type Visibility = 'public' | 'shared' | 'private';

export const visibilityOf = (i: Item): Visibility => (i.public ? 'public' : i.shares.length ? 'shared' : 'private');

export function VisibilityTag({ item }: { item: Item }) {
  const v = visibilityOf(item);
  if (v === 'public')
    return (
      <Tag icon={<GlobalOutlined />} color="cyan">
        Public
      </Tag>
    );
  if (v === 'shared')
    return (
      <Tooltip title={item.shares.map((s) => `${s.group} (${s.access})`).join(', ')}>
        <Tag icon={<TeamOutlined />} color="purple">
          Shared with {item.shares.map((s) => s.group).join(', ')}
        </Tag>
      </Tooltip>
    );
  return <Tag icon={<LockOutlined />}>Private</Tag>;
}

export function ItemNotFound({ kind, name, back }: { kind: 'dataset' | 'script'; name: string; back: string }) {
  return (
    <Result
      status="404"
      title={`${kind === 'dataset' ? 'Dataset' : 'Script'} not found`}
      subTitle={`There is no ${kind} named “${name}”, or you may not read it.`}
      extra={
        <Link to={back}>
          <Button type="primary">All {kind}s</Button>
        </Link>
      }
    />
  );
}

/** Runs fn over items, at most `width` at a time. */
export async function mapLimit<T, R>(items: T[], width: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

