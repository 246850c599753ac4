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
  /** The publishing replica's sequence number, so it knows when its own notice came back. */
  seq: z.number().int().optional(),
});
export type JobNotice = z.infer<typeof JobNoticeSchema>;
/** On the wire, a notice also names the replica that sent it (its random tag). */
const WireNoticeSchema = JobNoticeSchema.extend({ from: z.number().int().optional() });

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
/** How long a publish waits for its notice to come back before going on (the LISTEN connection may be down). */
const ECHO_WAIT_MS = 2000;

class PostgresNotices extends LocalNotices {
  private client: pg.Client | undefined;
  private closed = false;
  /** Publishes in order: each NOTIFY waits for the one before it. */
  private tail: Promise<void> = Promise.resolve();
  /** This process's tag on its notices, and the publishes waiting for theirs to come back. */
  private readonly me = Math.floor(Math.random() * 2 ** 31);
  private seq = 0;
  private readonly echoes = new Map<number, () => void>();

  constructor(private readonly store: PostgresStore) {
    super();
  }

  async listen(): Promise<void> {
    const client = this.store.newClient();
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      let json: unknown;
      try {
        json = JSON.parse(message.payload);
      } catch {
        return;
      }
      const parsed = WireNoticeSchema.safeParse(json);
      if (!parsed.success) return;
      const { from, seq, ...notice } = parsed.data;
      this.deliver(notice);
      if (from === this.me && seq !== undefined) this.echoes.get(seq)?.();
    });
    // A lost connection is re-made; a stream that missed a notice still ends, from the row, at its next keep-alive.
    const lost = () => {
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      this.relisten();
    };
    client.on('error', lost);
    client.on('end', lost);
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
  }

  /**
   * Resolves once the notice came back through this replica's own LISTEN (or after a short wait): its streams
   * then saw the transition before anything published locally after it, such as a preview.
   */
  override publish(notice: JobNotice): Promise<void> {
    const seq = ++this.seq;
    const payload = JSON.stringify({ ...notice, from: this.me, seq });
    this.tail = this.tail
      .then(async () => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const echoed = new Promise<void>((resolve) => {
          this.echoes.set(seq, resolve);
          timer = setTimeout(resolve, this.client ? ECHO_WAIT_MS : 0);
        });
        await this.store.run('SELECT pg_notify($1, $2)', [CHANNEL, payload]);
        await echoed;
        clearTimeout(timer);
      })
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.echoes.delete(seq));
    return this.tail;
  }

  /** One retry at a time, every RECONNECT_MS, until a LISTEN connection is back. */
  private retrying = false;
  private relisten(): void {
    if (this.retrying || this.closed) return;
    this.retrying = true;
    const retry = setTimeout(() => {
      this.retrying = false;
      if (this.client || this.closed) return;
      void this.listen().catch(() => this.relisten());
    }, RECONNECT_MS);
    (retry as unknown as NodeJS.Timeout).unref();
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
