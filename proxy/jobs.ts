// Job rows and their state machine, queued → running → completed | failed | canceled | interrupted. Each
// transition commits with its ledger row in one transaction, so credits and job states never disagree.
import { randomUUID } from 'node:crypto';
import type { ApiError, Job, JobStatus } from '../core/api';
import type { AspectRatio, OutputFormat, Quality, Tier } from '../core/formats';
import { FramefillError } from './errors';
import type { Ledger } from './ledger';
import { nowIso, type Sql, type Store } from './store';

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
  /** The replica that accepted it, and until when it vouches for it (epoch ms). */
  owner: string;
  leaseUntil: number;
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
  /** The replica working on it while queued or running. */
  owner: string | null;
  /** Epoch ms until which its owner vouches for it; renewed while the owner lives. */
  lease_until: number | null;
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

/** PostgreSQL's unique_violation: two replicas inserted the same Idempotency-Key at once. */
const isUniqueViolation = (error: unknown) => (error as { code?: string } | null)?.code === '23505';

export class JobStore {
  constructor(
    private readonly db: Store,
    private readonly ledger: Ledger,
  ) {}

  get(id: string, q: Sql = this.db): Promise<JobRow | undefined> {
    return q.one<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
  }

  /** A job of this account; another account's job is as absent as a missing one. */
  getFor(accountId: string, id: string): Promise<JobRow | undefined> {
    return this.db.one<JobRow>('SELECT * FROM jobs WHERE id = $1 AND account_id = $2', [id, accountId]);
  }

  /**
   * Reserves the credits and inserts the job, or returns the job this Idempotency-Key already made. One transaction:
   * the reservation is a conditional update, so a balance is never overspent. Two replicas inserting the same key
   * at once meet the unique index; the loser runs again and finds the winner's job.
   */
  async create(job: NewJob): Promise<{ row: JobRow; replayed: boolean }> {
    try {
      return await this.createOnce(job);
    } catch (error) {
      if (job.idempotencyKey === undefined || !isUniqueViolation(error)) throw error;
      return this.createOnce(job);
    }
  }

