// Small pieces every page uses: a page header, an error shown in words with
// a retry, a data-loading hook, and toasts (antd's App context: never the
// browser's alert()).
import { App, Button, Result, Space, Typography } from 'antd';
import { startTransition, useCallback, useEffect, useRef, useState, type DependencyList, type ReactNode } from 'react';
import { describeError } from '../api/client';

export function PageHeader({ title, extra, sub }: { title: ReactNode; extra?: ReactNode; sub?: ReactNode }) {
  return (
    <div className="page-header">
      <div>
        <Typography.Title level={1} className="page-title">
          {title}
        </Typography.Title>
        {sub && <Typography.Text type="secondary">{sub}</Typography.Text>}
      </div>
      {extra && <Space wrap>{extra}</Space>}
    </div>
  );
}

export function ErrorView({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <Result
      status="error"
      title="Something went wrong"
      subTitle={describeError(error)}
      extra={retry && <Button onClick={retry}>Try again</Button>}
    />
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs load() now and whenever deps change (the latest call wins; an older
 * reply arriving late is dropped). reload() runs it again with the same deps.
 */
export function useApi<T>(load: (signal: AbortSignal) => Promise<T>, deps: DependencyList): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fn = useRef(load);
  fn.current = load;
  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    fn.current(ac.signal).then(
      // Results render as transitions: a page's first data is most of its
      // tree, which React then renders in slices rather than in one task.
      (d) => {
        if (ac.signal.aborted) return;
        startTransition(() => {
          setData(d);
          setError(undefined);
          setLoading(false);
        });
      },
      (e: unknown) => {
        if (ac.signal.aborted) return;
        startTransition(() => {
          setError(e);
          setLoading(false);
        });
      },
    );
    return () => ac.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** Toasts: ok(text) and fail(error, what) for every mutation's outcome. */
export function useNotify() {
  const { message, notification } = App.useApp();
  return {
    ok: (text: string) => void message.success(text),
    info: (text: string) => void message.info(text),
    fail: (e: unknown, what = 'The request failed') =>
      notification.error({ message: what, description: describeError(e), placement: 'bottomRight' }),
  };
}

export function bytes(n: number | undefined | null): string {
  if (n === undefined || n === null || Number.isNaN(n)) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
}

export function when(ts: string | number | undefined | null): string {
  if (ts === undefined || ts === null || ts === '') return '—';
  const d = typeof ts === 'number' ? new Date(ts) : new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString();
}
