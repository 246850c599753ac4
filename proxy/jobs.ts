// Job rows and their state machine, queued → running → completed | failed | canceled | interrupted. Each
// transition commits with its ledger row in one transaction, so credits and job states never disagree.
import { randomUUID } from 'node:crypto';
import { type ApiError, isJobId, type Job, type JobImage, type JobStatus } from '../core/api';
import type { AspectRatio, OutputFormat, Quality, Tier } from '../core/formats';
import { chargeFor } from '../core/pricing';
import { FramefillError } from './errors';
import type { Ledger } from './ledger';
import type { PartialImage } from './providers/types';
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
  /** Variations asked; `cost` is their total (n × the price of one). */
  n: number;
  /** Kept for History (the database may hold prompts; logs never do). */
  prompt: string;
  /** The replica that accepted it, and until when it vouches for it (epoch ms). */
  owner: string;
  leaseUntil: number;
  /**
   * Throws when the account may not have another job queued or running, given how many it has (the per-token cap).
   * Asked inside the transaction, with the account's row locked, so submissions that arrive together, through any
   * replica, are counted one after another.
   */
  admit?: (inFlight: number) => void;
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
  n: number;
  /** NULL for jobs made before History existed. */
  prompt: string | null;
  /** The replica working on it while queued or running. */
  owner: string | null;
  /** Epoch ms until which its owner vouches for it; renewed while the owner lives. */
  lease_until: number | null;
  /** A running job's latest preview, `{index, mime, b64, width, height}`; cleared when it ends. */
  preview_json: string | null;
}

/** One image of a job; `result_file` is NULL once the TTL or the disk budget removed it. */
export interface JobImageRow {
  job_id: string;
  image_index: number;
  width: number;
  height: number;
  mime: string;
  bytes: number;
  result_file: string | null;
  thumbnail: Uint8Array | null;
  thumbnail_mime: string | null;
  created_at: string;
  evicted_at: string | null;
}

/** An image whose file is still on disk (what the TTL and the disk budget may remove). */
export interface StoredImage {
  job_id: string;
  image_index: number;
  bytes: number;
  result_file: string;
}

export interface CompletedImage {
  width: number;
  height: number;
  mime: string;
  bytes: number;
  resultFile: string;
  thumbnail: Uint8Array;
  thumbnailMime: string;
}

/** Where a History page starts: after this job in newest-first order. */
export interface ListCursor {
  createdAt: string;
  id: string;
}

export interface Completion {
  /** The images produced, in order (at least one): the job is charged for these and the rest is released. */
  images: CompletedImage[];
  notes: string[];
  usage: unknown;
  upstreamRequestId: string | undefined;
}

function withinIdempotencyWindow(row: JobRow): boolean {
  return Date.now() - Date.parse(row.created_at) < IDEMPOTENCY_WINDOW_MS;
}

/** The API paths of a job's image and thumbnail. */
export function imageUrls(jobId: string, index: number): { url: string; thumbnail_url: string } {
  return {
    url: `/v1/generations/${jobId}/image?index=${index}`,
    thumbnail_url: `/v1/generations/${jobId}/thumbnail?index=${index}`,
  };
}

export function imageView(image: JobImageRow): JobImage {
  return {
    index: image.image_index,
    width: image.width,
    height: image.height,
    mime: image.mime,
    bytes: image.bytes,
    ...imageUrls(image.job_id, image.image_index),
    ...(image.result_file === null ? { expired: true } : {}),
  };
}

/** What the HTTP API shows of a job (JobSchema): never the usage, request id, hash or file path. */
export function jobView(row: JobRow, images: readonly JobImageRow[] = []): Job {
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
    n: row.n,
    ...(row.status === 'completed' ? { images: images.map(imageView) } : {}),
    ...(row.prompt !== null ? { prompt: row.prompt } : {}),
  };
}

/** The opaque History cursor: the last job of a page, base64url JSON. */
export function encodeCursor(row: Pick<JobRow, 'created_at' | 'id'>): string {
  return Buffer.from(JSON.stringify([row.created_at, row.id]), 'utf8').toString('base64url');
}

/** `created_at` as nowIso() writes it. */
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function decodeCursor(cursor: string): ListCursor | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // Only what encodeCursor writes: a forged value never reaches the query (PostgreSQL fails on a NUL in text).
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      CURSOR_TIME.test(value[0]) &&
      typeof value[1] === 'string' &&
      isJobId(value[1])
    ) {
      return { createdAt: value[0], id: value[1] };
    }
  } catch {
    // Not JSON: the caller answers invalid_request.
  }
  return undefined;
}

