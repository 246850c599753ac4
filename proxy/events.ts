// `GET /v1/generations/:id/events` (DESIGN.md §5): the job's current state first, then every transition until it
// ends; a comment line every 15 s keeps proxies from closing the stream. Reconnecting replays the current state.
// Transitions arrive as the store's notices (from whichever replica runs the job); the terminal events are read
// from the row. Previews come from this replica's runner only: a stream opened on another replica sees none.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { isTerminal, type JobEvent } from '../core/api';
import type { JobStore } from './jobs';
import { type JobRunner, terminalEvents } from './runner';
import type { JobNotice, JobNotices } from './store/notices';

const KEEP_ALIVE_MS = 15_000;

export interface EventStreamOptions {
  id: string;
  store: JobStore;
  runner: JobRunner;
  notices: JobNotices;
  keepAliveMs?: number | undefined;
  /** Called once when the stream ends, however it ends. */
  onClose: () => void;
}

type Incoming = { notice: JobNotice } | { preview: JobEvent };

export function streamJobEvents(c: Context, { id, store, runner, notices, keepAliveMs, onClose }: EventStreamOptions) {
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (stream) => {
    const inbox: Incoming[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    const push = (item: Incoming) => {
      inbox.push(item);
      wake?.();
    };
    // Subscribe before reading the row, so no transition falls between them (one seen twice is said once).
    const unsubscribe = notices.subscribe(id, (notice) => push({ notice }));
    const unsubscribePreviews = runner.subscribePreviews(id, (preview) => push({ preview }));
    stream.onAbort(() => {
      closed = true;
      wake?.();
    });
    const send = (event: JobEvent) => stream.writeSSE({ event: event.event, data: JSON.stringify(event.data) });
    let said = '';
    /** Sends a status once; at a terminal one, the job's closing events from its row. Returns true at the end. */
    const status = async (notice: JobNotice): Promise<boolean> => {
      const key = `${notice.status}\n${notice.reason ?? ''}`;
      if (key !== said) {
        said = key;
        await send({
          event: 'status',
          data: { id, status: notice.status, ...(notice.reason ? { reason: notice.reason } : {}) },
        });
      }
      if (!isTerminal(notice.status)) return false;
      const row = await store.get(id);
      for (const event of row ? terminalEvents(row, await store.images(id)) : []) await send(event);
      return true;
    };
    try {
      const row = await store.get(id);
      if (!row) return;
      const reason = row.status === 'queued' && row.status_reason ? { reason: row.status_reason } : {};
      if (await status({ id, status: row.status, ...reason })) return;
      const partial = runner.lastPartial(id);
      if (partial) await send({ event: 'partial', data: { id, ...partial } });
      while (!closed) {
        const item = inbox.shift();
        if (!item) {
          const timedOut = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(true), keepAliveMs ?? KEEP_ALIVE_MS);
            wake = () => {
              clearTimeout(timer);
              resolve(false);
            };
          });
          wake = undefined;
          if (timedOut && !closed) {
            await stream.write(': keep-alive\n\n');
            // A notice lost with a dropped LISTEN connection: the row still says how the job ended.
            const now = await store.get(id);
            if (now && isTerminal(now.status)) push({ notice: { id, status: now.status } });
          }
          continue;
        }
        if ('preview' in item) await send(item.preview);
        else if (await status(item.notice)) return;
      }
    } finally {
      unsubscribe();
      unsubscribePreviews();
      onClose();
    }
  });
}
