import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openStream, type SseEvent, type SseStatus } from '../src/api/sse';

// A stand-in for the browser's EventSource that the test drives by hand.
class FakeES {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static all: FakeES[] = [];
  readyState = FakeES.CONNECTING;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  listeners = new Map<string, ((e: MessageEvent) => void)[]>();
  constructor(public url: string) {
    FakeES.all.push(this);
  }
  addEventListener(name: string, fn: (e: MessageEvent) => void) {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), fn]);
  }
  close() {
    this.readyState = FakeES.CLOSED;
  }
  open() {
    this.readyState = FakeES.OPEN;
    this.onopen?.();
  }
  emit(name: string, id: string, data: string) {
    for (const fn of this.listeners.get(name) ?? []) fn(new MessageEvent(name, { data, lastEventId: id }));
  }
  fail(closed: boolean) {
    this.readyState = closed ? FakeES.CLOSED : FakeES.CONNECTING;
    this.onerror?.();
  }
}

beforeEach(() => {
  FakeES.all = [];
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

describe('openStream', () => {
  it('parses JSON events and tracks the last id', () => {
    const got: SseEvent[] = [];
    const s = openStream('/api/v1/events', 'job', (e) => got.push(e), undefined, {
      EventSourceImpl: FakeES as unknown as typeof EventSource,
    });
    const es = FakeES.all[0]!;
    expect(es.url).toBe('/api/v1/events?topic=job');
    es.open();
    es.emit('job', '7', '{"id":"j_1","state":"running"}');
    es.emit('job', '8', 'plain text');
    expect(got).toEqual([
      { id: '7', topic: 'job', data: { id: 'j_1', state: 'running' } },
      { id: '8', topic: 'job', data: 'plain text' },
    ]);
    expect(s.lastId()).toBe('8');
    s.close();
  });

  it('reopens a closed stream from the last id, with a growing backoff', () => {
    const status: SseStatus[] = [];
    const s = openStream('/api/v1/events', 'node', () => {}, (x) => status.push(x), {
      EventSourceImpl: FakeES as unknown as typeof EventSource,
      minDelay: 100,
      maxDelay: 1000,
    });
    FakeES.all[0]!.open();
    FakeES.all[0]!.emit('node', '41', '{}');
    FakeES.all[0]!.fail(false);
    expect(FakeES.all).toHaveLength(1);
    FakeES.all[0]!.fail(true);
    vi.advanceTimersByTime(99);
    expect(FakeES.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeES.all).toHaveLength(2);
    expect(FakeES.all[1]!.url).toBe('/api/v1/events?topic=node&last_event_id=41');
    FakeES.all[1]!.fail(true);
    vi.advanceTimersByTime(199);
    expect(FakeES.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeES.all).toHaveLength(3);
    FakeES.all[2]!.open();
    expect(status).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    s.close();
    FakeES.all[2]!.fail(true);
    vi.advanceTimersByTime(5000);
    expect(FakeES.all).toHaveLength(3);
  });
});
