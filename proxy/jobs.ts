// Job rows and their state machine, queued → running → completed | failed | canceled | interrupted. Each
// transition commits with its ledger row in one transaction, so credits and job states never disagree.
import { randomUUID } from 'node:crypto';
import type { ApiError, Job, JobStatus } from '../core/api';
import type { AspectRatio, OutputFormat, Quality, Tier } from '../core/formats';
import { type Db, nowIso, transaction } from './db';
import { FramefillError } from './errors';
import type { Ledger } from './ledger';

/** The same Idempotency-Key from the same token within this window returns the same job (DESIGN.md §5). */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3_600_000;

export interface JobReference {
  mime: string;
  width: number;
  height: number;
  bytes: number;
}

export interface NewJob {
  accountId: string;
  promptChars: number;
  aspectRatio: AspectRatio;
  resolution: Tier;
  width: number | null;
  height: number | null;
  quality: Quality;
  outputFormat: OutputFormat;
  references: JobReference[];
  cost: number;
  model: string;
  idempotencyKey: string | undefined;
  requestHash: string;
}

export interface JobRow {
  id: string;
  account_id: string;
  status: JobStatus;
  prompt_chars: number;
  aspect_ratio: AspectRatio;
  resolution: Tier;
  width: number | null;
  height: number | null;
  quality: Quality;
  output_format: OutputFormat;
  references_json: string;
  cost: number;
  model: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error_json: string | null;
  notes_json: string | null;
  mime: string | null;
  bytes: number | null;
  result_file: string | null;
  usage_json: string | null;
  upstream_request_id: string | null;
  idempotency_key: string | null;
  request_hash: string;
  status_reason: string | null;
  /** 1 or 0 on a canceled job: whether its credits came back. */
  credits_returned: number | null;
}

export interface Completion {
  width: number;
  height: number;
  mime: string;
  bytes: number;
  resultFile: string;
  notes: string[];
  usage: unknown;
  upstreamRequestId: string | undefined;
}

function withinIdempotencyWindow(row: JobRow): boolean {
  return Date.now() - Date.parse(row.created_at) < IDEMPOTENCY_WINDOW_MS;
}

/** What the HTTP API shows of a job (JobSchema): never the usage, request id, hash or file path. */
export function jobView(row: JobRow): Job {
  const references = JSON.parse(row.references_json) as JobReference[];
  const notes = row.notes_json ? (JSON.parse(row.notes_json) as string[]) : [];
  return {
    id: row.id,
    status: row.status,
    prompt_chars: row.prompt_chars,
    aspect_ratio: row.aspect_ratio,
    resolution: row.resolution,
    width: row.width,
    height: row.height,
    quality: row.quality,
    output_format: row.output_format,
    references: references.length,
    cost_credits: row.cost,
    created_at: row.created_at,
    ...(row.finished_at ? { finished_at: row.finished_at } : {}),
    ...(row.error_json ? { error: JSON.parse(row.error_json) as ApiError } : {}),
    ...(notes.length > 0 ? { notes } : {}),
    model: row.model,
    ...(row.mime ? { mime: row.mime } : {}),
    ...(row.bytes !== null ? { bytes: row.bytes } : {}),
    ...(row.status === 'queued' && row.status_reason ? { status_reason: row.status_reason } : {}),
    ...(row.status === 'canceled' ? { credits_returned: row.credits_returned !== 0 } : {}),
  };
}

export class JobStore {
  constructor(
    private readonly db: Db,
    private readonly ledger: Ledger,
  ) {}

  get(id: string): JobRow | undefined {
    return this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
  }

  /** A job of this account; another account's job is as absent as a missing one. */
  getFor(accountId: string, id: string): JobRow | undefined {
    return this.db.prepare('SELECT * FROM jobs WHERE id = ? AND account_id = ?').get(id, accountId) as
      | JobRow
      | undefined;
  }

