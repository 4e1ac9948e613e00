// Server-Sent Events: one hook, useEvents(topic, onEvent). The browser's
// EventSource resends Last-Event-ID by itself when a stream drops and it
// retries; when it gives up (readyState CLOSED: the server answered an
// error, or restarted), this module opens a new stream after a backoff and
// passes the last id it saw as ?last_event_id=, so that no event is lost in
// between (the server replays from its ring; docs/api.md, /api/v1/events).
import { useEffect, useRef, useState } from 'react';
import { apiUrl } from './client';

export interface SseEvent<T = unknown> {
  id: string;
  topic: string;
  data: T;
}

export type SseStatus = 'connecting' | 'open' | 'reconnecting';

export interface StreamOptions {
  /** Event names to listen to (SSE `event:` lines); default: the topic. */
  names?: string[];
  /** Backoff bounds in ms. */
  minDelay?: number;
  maxDelay?: number;
  /** Lets tests pass a fake EventSource. */
  EventSourceImpl?: typeof EventSource;
}

export interface Stream {
  close(): void;
  lastId(): string | undefined;
}

/** Opens a reconnecting stream of topic (a prefix, e.g. "job" or "job.j_12"). */
export function openStream(
  path: string,
  topic: string | undefined,
  onEvent: (e: SseEvent) => void,
  onStatus: (s: SseStatus) => void = () => {},
  opts: StreamOptions = {},
): Stream {
  const ES = opts.EventSourceImpl ?? EventSource;
  const names = opts.names ?? (topic ? [topic.split('.')[0]!] : ['message']);
  const minDelay = opts.minDelay ?? 500;
  const maxDelay = opts.maxDelay ?? 15000;
  let last: string | undefined;
  let es: EventSource | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let delay = minDelay;
  let closed = false;
  let shown: SseStatus | undefined;
  const status = (s: SseStatus) => {
    if (s !== shown) onStatus((shown = s));
  };

  const handler = (name: string) => (ev: MessageEvent) => {
    if (ev.lastEventId) last = ev.lastEventId;
    let data: unknown = ev.data;
    try {
      data = JSON.parse(ev.data as string);
    } catch {
      /* not JSON: handed over as text */
    }
    onEvent({ id: ev.lastEventId, topic: name, data });
  };

  const connect = () => {
    if (closed) return;
    status(!es ? 'connecting' : 'reconnecting');
    es = new ES(apiUrl(path, { topic, last_event_id: last }), { withCredentials: true });
    for (const n of names) es.addEventListener(n, handler(n) as EventListener);
    es.addEventListener('lagged', () => onEvent({ id: last ?? '', topic: 'lagged', data: {} }));
    es.onopen = () => {
      delay = minDelay;
      status('open');
    };
    es.onerror = () => {
      if (closed || !es) return;
      if (es.readyState === ES.CLOSED) {
        es.close();
        status('reconnecting');
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, maxDelay);
      } else {
        status('reconnecting');
      }
    };
  };
  connect();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      es?.close();
    },
    lastId: () => last,
  };
}

/**
 * Subscribes a component to a topic of /api/v1/events (or another SSE route
 * given as path, e.g. a job's log with ?follow=1). onEvent may change between
 * renders; the stream is reopened only when topic, path or enabled change.
 */
export function useEvents<T = unknown>(
  topic: string | undefined,
  onEvent: (e: SseEvent<T>) => void,
  opts: { path?: string; enabled?: boolean; names?: string[] } = {},
): SseStatus {
  const [status, setStatus] = useState<SseStatus>('connecting');
  const cb = useRef(onEvent);
  cb.current = onEvent;
  const path = opts.path ?? '/api/v1/events';
  const enabled = opts.enabled ?? true;
  const names = opts.names?.join(',');
  useEffect(() => {
    if (!enabled) return undefined;
    const s = openStream(path, topic, (e) => cb.current(e as SseEvent<T>), setStatus, {
      names: names ? names.split(',') : undefined,
    });
    return () => s.close();
  }, [topic, path, enabled, names]);
  return status;
}
