// Job rows and their state machine, queued → running → completed | failed | canceled | interrupted. Each
// transition commits with its ledger row in one transaction, so credits and job states never disagree.
import { randomUUID } from 'node:crypto';
import type { ApiError, Job, JobImage, JobStatus } from '../core/api';
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
  /** Variations asked; `cost` is their total (n × the price of one). */
  n: number;
  /** Kept for History (the database may hold prompts; logs never do). */
  prompt: string;
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

export function decodeCursor(cursor: string): ListCursor | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      return { createdAt: value[0], id: value[1] };
    }
  } catch {
    // Not JSON: the caller answers invalid_request.
  }
  return undefined;
}

/** `q` as a LIKE pattern matching it anywhere, its own % _ and \\ taken literally. */
function containsPattern(q: string): string {
  return `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
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
               output_format, references_json, cost, model, created_at, idempotency_key, request_hash, n, prompt)
             VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
          job.n,
          job.prompt,
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

  /**
   * running → completed with its images: the images produced are charged at the job's price per image, and what was
   * reserved for variations the upstream did not return is released. False when the job was canceled meanwhile.
   */
  complete(id: string, result: Completion): boolean {
    const [first] = result.images;
    if (!first) throw new Error('complete() needs at least one image');
    return transaction(this.db, () => {
      const before = this.get(id);
      if (before?.status !== 'running') return false;
      const produced = Math.min(result.images.length, before.n);
      const charged = Math.round((before.cost / before.n) * produced);
      const finishedAt = nowIso();
      this.db
        .prepare(
          `UPDATE jobs SET status = 'completed', finished_at = ?, width = ?, height = ?, mime = ?, bytes = ?,
               result_file = ?, notes_json = ?, usage_json = ?, upstream_request_id = ?, cost = ?
             WHERE id = ? AND status = 'running'`,
        )
        .run(
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
        );
      result.images.slice(0, produced).forEach((image, index) => {
        this.db
          .prepare(
            `INSERT INTO job_images (job_id, image_index, width, height, mime, bytes, result_file, thumbnail,
                 thumbnail_mime, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
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
          );
      });
      this.ledger.chargeIn(before.account_id, id, charged);
      if (before.cost > charged) this.ledger.releaseIn(before.account_id, id, before.cost - charged);
      return true;
    });
  }

  /** A job's images, in order. */
  images(id: string): JobImageRow[] {
    return this.db
      .prepare('SELECT * FROM job_images WHERE job_id = ? ORDER BY image_index')
      .all(id) as unknown as JobImageRow[];
  }

  image(id: string, index: number): JobImageRow | undefined {
    return this.db.prepare('SELECT * FROM job_images WHERE job_id = ? AND image_index = ?').get(id, index) as
      | JobImageRow
      | undefined;
  }

  /**
   * An account's jobs, newest first, after `cursor`; `q` keeps those whose prompt contains it (case-insensitive).
   * Only this account's rows are ever read.
   */
  listFor(
    accountId: string,
    options: { cursor?: ListCursor | undefined; q?: string | undefined; limit: number },
  ): JobRow[] {
    const where = ['account_id = ?'];
    const params: (string | number)[] = [accountId];
    if (options.cursor) {
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      params.push(options.cursor.createdAt, options.cursor.createdAt, options.cursor.id);
    }
    if (options.q) {
      where.push("LOWER(prompt) LIKE ? ESCAPE '\\'");
      params.push(containsPattern(options.q));
    }
    params.push(options.limit);
    return this.db
      .prepare(`SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`)
      .all(...params) as unknown as JobRow[];
  }

  /** Bytes of every image still on disk. */
  storedImageBytes(): number {
    return (
      this.db
        .prepare('SELECT COALESCE(SUM(bytes), 0) AS total FROM job_images WHERE result_file IS NOT NULL')
        .get() as { total: number }
    ).total;
  }

  /** Images still on disk, oldest first (ties in job then index order), at most `limit`. */
  oldestStoredImages(limit: number): StoredImage[] {
    return this.db
      .prepare(
        `SELECT job_id, image_index, bytes, result_file FROM job_images WHERE result_file IS NOT NULL
           ORDER BY created_at, job_id, image_index LIMIT ?`,
      )
      .all(limit) as unknown as StoredImage[];
  }

  /** Images still on disk that were made before `olderThanIso` (the result TTL). */
  storedImagesBefore(olderThanIso: string): StoredImage[] {
    return this.db
      .prepare(
        `SELECT job_id, image_index, bytes, result_file FROM job_images WHERE result_file IS NOT NULL AND created_at < ?
           ORDER BY created_at, job_id, image_index`,
      )
      .all(olderThanIso) as unknown as StoredImage[];
  }

  /** The job whose images were made last, if any (the disk budget never removes those). */
  newestImageJob(): string | undefined {
    const row = this.db.prepare('SELECT job_id FROM job_images ORDER BY created_at DESC, job_id DESC LIMIT 1').get() as
      | { job_id: string }
      | undefined;
    return row?.job_id;
  }

  /** The image's file is gone: its row, thumbnail and the job's row stay. */
  markEvicted(jobId: string, index: number): void {
    transaction(this.db, () => {
      this.db
        .prepare('UPDATE job_images SET result_file = NULL, evicted_at = ? WHERE job_id = ? AND image_index = ?')
        .run(nowIso(), jobId, index);
      if (index === 0) this.db.prepare('UPDATE jobs SET result_file = NULL WHERE id = ?').run(jobId);
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
}
