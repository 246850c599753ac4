// `GET /v1/generations/:id/events` (DESIGN.md §5): the job's current state first, then every transition until it
// ends; a comment line every 15 s keeps proxies from closing the stream. Reconnecting replays the current state.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { isTerminal, type JobEvent } from '../core/api';
import type { JobStore } from './jobs';
import { type JobRunner, terminalEvents } from './runner';

const KEEP_ALIVE_MS = 15_000;

export interface EventStreamOptions {
  id: string;
  store: JobStore;
  runner: JobRunner;
  keepAliveMs?: number | undefined;
  /** Called once when the stream ends, however it ends. */
  onClose: () => void;
}

export function streamJobEvents(c: Context, { id, store, runner, keepAliveMs, onClose }: EventStreamOptions) {
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (stream) => {
    const inbox: JobEvent[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    // Subscribe before reading the row: both happen in this tick, so no transition falls between them.
    const unsubscribe = runner.subscribe(id, (event) => {
      inbox.push(event);
      wake?.();
    });
    stream.onAbort(() => {
      closed = true;
      wake?.();
    });
    const send = (event: JobEvent) => stream.writeSSE({ event: event.event, data: JSON.stringify(event.data) });
    try {
      const row = store.get(id);
      if (!row) return;
      const reason = row.status === 'queued' && row.status_reason ? { reason: row.status_reason } : {};
      await send({ event: 'status', data: { id, status: row.status, ...reason } });
      if (isTerminal(row.status)) {
        for (const event of terminalEvents(row, store.images(id))) await send(event);
        return;
      }
      const partial = runner.lastPartial(id);
      if (partial) await send({ event: 'partial', data: { id, ...partial } });
      while (!closed) {
        const event = inbox.shift();
        if (!event) {
          const timedOut = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(true), keepAliveMs ?? KEEP_ALIVE_MS);
            wake = () => {
              clearTimeout(timer);
              resolve(false);
            };
          });
          wake = undefined;
          if (timedOut && !closed) await stream.write(': keep-alive\n\n');
          continue;
        }
        await send(event);
        if (event.event === 'completed' || event.event === 'failed' || event.event === 'canceled') return;
      }
    } finally {
      unsubscribe();
      onClose();
    }
  });
}
