// A small "live" badge for a page kept up to date by an event stream.
import { Badge } from 'antd';
import type { SseStatus } from '../../api/sse';

export function LiveIndicator({ status }: { status: SseStatus }) {
  const text = status === 'open' ? 'Live' : status === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <span role="status" aria-live="polite" style={{ whiteSpace: 'nowrap' }} data-testid="live-status">
      <Badge status={status === 'open' ? 'processing' : 'warning'} text={text} />
    </span>
  );
}
