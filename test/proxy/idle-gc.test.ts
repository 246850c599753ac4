// The collection the proxy runs once it falls idle after work (bench/ §2): only when idle, once per busy spell,
// and it really frees what a burst left behind.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { idleGc } from '../../proxy/idle-gc';

afterEach(() => {
  vi.useRealTimers();
});

describe('idleGc', () => {
  it('collects once the proxy has been idle for idleMs, not while work is in flight', () => {
    vi.useFakeTimers();
    let busy = true;
    const collect = vi.fn();
    const collector = idleGc(() => busy, 1000, collect);
    collector.touch();
    vi.advanceTimersByTime(5000);
    expect(collect).not.toHaveBeenCalled();
    busy = false;
    vi.advanceTimersByTime(999);
    expect(collect).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(collect).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(60_000);
    expect(collect).toHaveBeenCalledTimes(1);
    collector.touch();
    collector.touch();
    vi.advanceTimersByTime(1000);
    expect(collect).toHaveBeenCalledTimes(2);
    collector.touch();
    collector.stop();
    vi.advanceTimersByTime(60_000);
    expect(collect).toHaveBeenCalledTimes(2);
  });

  it('waits for idleMs without a break: a request in the gap between two jobs puts the collection off', () => {
    vi.useFakeTimers();
    const collect = vi.fn();
    const collector = idleGc(() => false, 1000, collect);
    collector.touch(); // a job's last request ends at 0
    vi.advanceTimersByTime(700);
    collector.touch(); // the next job's upload starts at 700…
    vi.advanceTimersByTime(200);
    collector.touch(); // …and its last request ends at 900
    vi.advanceTimersByTime(999);
    expect(collect).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(collect).toHaveBeenCalledTimes(1);
  });

  it('frees buffers nothing refers to any more (V8 would otherwise wait for the next allocation)', async () => {
    let collected = false;
    const collector = idleGc(() => false, 10);
    const registry = new FinalizationRegistry(() => {
      collected = true;
    });
    (() => {
      const chunks = Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024, 1));
      registry.register(chunks, 'chunks');
    })();
    collector.touch();
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Finalizers run after the collection, on a later task.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(collected).toBe(true);
  });
});
