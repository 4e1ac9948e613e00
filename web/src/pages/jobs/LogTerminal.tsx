// A job's log in an xterm.js terminal (loaded lazily). A running job's log
// is followed (GET …/logs?follow=1 as SSE: `log` events, then `end`); a
// finished job's plain log is fetched once. Lines reach the terminal in
// batches, one per animation frame (LogBatcher): a 100,000-line log never
// costs a React update per line.
import { DownloadOutlined } from '@ant-design/icons';
import { Alert, Button, Space, Tag, Typography } from 'antd';
import { useEffect, useRef, useState } from 'react';
import { describeError } from '../../api/client';
import { jobsApi, type LogLine } from '../../api/jobs';
import { openStream, type SseStatus } from '../../api/sse';
import { formatLogLine, formatPlainLine, LogBatcher, ReplayFilter, splitLog } from './logic';

type Term = { write(d: string, cb?: () => void): void; dispose(): void; clear(): void };

export function LogTerminal({ jobId, follow }: { jobId: string; follow: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  const [lines, setLines] = useState(0);
  const [status, setStatus] = useState<SseStatus | 'done' | 'loading'>('loading');
  const [error, setError] = useState<unknown>();
  const [termError, setTermError] = useState<unknown>();
  const batcher = useRef<LogBatcher>();
  if (!batcher.current) {
    batcher.current = new LogBatcher(undefined, undefined, undefined, setLines);
  }

  // The terminal: created once, fitted to its box on every resize.
  useEffect(() => {
    let term: (Term & { open(el: HTMLElement): void }) | undefined;
    let ro: ResizeObserver | undefined;
    let gone = false;
    const b = batcher.current!;
    void Promise.all([import('@xterm/xterm'), import('@xterm/addon-fit'), import('@xterm/xterm/css/xterm.css')]).then(
      ([{ Terminal }, { FitAddon }]) => {
        if (gone || !box.current) return;
        const t = new Terminal({
          convertEol: false,
          disableStdin: true,
          scrollback: 150_000,
          fontSize: 13,
          fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
          // Colours with at least 4.5:1 on the background (axe checks the rows).
          theme: { background: '#020617', foreground: '#e2e8f0', brightBlack: '#94a3b8', red: '#f87171', yellow: '#fbbf24' },
        });
        const fit = new FitAddon();
        t.loadAddon(fit);
        t.open(box.current);
        try {
          fit.fit();
        } catch {
          /* not laid out yet */
        }
        ro = new ResizeObserver(() => {
          try {
            fit.fit();
          } catch {
            /* hidden */
          }
        });
        ro.observe(box.current);
        term = t;
        b.attach({ write: (d, done) => t.write(d, done) });
      },
      (e: unknown) => setTermError(e),
    );
    return () => {
      gone = true;
      ro?.disconnect();
      b.attach(undefined);
      term?.dispose();
    };
  }, []);

  // The lines: followed while the job runs, else the plain log.
  useEffect(() => {
    const b = batcher.current!;
    b.clear();
    setError(undefined);
    if (!follow) {
      const ac = new AbortController();
      setStatus('loading');
      jobsApi.log(jobId, ac.signal).then(
        (text) => {
          const ls = splitLog(text);
          b.push(...ls.map(formatPlainLine));
          setStatus('done');
        },
        (e: unknown) => {
          if (!ac.signal.aborted) {
            setError(e);
            setStatus('done');
          }
        },
      );
      return () => ac.abort();
    }
    const replay = new ReplayFilter();
    let ended = false;
    const s = openStream(
      jobsApi.logStreamPath(jobId),
      undefined,
      (e) => {
        if (e.topic === 'end') {
          ended = true;
          setStatus('done');
          s.close();
          return;
        }
        if (!replay.take()) return;
        const d = e.data as Partial<LogLine> & { lines?: LogLine[] };
        if (Array.isArray(d.lines)) {
          b.push(...d.lines.map((l) => formatLogLine({ ...l, chunk: d.chunk ?? l.chunk, attempt: d.attempt ?? l.attempt })));
        } else if (typeof d === 'object' && d && typeof d.text === 'string') {
          b.push(formatLogLine(d as LogLine));
        } else {
          b.push(String(e.data));
        }
      },
      (st) => {
        if (ended) return;
        if (st === 'open') replay.reopen();
        setStatus(st);
      },
      { names: ['log', 'end'] },
    );
    return () => s.close();
  }, [jobId, follow]);

  const statusTag =
    status === 'open' ? (
      <Tag color="processing">following</Tag>
    ) : status === 'reconnecting' ? (
      <Tag color="warning">reconnecting</Tag>
    ) : status === 'done' ? (
      <Tag color="default">complete</Tag>
    ) : (
      <Tag>loading</Tag>
    );

  return (
    <section aria-labelledby="log-title">
      <Space wrap style={{ marginBottom: 8, justifyContent: 'space-between', width: '100%' }}>
        <Space>
          <Typography.Title level={2} id="log-title" style={{ fontSize: 16, margin: 0 }}>
            Output
          </Typography.Title>
          {statusTag}
          <Typography.Text type="secondary" data-testid="log-lines">
            {lines.toLocaleString()} lines
          </Typography.Text>
        </Space>
        <Button
          size="small"
          icon={<DownloadOutlined />}
          href={`/api/v1/jobs/${encodeURIComponent(jobId)}/logs`}
          download={`${jobId}.log`}
        >
          Download log
        </Button>
      </Space>
      {error !== undefined && <Alert type="error" showIcon message="The log could not be read" description={describeError(error)} />}
      {termError !== undefined && <Alert type="error" showIcon message="The terminal could not be loaded" description={describeError(termError)} />}
      <div ref={box} className="job-terminal" role="log" aria-label="Job output" />
    </section>
  );
}