/**
 * `q` as a LIKE pattern matching it anywhere, its own % _ and \\ taken literally. Its case is folded by the
 * database's LOWER, as the prompt's is, so a prompt's own text always finds it.
 */
function containsPattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
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
      if (job.admit) {
        // A no-op write takes the row's lock (PostgreSQL; SQLite holds its write lock since BEGIN): a concurrent
        // submission of the same account waits here until this one committed, then counts its job.
        await q.run('UPDATE accounts SET balance = balance WHERE id = $1', [job.accountId]);
        job.admit(await this.inFlight(job.accountId, q));
      }
      const id = randomUUID();
      await this.ledger.reserveIn(q, job.accountId, id, job.cost, job.n);
      await q.run(
        `INSERT INTO jobs (id, account_id, status, prompt_chars, aspect_ratio, resolution, width, height, quality,
             output_format, references_json, cost, model, created_at, idempotency_key, request_hash, owner, lease_until,
             n, prompt)
           VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
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
          job.n,
          job.prompt,
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

  /**
   * running → completed with its images: the images produced are charged at the job's price per image, and what was
   * reserved for variations the upstream did not return is released. False when the job was canceled meanwhile.
   */
  complete(id: string, result: Completion): Promise<boolean> {
    const [first] = result.images;
    if (!first) throw new Error('complete() needs at least one image');
    return this.db.tx(async (q) => {
      // n and cost do not change while a job runs; the conditional update below decides who wins.
      const before = await this.get(id, q);
      if (before?.status !== 'running') return false;
      const produced = Math.min(result.images.length, before.n);
      const charged = chargeFor(before.cost, before.n, produced);
      const finishedAt = nowIso();
      const changed = await q.run(
        `UPDATE jobs SET status = 'completed', finished_at = $1, width = $2, height = $3, mime = $4, bytes = $5,
             result_file = $6, notes_json = $7, usage_json = $8, upstream_request_id = $9, cost = $10,
             preview_json = NULL
           WHERE id = $11 AND status = 'running'`,
        [
          finishedAt,
          first.width,
          first.height,
          first.mime,
          first.bytes,
          first.resultFile,
          result.notes.length > 0 ? JSON.stringify(result.notes) : null,
          result.usage === undefined ? null : JSON.stringify(result.usage),
          result.upstreamRequestId ?? null,
          charged,
          id,
        ],
      );
      if (changed === 0) return false;
      for (const [index, image] of result.images.slice(0, produced).entries()) {
        await q.run(
          `INSERT INTO job_images (job_id, image_index, width, height, mime, bytes, result_file, thumbnail,
               thumbnail_mime, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            id,
            index,
            image.width,
            image.height,
            image.mime,
            image.bytes,
            image.resultFile,
            image.thumbnail,
            image.thumbnailMime,
            finishedAt,
          ],
        );
      }
      await this.ledger.chargeIn(q, before.account_id, id, charged);
      if (before.cost > charged) await this.ledger.releaseIn(q, before.account_id, id, before.cost - charged);
      return true;
    });
  }

  /** A job's images, in order. */
  images(id: string): Promise<JobImageRow[]> {
    return this.db.many<JobImageRow>('SELECT * FROM job_images WHERE job_id = $1 ORDER BY image_index', [id]);
  }

  /** The images of several jobs (a History page) in one query, by job id. */
  async imagesOf(ids: readonly string[]): Promise<Map<string, JobImageRow[]>> {
    const byJob = new Map<string, JobImageRow[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return byJob;
    const list = ids.map((_, i) => `$${i + 1}`).join(', ');
    const rows = await this.db.many<JobImageRow>(
      `SELECT * FROM job_images WHERE job_id IN (${list}) ORDER BY job_id, image_index`,
      ids,
    );
    for (const row of rows) byJob.get(row.job_id)?.push(row);
    return byJob;
  }

  /**
   * An account's jobs, newest first, after `cursor`; `q` keeps those whose prompt contains it (case-insensitive).
   * Only this account's rows are ever read.
   */
  listFor(
    accountId: string,
    options: { cursor?: ListCursor | undefined; q?: string | undefined; limit: number },
  ): Promise<JobRow[]> {
    const params: (string | number)[] = [accountId];
    const where = ['account_id = $1'];
    const param = (value: string | number) => `$${params.push(value)}`;
    if (options.cursor) {
      const at = param(options.cursor.createdAt);
      where.push(`(created_at < ${at} OR (created_at = ${at} AND id < ${param(options.cursor.id)}))`);
    }
    if (options.q) where.push(`LOWER(prompt) LIKE LOWER(${param(containsPattern(options.q))}) ESCAPE '\\'`);
    return this.db.many<JobRow>(
      `SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ${param(options.limit)}`,
      params,
    );
  }

  /** Bytes of every image still kept. */
  async storedImageBytes(): Promise<number> {
    const row = await this.db.one<{ total: number | string }>(
      'SELECT COALESCE(SUM(bytes), 0) AS total FROM job_images WHERE result_file IS NOT NULL',
    );
    // PostgreSQL sums a BIGINT column as NUMERIC, which its driver hands over as a string.
    return Number(row?.total ?? 0);
  }

  /**
   * Images still kept, oldest first (ties in job then index order), at most `limit`, never those of the job whose
   * images were made last (the budget keeps them). One statement: a job completing meanwhile is either the newest
   * and left out, or not there yet.
   */
  oldestStoredImages(limit: number): Promise<StoredImage[]> {
    return this.db.many<StoredImage>(
      `SELECT job_id, image_index, bytes, result_file FROM job_images
         WHERE result_file IS NOT NULL
           AND job_id <> COALESCE((SELECT job_id FROM job_images ORDER BY created_at DESC, job_id DESC LIMIT 1), '')
         ORDER BY created_at, job_id, image_index LIMIT $1`,
      [limit],
    );
  }

  /** Images still kept that were made before `olderThanIso` (the result TTL). */
  storedImagesBefore(olderThanIso: string): Promise<StoredImage[]> {
    return this.db.many<StoredImage>(
      `SELECT job_id, image_index, bytes, result_file FROM job_images WHERE result_file IS NOT NULL AND created_at < $1
         ORDER BY created_at, job_id, image_index`,
      [olderThanIso],
    );
  }

  /** The image itself is gone: its row, thumbnail and the job's row stay. */
  async markEvicted(jobId: string, index: number): Promise<void> {
    await this.db.tx(async (q) => {
      await q.run('UPDATE job_images SET result_file = NULL, evicted_at = $1 WHERE job_id = $2 AND image_index = $3', [
        nowIso(),
        jobId,
        index,
      ]);
      if (index === 0) await q.run('UPDATE jobs SET result_file = NULL WHERE id = $1', [jobId]);
    });
  }

  /**
   * queued|running → failed|canceled|interrupted. The reservation is released, or charged when `refund` is false and
   * the job is running as this commits (a cancel after the upstream call started); a queued job has no call under
   * way (a rate-limited one was refused) and is always released. The state decides in the update itself, so a job
   * that started or went back to the queue while a cancel arrived is settled by where it really was. False when the
   * job was already final: the conditional update makes one caller the winner, whichever replica each runs on.
   */
  finish(
    id: string,
    status: 'failed' | 'canceled' | 'interrupted',
    error?: ApiError,
    options: { refund?: boolean; upstreamRequestId?: string | undefined } = {},
  ): Promise<boolean> {
    const refundRunning = options.refund ?? true;
    return this.db.tx(async (q) => {
      const changed = await q.run(
        `UPDATE jobs SET status = $1, finished_at = $2, error_json = $3, status_reason = NULL,
           credits_returned = CASE WHEN status = 'running' THEN $4 ELSE 1 END,
           upstream_request_id = COALESCE($5, upstream_request_id), preview_json = NULL
         WHERE id = $6 AND status IN ('queued', 'running')`,
        [
          status,
          nowIso(),
          error ? JSON.stringify(error) : null,
          refundRunning ? 1 : 0,
          options.upstreamRequestId ?? null,
          id,
        ],
      );
      if (changed === 0) return false;
      const row = (await this.get(id, q))!;
      if (row.credits_returned !== 0) await this.ledger.releaseIn(q, row.account_id, id, row.cost);
      else await this.ledger.chargeIn(q, row.account_id, id, row.cost);
      return true;
    });
  }

  /** The running job's latest preview; false when the job is no longer running. */
  async setPreview(id: string, preview: PartialImage): Promise<boolean> {
    return (
      (await this.db.run("UPDATE jobs SET preview_json = $1 WHERE id = $2 AND status = 'running'", [
        JSON.stringify(preview),
        id,
      ])) === 1
    );
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

  async inFlight(accountId: string, q: Sql = this.db): Promise<number> {
    const row = await q.one<{ n: number }>(
      "SELECT COUNT(*) AS n FROM jobs WHERE account_id = $1 AND status IN ('queued', 'running')",
      [accountId],
    );
    return Number(row?.n ?? 0);
  }
}
