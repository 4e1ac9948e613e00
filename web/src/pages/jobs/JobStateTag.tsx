import { Tag } from 'antd';

const COLORS: Record<string, string> = {
  pending: 'default',
  running: 'processing',
  completed: 'success',
  failed: 'error',
  cancelled: 'warning',
};

/** A job's (or chunk's) state as a coloured tag. */
export function JobStateTag({ state }: { state: string }) {
  return (
    <Tag color={COLORS[state] ?? 'default'} data-state={state}>
      {state}
    </Tag>
  );
}