  /**
   * Reserves the credits and inserts the job, or returns the job this Idempotency-Key already made. One
   * immediate transaction: parallel submissions are serialised, so a balance is never overspent.
   */
  create(job: NewJob): { row: JobRow; replayed: boolean } {
    return transaction(this.db, (): { row: JobRow; replayed: boolean } => {
      if (job.idempotencyKey !== undefined) {
        const previous = this.byIdempotencyKey(job.accountId, job.idempotencyKey);
        if (previous && withinIdempotencyWindow(previous)) {
          if (previous.request_hash !== job.requestHash) {
            throw new FramefillError(
              'idempotency_conflict',
              'This Idempotency-Key was already used for a different request. Generate again with a new key.',
            );
          }
          return { row: previous, replayed: true };
        }
        // An expired key may be reused: the old job keeps its row but gives the key up.
        if (previous) this.db.prepare('UPDATE jobs SET idempotency_key = NULL WHERE id = ?').run(previous.id);
      }
      const id = randomUUID();
      this.ledger.reserveIn(job.accountId, id, job.cost);
      this.db
        .prepare(
          `INSERT INTO jobs (id, account_id, status, prompt_chars, aspect_ratio, resolution, width, height, quality,
               output_format, references_json, cost, model, created_at, idempotency_key, request_hash)
             VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          job.accountId,
          job.promptChars,
          job.aspectRatio,
          job.resolution,
          job.width,
          job.height,
          job.quality,
          job.outputFormat,
          JSON.stringify(job.references),
          job.cost,
          job.model,
          nowIso(),
          job.idempotencyKey ?? null,
          job.requestHash,
        );
      return { row: this.get(id)!, replayed: false };
    });
  }

  private byIdempotencyKey(accountId: string, key: string): JobRow | undefined {
    return this.db.prepare('SELECT * FROM jobs WHERE account_id = ? AND idempotency_key = ?').get(accountId, key) as
      | JobRow
      | undefined;
  }

  /** queued → running; false when the job left `queued` meanwhile (canceled). */
  start(id: string): boolean {
    return (
      this.db
        .prepare(
          "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, ?), status_reason = NULL WHERE id = ? AND status = 'queued'",
        )
        .run(nowIso(), id).changes === 1
    );
  }

  /** running → completed, and the reservation becomes a charge; false when the job was canceled meanwhile. */
  complete(id: string, result: Completion): boolean {
    return transaction(this.db, () => {
      const changed = this.db
        .prepare(
          `UPDATE jobs SET status = 'completed', finished_at = ?, width = ?, height = ?, mime = ?, bytes = ?,
               result_file = ?, notes_json = ?, usage_json = ?, upstream_request_id = ?
             WHERE id = ? AND status = 'running'`,
        )
        .run(
          nowIso(),
          result.width,
          result.height,
          result.mime,
          result.bytes,
          result.resultFile,
          result.notes.length > 0 ? JSON.stringify(result.notes) : null,
          result.usage === undefined ? null : JSON.stringify(result.usage),
          result.upstreamRequestId ?? null,
          id,
        ).changes;
      if (changed === 0) return false;
      const row = this.get(id)!;
      this.ledger.chargeIn(row.account_id, id, row.cost);
      return true;
    });
  }

  /**
   * queued|running → failed|canceled|interrupted; the reservation is released, or charged when `refund` is false
   * (a cancel after the upstream call started). False when the job was already final.
   */
  finish(
    id: string,
    status: 'failed' | 'canceled' | 'interrupted',
    error?: ApiError,
    options: { refund?: boolean; upstreamRequestId?: string | undefined } = {},
  ): boolean {
    const refund = options.refund ?? true;
    return transaction(this.db, () => {
      const changed = this.db
        .prepare(
          `UPDATE jobs SET status = ?, finished_at = ?, error_json = ?, status_reason = NULL,
             credits_returned = ?, upstream_request_id = COALESCE(?, upstream_request_id)
           WHERE id = ? AND status IN ('queued', 'running')`,
        )
        .run(
          status,
          nowIso(),
          error ? JSON.stringify(error) : null,
          refund ? 1 : 0,
          options.upstreamRequestId ?? null,
          id,
        ).changes;
      if (changed === 0) return false;
      const row = this.get(id)!;
      if (refund) this.ledger.releaseIn(row.account_id, id, row.cost);
      else this.ledger.chargeIn(row.account_id, id, row.cost);
      return true;
    });
  }

  /** running → queued, waiting for `reason` (the upstream's rate limit); false when the job left `running`. */
  requeue(id: string, reason: string): boolean {
    return (
      this.db
        .prepare("UPDATE jobs SET status = 'queued', status_reason = ? WHERE id = ? AND status = 'running'")
        .run(reason, id).changes === 1
    );
  }

  /** Why a queued job waits, shown on the job until it starts. */
  setReason(id: string, reason: string): void {
    this.db.prepare("UPDATE jobs SET status_reason = ? WHERE id = ? AND status = 'queued'").run(reason, id);
  }

  /** Ids of jobs in a state no process is working on any more (after a stop or crash). */
  unfinished(): string[] {
    return (
      this.db.prepare("SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at").all() as {
        id: string;
      }[]
    ).map((r) => r.id);
  }

  inFlight(accountId: string): number {
    return (
      this.db
        .prepare("SELECT COUNT(*) AS n FROM jobs WHERE account_id = ? AND status IN ('queued', 'running')")
        .get(accountId) as { n: number }
    ).n;
  }

  /** Finished jobs older than the TTL (their rows and files go together). */
  expired(olderThanIso: string): JobRow[] {
    return this.db
      .prepare("SELECT * FROM jobs WHERE status NOT IN ('queued', 'running') AND finished_at < ?")
      .all(olderThanIso) as unknown as JobRow[];
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM jobs WHERE id = ?').run(id);
  }
}