  private createOnce(job: NewJob): Promise<{ row: JobRow; replayed: boolean }> {
    return this.db.tx(async (q): Promise<{ row: JobRow; replayed: boolean }> => {
      if (job.idempotencyKey !== undefined) {
        const previous = await q.one<JobRow>('SELECT * FROM jobs WHERE account_id = $1 AND idempotency_key = $2', [
          job.accountId,
          job.idempotencyKey,
        ]);
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
        if (previous) await q.run('UPDATE jobs SET idempotency_key = NULL WHERE id = $1', [previous.id]);
      }
      const id = randomUUID();
      await this.ledger.reserveIn(q, job.accountId, id, job.cost);
      await q.run(
        `INSERT INTO jobs (id, account_id, status, prompt_chars, aspect_ratio, resolution, width, height, quality,
             output_format, references_json, cost, model, created_at, idempotency_key, request_hash, owner, lease_until)
           VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
        [
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
          job.owner,
          job.leaseUntil,
        ],
      );
      return { row: (await this.get(id, q))!, replayed: false };
    });
  }

  /** queued → running; false when the job left `queued` meanwhile (canceled). */
  async start(id: string): Promise<boolean> {
    return (
      (await this.db.run(
        "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, $1), status_reason = NULL WHERE id = $2 AND status = 'queued'",
        [nowIso(), id],
      )) === 1
    );
  }

  /** running → completed, and the reservation becomes a charge; false when the job was canceled meanwhile. */
  complete(id: string, result: Completion): Promise<boolean> {
    return this.db.tx(async (q) => {
      const changed = await q.run(
        `UPDATE jobs SET status = 'completed', finished_at = $1, width = $2, height = $3, mime = $4, bytes = $5,
             result_file = $6, notes_json = $7, usage_json = $8, upstream_request_id = $9
           WHERE id = $10 AND status = 'running'`,
        [
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
        ],
      );
      if (changed === 0) return false;
      const row = (await this.get(id, q))!;
      await this.ledger.chargeIn(q, row.account_id, id, row.cost);
      return true;
    });
  }

  /**
   * queued|running → failed|canceled|interrupted; the reservation is released, or charged when `refund` is false
   * (a cancel after the upstream call started). False when the job was already final: the conditional update makes
   * one caller the winner, whichever replica each runs on.
   */
  finish(
    id: string,
    status: 'failed' | 'canceled' | 'interrupted',
    error?: ApiError,
    options: { refund?: boolean; upstreamRequestId?: string | undefined } = {},
  ): Promise<boolean> {
    const refund = options.refund ?? true;
    return this.db.tx(async (q) => {
      const changed = await q.run(
        `UPDATE jobs SET status = $1, finished_at = $2, error_json = $3, status_reason = NULL,
           credits_returned = $4, upstream_request_id = COALESCE($5, upstream_request_id)
         WHERE id = $6 AND status IN ('queued', 'running')`,
        [status, nowIso(), error ? JSON.stringify(error) : null, refund ? 1 : 0, options.upstreamRequestId ?? null, id],
      );
      if (changed === 0) return false;
      const row = (await this.get(id, q))!;
      if (refund) await this.ledger.releaseIn(q, row.account_id, id, row.cost);
      else await this.ledger.chargeIn(q, row.account_id, id, row.cost);
      return true;
    });
  }

  /** running → queued, waiting for `reason` (the upstream's rate limit); false when the job left `running`. */
  async requeue(id: string, reason: string): Promise<boolean> {
    return (
      (await this.db.run("UPDATE jobs SET status = 'queued', status_reason = $1 WHERE id = $2 AND status = 'running'", [
        reason,
        id,
      ])) === 1
    );
  }

  /** Why a queued job waits, shown on the job until it starts. */
  async setReason(id: string, reason: string): Promise<void> {
    await this.db.run("UPDATE jobs SET status_reason = $1 WHERE id = $2 AND status = 'queued'", [reason, id]);
  }

  /** Ids of jobs in a state no process is working on any more (after a stop or crash of the only process). */
  async unfinished(): Promise<string[]> {
    return (
      await this.db.many<{ id: string }>(
        "SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at",
      )
    ).map((r) => r.id);
  }

  /**
   * Extends to `until` (epoch ms) the leases of the given unfinished jobs of `owner`: only those its process still
   * holds, so a job it let go (its store failed mid-job) lapses and is ended by another.
   */
  async renewLeases(owner: string, ids: readonly string[], until: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.tx(async (q) => {
      for (const id of ids) {
        await q.run(
          "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND owner = $3 AND status IN ('queued', 'running')",
          [until, id, owner],
        );
      }
    });
  }

  /** Unfinished jobs whose owner stopped vouching for them before `now` (epoch ms): a replica died. */
  async lapsed(now: number): Promise<string[]> {
    return (
      await this.db.many<{ id: string }>(
        "SELECT id FROM jobs WHERE status IN ('queued', 'running') AND lease_until < $1 ORDER BY created_at",
        [now],
      )
    ).map((r) => r.id);
  }

  async inFlight(accountId: string): Promise<number> {
    const row = await this.db.one<{ n: number }>(
      "SELECT COUNT(*) AS n FROM jobs WHERE account_id = $1 AND status IN ('queued', 'running')",
      [accountId],
    );
    return Number(row?.n ?? 0);
  }

  /** Finished jobs older than the TTL (their rows and results go together). */
  expired(olderThanIso: string): Promise<JobRow[]> {
    return this.db.many<JobRow>("SELECT * FROM jobs WHERE status NOT IN ('queued', 'running') AND finished_at < $1", [
      olderThanIso,
    ]);
  }

  async delete(id: string): Promise<void> {
    await this.db.run('DELETE FROM jobs WHERE id = $1', [id]);
  }
}
