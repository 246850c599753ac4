// Job state changes, told to every event stream that follows the job, on whichever replica it is open. With SQLite
// (one process) an in-process emitter; with PostgreSQL, NOTIFY on one channel that every replica LISTENs to. A
// notice is small (NOTIFY carries at most 8000 bytes): the job id, its status and why it waits; the stream reads
// the rest from the row. Previews are not notices: they stay on the replica that runs the job.
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { z } from 'zod';
import { JobStatusSchema } from '../../core/api';
import type { PostgresStore } from './postgres';
import type { Store } from './sql';

export const JobNoticeSchema = z.object({
  id: z.string(),
  status: JobStatusSchema,
  reason: z.string().max(500).optional(),
});
export type JobNotice = z.infer<typeof JobNoticeSchema>;

export interface JobNotices {
  /** Tells every subscriber of the job, on every replica; in the order published. */
  publish(notice: JobNotice): Promise<void>;
  /** Every notice of every job (a replica's runner watches for cancels of the jobs it runs). */
  subscribeAll(listener: (notice: JobNotice) => void): () => void;
  subscribe(jobId: string, listener: (notice: JobNotice) => void): () => void;
  close(): Promise<void>;
}

const ALL = Symbol('all');

class LocalNotices implements JobNotices {
  protected readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  async publish(notice: JobNotice): Promise<void> {
    this.deliver(notice);
  }

  protected deliver(notice: JobNotice): void {
    this.emitter.emit(notice.id, notice);
    this.emitter.emit(ALL, notice);
  }

  subscribeAll(listener: (notice: JobNotice) => void): () => void {
    this.emitter.on(ALL, listener);
    return () => this.emitter.off(ALL, listener);
  }

  subscribe(jobId: string, listener: (notice: JobNotice) => void): () => void {
    this.emitter.on(jobId, listener);
    return () => this.emitter.off(jobId, listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

export const CHANNEL = 'framefill_jobs';
const RECONNECT_MS = 1000;

class PostgresNotices extends LocalNotices {
  private client: pg.Client | undefined;
  private closed = false;
  /** Publishes in order: each NOTIFY waits for the one before it. */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly store: PostgresStore) {
    super();
  }

  async listen(): Promise<void> {
    const client = this.store.newClient();
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      const parsed = JobNoticeSchema.safeParse(JSON.parse(message.payload));
      if (parsed.success) this.deliver(parsed.data);
    });
    // A lost connection is re-made; a stream that missed a notice still ends, from the row, at its next keep-alive.
    client.on('error', () => {
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      if (this.closed) return;
      const retry = setTimeout(() => void this.listen().catch(() => undefined), RECONNECT_MS);
      (retry as unknown as NodeJS.Timeout).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
  }

  override publish(notice: JobNotice): Promise<void> {
    const payload = JSON.stringify(notice);
    this.tail = this.tail
      .then(() => this.store.run('SELECT pg_notify($1, $2)', [CHANNEL, payload]))
      .then(
        () => undefined,
        () => undefined,
      );
    return this.tail;
  }

  override async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    await super.close();
    await this.client?.end().catch(() => undefined);
  }
}

export async function noticesFor(db: Store): Promise<JobNotices> {
  if (db.engine !== 'postgres') return new LocalNotices();
  const notices = new PostgresNotices(db as PostgresStore);
  await notices.listen();
  return notices;
}
