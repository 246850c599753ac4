// Job state changes, told to every event stream that follows the job, on whichever replica it is open. With SQLite
// (one process) an in-process emitter; with PostgreSQL, NOTIFY on one channel that every replica LISTENs to. A
// notice is small (NOTIFY carries at most 8000 bytes): the job id, its status and why it waits; the stream reads
// the rest from the row — previews too: a notice says one is there.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { z } from 'zod';
import { JobStatusSchema } from '../../core/api';
import type { PostgresStore } from './postgres';
import type { Store } from './sql';

export const JobNoticeSchema = z.object({
  id: z.string(),
  status: JobStatusSchema,
  reason: z.string().max(500).optional(),
  /** A new preview of this index is in the job's row (previews are too large for a notice). */
  partial: z.number().int().nonnegative().optional(),
  /** The publishing replica's sequence number, so it knows when its own notice came back. */
  seq: z.number().int().optional(),
});
export type JobNotice = z.infer<typeof JobNoticeSchema>;
/** On the wire, a notice also names the replica that sent it (its random tag). */
const WireNoticeSchema = JobNoticeSchema.extend({ from: z.number().int().optional() });

export interface JobNotices {
  /** Tells every subscriber of the job, on every replica; in the order published. */
  publish(notice: JobNotice): Promise<void>;
  /**
   * Every notice of every job (a replica's runner watches for cancels of the jobs it runs). `following` names the
   * jobs the listener cares about: after notices were missed, those are told their state too.
   */
  subscribeAll(listener: (notice: JobNotice) => void, following?: () => Iterable<string>): () => void;
  subscribe(jobId: string, listener: (notice: JobNotice) => void): () => void;
  close(): Promise<void>;
}

const ALL = Symbol('all');

class LocalNotices implements JobNotices {
  protected readonly emitter = new EventEmitter();
  protected readonly followers = new Set<() => Iterable<string>>();

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

  subscribeAll(listener: (notice: JobNotice) => void, following?: () => Iterable<string>): () => void {
    this.emitter.on(ALL, listener);
    if (following) this.followers.add(following);
    return () => {
      this.emitter.off(ALL, listener);
      if (following) this.followers.delete(following);
    };
  }

  subscribe(jobId: string, listener: (notice: JobNotice) => void): () => void {
    this.emitter.on(jobId, listener);
    return () => this.emitter.off(jobId, listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
    this.followers.clear();
  }
}

export const CHANNEL = 'framefill_jobs';
/** How a lost LISTEN connection is re-made: at once-ish, then a little slower each time, never slower than the cap. */
const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 2000;
/** How long a publish waits for its notice to come back before going on (the LISTEN connection may be down). */
const ECHO_WAIT_MS = 2000;

interface StatusRow {
  id: string;
  status: string;
  status_reason: string | null;
}

class PostgresNotices extends LocalNotices {
  private client: pg.Client | undefined;
  private closed = false;
  private reconnecting = false;
  /** Publishes in order: each NOTIFY waits for the one before it. */
  private tail: Promise<void> = Promise.resolve();
  /** This process's tag on its notices, and the publishes waiting for theirs to come back. */
  private readonly me = Math.floor(Math.random() * 2 ** 31);
  private seq = 0;
  private readonly echoes = new Map<number, () => void>();

  constructor(private readonly store: PostgresStore) {
    super();
  }

  /** Connects and LISTENs; then tells the followed jobs their state, which notices may have changed meanwhile. */
  async listen(): Promise<void> {
    const client = this.store.newClient();
    let ended = false;
    client.on('notification', (message) => this.received(message));
    const lost = () => {
      ended = true;
      if (this.client !== client) return;
      this.client = undefined;
      void client.end().catch(() => undefined);
      void this.reconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (ended) throw new Error('the LISTEN connection closed as it opened');
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      // Closed while this connection was being made (a reconnect): it must not keep the process alive.
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    await this.resync(client);
  }

  private received(message: pg.Notification): void {
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
  }

  /**
   * The notices sent while no connection listened are gone: each job a stream follows here, or this replica runs, is
   * told its state from its row. A job that ended meanwhile ends its streams now (a stream says a repeated status
   * once), and one canceled through another replica stops its upstream call here.
   */
  private async resync(client: pg.Client): Promise<void> {
    const ids = new Set(this.emitter.eventNames().filter((name): name is string => typeof name === 'string'));
    for (const following of this.followers) for (const id of following()) ids.add(id);
    if (ids.size === 0) return;
    let rows: StatusRow[];
    try {
      rows = (
        await client.query<StatusRow>('SELECT id, status, status_reason FROM jobs WHERE id = ANY($1)', [[...ids]])
      ).rows;
    } catch {
      // The connection went again: its loss starts the next attempt, which reads the rows again.
      return;
    }
    for (const row of rows) {
      const status = JobStatusSchema.safeParse(row.status);
      if (!status.success) continue;
      const reason = status.data === 'queued' && row.status_reason ? { reason: row.status_reason } : {};
      this.deliver({ id: row.id, status: status.data, ...reason });
    }
  }

  /** Until a LISTEN connection is back (one loop at a time), waiting a little longer after each failure. */
  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      for (
        let delay = RECONNECT_FIRST_MS;
        !this.closed && !this.client;
        delay = Math.min(delay * 2, RECONNECT_MAX_MS)
      ) {
        await sleep(delay, undefined, { ref: false });
        if (this.closed) return;
        try {
          await this.listen();
        } catch {
          // The server is not back yet: try again after a longer wait.
        }
      }
    } finally {
      this.reconnecting = false;
    }
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

  override async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    await super.close();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

export async function noticesFor(db: Store): Promise<JobNotices> {
  if (db.engine !== 'postgres') return new LocalNotices();
  const notices = new PostgresNotices(db as PostgresStore);
  await notices.listen();
  return notices;
}
