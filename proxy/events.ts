// `GET /v1/generations/:id/events` (DESIGN.md §5): the job's current state first, then every transition until it
// ends; a comment line every 15 s keeps proxies from closing the stream. Reconnecting replays the current state.
// Transitions arrive as the store's notices (from whichever replica runs the job); the terminal events are read
// from the row, and so is the latest preview when a notice says there is a new one.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { isTerminal, type JobEvent, PartialEventSchema } from '../core/api';
import type { JobRow, JobStore } from './jobs';
import { terminalEvents } from './runner';
import type { JobNotice, JobNotices } from './store/notices';

const KEEP_ALIVE_MS = 15_000;

export interface EventStreamOptions {
  id: string;
  store: JobStore;
  notices: JobNotices;
  keepAliveMs?: number | undefined;
  /** Called once when the stream ends, however it ends. */
  onClose: () => void;
}

/** The row's preview as a `partial` event; nothing when there is none or it does not read as one. */
function previewEvent(row: JobRow | undefined): JobEvent | undefined {
  if (!row?.preview_json) return undefined;
  const parsed = PartialEventSchema.safeParse({ id: row.id, ...JSON.parse(row.preview_json) });
  return parsed.success ? { event: 'partial', data: parsed.data } : undefined;
}

export function streamJobEvents(c: Context, { id, store, notices, keepAliveMs, onClose }: EventStreamOptions) {
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (stream) => {
    const inbox: JobNotice[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    const push = (item: JobNotice) => {
      inbox.push(item);
      wake?.();
    };
    // Subscribe before reading the row, so no transition falls between them (one seen twice is said once).
    const unsubscribe = notices.subscribe(id, push);
    stream.onAbort(() => {
      closed = true;
      wake?.();
    });
    const send = (event: JobEvent) => stream.writeSSE({ event: event.event, data: JSON.stringify(event.data) });
    let said = '';
    /**
     * Index of the last preview sent: two notices may find the same preview in the row. A preview whose job completed
     * before this stream read it is gone from the row and not sent: the result supersedes it.
     */
    let shown: number | undefined;
    const showPreview = async (row: JobRow | undefined) => {
      const preview = previewEvent(row);
      if (preview?.event !== 'partial' || preview.data.index === shown) return;
      shown = preview.data.index;
      await send(preview);
    };
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
      await showPreview(row);
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
            if (now && isTerminal(now.status)) push({ id, status: now.status });
          }
          continue;
        }
        if (item.partial !== undefined) await showPreview(await store.get(id));
        else if (await status(item)) return;
      }
    } finally {
      unsubscribe();
      onClose();
    }
  });
}
