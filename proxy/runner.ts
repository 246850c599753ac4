// Runs jobs: a FIFO queue under a bounded upstream concurrency, an optional images-per-minute pace, and one
// AbortSignal per job — its cancel and its deadline (FRAMEFILL_UPSTREAM_TIMEOUT_S from its first upstream call)
// combined — which the provider stops on. The upstream's rate limit puts a job back in the queue until the wait it
// asked for has passed, as long as the deadline allows. Every transition is published to the job's event
// subscribers (on every replica, through the store's notices) and the log. A job canceled through another replica
// is aborted here when its notice arrives.
import { rm } from 'node:fs/promises';
import { type ApiError, ERROR_ADVICE, isTerminal, type JobEvent } from '../core/api';
import { AUTO_DRAFT_SIZE, type OutputSize, sizeFor } from '../core/formats';
import { keepOutsideMask } from './composite';
import type { EditInput } from './edits';
import { FramefillError } from './errors';
import { previewOf, thumbnailOf, verifyResult } from './images';
import { type CompletedImage, imageView, type JobImageRow, type JobRow, type JobStore, jobView } from './jobs';
import type { Logger } from './log';
import {
  type GenerationRequest,
  isDeadline,
  type PartialImage,
  type Provider,
  type SpooledReference,
} from './providers/types';
import type { JobNotice, JobNotices } from './store/notices';
import type { SharedPace } from './store/pace';
import type { ResultStore } from './store/results';

export const INTERRUPTED_ERROR: ApiError = { code: 'interrupted', message: ERROR_ADVICE.interrupted };

export interface RunnerOptions {
  store: JobStore;
  provider: Provider;
  results: ResultStore;
  notices: JobNotices;
  concurrency: number;
  timeoutMs: number;
  /** Upstream calls started per minute at most (FRAMEFILL_UPSTREAM_IMAGES_PER_MINUTE); unset: no pace. */
  imagesPerMinute?: number;
  /** Counts the pace across every replica (PostgreSQL); unset: this process counts it alone. */
  sharedPace?: SharedPace;
  /** Refund a job canceled after its upstream call started (FRAMEFILL_CANCEL_REFUND=started). */
  refundStartedCancels: boolean;
  log: Logger;
  logPrompts: boolean;
  /** Told after a job completed and its images are stored (the disk budget runs here). */
  onCompleted?: (id: string) => void;
}

/** A job the runner holds, from its acceptance to its end. */
interface HeldJob {
  prompt: string;
  accountId: string;
  references: SpooledReference[];
  /** Folder of the uploaded references, removed when the job ends. */
  uploadDir: string;
  edit?: EditInput;
  /** Cancel and shutdown abort this; the job's signal adds its deadline once it first starts. */
  controller: AbortController;
  signal?: AbortSignal;
  /** Not started again before this time (the upstream's rate limit). */
  notBefore: number;
  /** Its first upstream call's start + the timeout: waits for the rate limit count against it. */
  deadlineAt?: number;
  /** Rate limits met that named no wait, for the backoff. */
  unnamedWaits: number;
  /** The reason last published for its wait, so each is said once. */
  reason?: string;
  /** Previews being scaled, in order: the result waits for them, so none is published after `completed`. */
  previews: Promise<void>;
}

const MINUTE_MS = 60_000;
const BACKOFF_FIRST_S = 5;
const BACKOFF_MAX_S = 60;

export class JobRunner {
  private readonly queue: string[] = [];
  private readonly held = new Map<string, HeldJob>();
  private readonly running = new Map<string, Promise<void>>();
  /** When recent upstream calls started, for the images-per-minute pace. */
  private readonly callStarts: number[] = [];
  private wakeTimer: ReturnType<typeof setTimeout> | undefined;
  private accepting = true;
  private readonly unwatch: () => void;

  constructor(private readonly o: RunnerOptions) {
    // A job this replica runs that another one ended (a cancel through it) stops its upstream call here.
    this.unwatch = o.notices.subscribeAll(
      (notice) => this.onNotice(notice),
      () => this.held.keys(),
    );
  }

  private onNotice(notice: JobNotice): void {
    if (!isTerminal(notice.status)) return;
    const job = this.held.get(notice.id);
    if (!job) return;
    this.dequeue(notice.id);
    job.controller.abort(new FramefillError('internal', notice.status));
    if (!this.running.has(notice.id)) void this.forget(notice.id);
  }

  get acceptingJobs(): boolean {
    return this.accepting;
  }

  /** Takes a freshly created (queued) job and its inputs; the prompt never touches the disk. */
  enqueue(row: JobRow, prompt: string, references: SpooledReference[], uploadDir: string, edit?: EditInput): void {
    this.held.set(row.id, {
      edit,
      prompt,
      accountId: row.account_id,
      references,
      uploadDir,
      controller: new AbortController(),
      notBefore: 0,
      unnamedWaits: 0,
      previews: Promise.resolve(),
    });
    this.queue.push(row.id);
    this.o.log({
      kind: 'job',
      id: row.id,
      status: 'queued',
      aspect_ratio: row.aspect_ratio,
      resolution: row.resolution,
      quality: row.quality,
      references: references.length,
      cost: row.cost,
      ...(this.o.logPrompts ? { prompt } : {}),
    });
    this.pump();
  }

  /**
   * DELETE: a queued job ends at once with its credits back; a running one is aborted and charged, since the
   * operator is billed for a started call (unless started cancels are refunded). False when already final.
   */
  async cancel(id: string): Promise<boolean> {
    // The store settles by the state the job is in as the cancel commits (it may start, or be requeued, meanwhile).
    const refund = this.o.refundStartedCancels;
    if (!(await this.o.store.finish(id, 'canceled', undefined, { refund }))) return false;
    this.dequeue(id);
    this.held.get(id)?.controller.abort(new FramefillError('internal', 'canceled'));
    // Also tells the replica that runs it, if that is another one: it aborts its upstream call on this notice.
    await this.publishFinal(id);
    if (!this.running.has(id)) void this.forget(id);
    return true;
  }

  /** Jobs accepted and not yet ended by this process. */
  get inFlight(): number {
    return this.held.size;
  }

  /** Ids of the jobs running now (an upstream call in progress). */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Stops taking jobs: queued ones end `interrupted` with their credits back at once; running ones may finish
   * within `graceMs`, then are interrupted too.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    clearTimeout(this.wakeTimer);
    await Promise.all(this.queue.splice(0).map((id) => this.interrupt(id)));
    const all = Promise.allSettled([...this.running.values()]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    await Promise.all([...this.running.keys()].map((id) => this.interrupt(id)));
    await all;
    this.unwatch();
  }

  /** Ids of the jobs this process holds (queued or running here): the leases it renews. */
  heldIds(): string[] {
    return [...this.held.keys()];
  }

  private async interrupt(id: string): Promise<void> {
    if (await this.o.store.finish(id, 'interrupted', INTERRUPTED_ERROR)) await this.publishFinal(id);
    this.held.get(id)?.controller.abort(new FramefillError('interrupted'));
    if (!this.running.has(id)) void this.forget(id);
  }

  private dequeue(id: string): void {
    const index = this.queue.indexOf(id);
    if (index >= 0) this.queue.splice(index, 1);
  }

  /** Starts queued jobs while slots are free and the pace allows; otherwise wakes up when one may start. */
  private pump(): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (!this.accepting) return;
    while (this.running.size < this.o.concurrency) {
      const now = Date.now();
      const ready = this.queue.find((id) => (this.held.get(id)?.notBefore ?? 0) <= now);
      const paceAt = this.paceAllowsAt(now);
      if (!ready || paceAt > now) {
        const waitUntil = Math.min(
          paceAt > now && ready ? paceAt : Number.POSITIVE_INFINITY,
          ...this.queue.map((id) => this.held.get(id)?.notBefore ?? 0).filter((at) => at > now),
        );
        if (ready && paceAt > now) this.sayWaiting(paceAt);
        if (Number.isFinite(waitUntil)) this.wakeTimer = setTimeout(() => this.pump(), waitUntil - now);
        return;
      }
      this.dequeue(ready);
      if (this.o.imagesPerMinute) this.callStarts.push(now);
      const run = this.run(ready)
        .catch(async (error: unknown) => {
          // The store failed (PostgreSQL unreachable): the job is let go, so its lease lapses and another replica
          // (or, with SQLite, the next start) ends it `interrupted` with its credits back.
          this.storeError(ready, error);
          await this.forget(ready);
        })
        .finally(() => {
          this.running.delete(ready);
          this.pump();
        });
      this.running.set(ready, run);
    }
  }

  /** When the images-per-minute pace lets the next call start. */
  private paceAllowsAt(now: number): number {
    const limit = this.o.imagesPerMinute;
    // A shared pace is claimed by the job itself, just before its call (`sharedTurn`).
    if (!limit || this.o.sharedPace) return now;
    while (this.callStarts.length > 0 && this.callStarts[0]! <= now - MINUTE_MS) this.callStarts.shift();
    return this.callStarts.length < limit ? now : this.callStarts[0]! + MINUTE_MS;
  }

  /** Tells every job waiting on the pace why it waits. */
  private sayWaiting(until: number): void {
    for (const id of this.queue) {
      const job = this.held.get(id);
      if (job && job.notBefore <= Date.now()) this.wait(id, job, until);
    }
  }

  private wait(id: string, job: HeldJob, until: number): void {
    const reason = waitingReason(until);
    if (job.reason === reason) return;
    job.reason = reason;
    void this.o.store
      .setReason(id, reason)
      .then(() => this.publish({ id, status: 'queued', reason }))
      .catch((error: unknown) => this.storeError(id, error));
  }

  private storeError(id: string, error: unknown): void {
    this.o.log({ kind: 'error', id, error: error instanceof Error ? error.message : String(error) });
  }

  private async run(id: string): Promise<void> {
    const job = this.held.get(id);
    if (!job || !(await this.sharedTurn(id, job)) || !(await this.o.store.start(id))) return this.forget(id);
    job.reason = undefined;
    job.deadlineAt ??= Date.now() + this.o.timeoutMs;
    job.signal ??= AbortSignal.any([job.controller.signal, AbortSignal.timeout(this.o.timeoutMs)]);
    const { signal } = job;
    const row = (await this.o.store.get(id))!;
    this.o.log({ kind: 'job', id, status: 'running' });
    await this.publish({ id, status: 'running' });
    const size = outputSize(row);
    try {
      const result = await this.o.provider.generate(
        {
          jobId: id,
          accountId: job.accountId,
          prompt: job.prompt,
          aspectRatio: row.aspect_ratio,
          resolution: row.resolution,
          quality: row.quality,
          outputFormat: row.output_format,
          size,
          references: job.references,
          ...(job.edit ? { mask: job.edit } : {}),
          n: row.n,
        } satisfies GenerationRequest,
        signal,
        (partial) => {
          job.previews = job.previews.then(() => this.partial(id, job, partial));
        },
      );
      await job.previews;
      // A cancel or a shutdown discards the result; the deadline does not: images that arrived are paid for.
      const stopped = job.controller.signal;
      stopped.throwIfAborted();
      const produced = (result.images ?? [result.bytes]).slice(0, row.n);
      const kept = await this.keepImages(id, produced, size, row, job.edit);
      if (stopped.aborted) {
        await this.o.results.deleteJob(id);
        stopped.throwIfAborted();
      }
      const completed = await this.o.store.complete(id, {
        images: kept.images,
        notes: [...(result.notes ?? []), ...kept.notes],
        usage: result.usage,
        upstreamRequestId: result.upstreamRequestId,
      });
      if (completed) {
        await this.publishFinal(id);
        this.o.onCompleted?.(id);
      } else await this.o.results.deleteJob(id);
    } catch (caught) {
      const error = this.failureOf(signal.aborted ? signal.reason : caught);
      // Without a wait named, 5 s, then 10, 20, 40, 60 at most (OpenAI's guide asks for a backoff on 429).
      const waitS =
        error.code === 'rate_limited'
          ? (error.retryAfter ?? Math.min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** job.unnamedWaits++))
          : undefined;
      if (waitS !== undefined && (await this.requeue(id, job, waitS))) return;
      // A canceled or interrupted job was already finished by cancel()/interrupt(); this is then a no-op.
      const body: ApiError = {
        code: error.code,
        message: error.message,
        ...(waitS !== undefined ? { retry_after: waitS } : {}),
      };
      if (await this.o.store.finish(id, 'failed', body, { upstreamRequestId: error.upstreamRequestId })) {
        // Images kept before the failure (their completion could not be recorded) belong to no job any more.
        await this.o.results.deleteJob(id);
        this.o.log({
          kind: 'job_error',
          id,
          code: error.code,
          error: error.cause instanceof Error ? error.cause.message : error.message,
          ...(error.upstreamRequestId ? { upstream_request_id: error.upstreamRequestId } : {}),
        });
        await this.publishFinal(id);
      }
    }
    await this.forget(id);
  }

  /**
   * Verifies each image, keeps it in the result store and makes its thumbnail. A variation that is not a usable
   * image is left out (and so not charged) with a note; when none is usable the job fails with the first reason.
   */
  private async keepImages(
    id: string,
    produced: readonly Buffer[],
    size: OutputSize,
    row: JobRow,
    edit: EditInput | undefined,
  ): Promise<{ images: CompletedImage[]; notes: string[] }> {
    const images: CompletedImage[] = [];
    const notes: string[] = [];
    let firstError: unknown;
    for (const [at, bytes] of produced.entries()) {
      try {
        const image = await keepOutsideMask(await verifyResult(bytes, size, row.output_format), edit);
        const thumbnail = await thumbnailOf(image.bytes);
        const resultFile = await this.o.results.put(id, images.length, { mime: image.mime, bytes: image.bytes });
        images.push({
          width: image.width,
          height: image.height,
          mime: image.mime,
          bytes: image.bytes.length,
          resultFile,
          thumbnail: thumbnail.bytes,
          thumbnailMime: thumbnail.mime,
        });
        notes.push(...image.notes.filter((note) => !notes.includes(note)));
      } catch (error) {
        firstError ??= error;
        if (produced.length > 1) {
          const why = error instanceof Error ? error.message : String(error);
          notes.push(`Variation ${at + 1} was not a usable image and is not charged: ${why}`);
        }
      }
    }
    if (images.length === 0) throw firstError;
    if (produced.length < row.n) {
      notes.push(
        `The image service returned ${produced.length} of the ${row.n} variations asked; the others were not charged.`,
      );
    }
    return { images, notes };
  }

  /**
   * Waits, queued, until the pace shared by all replicas lets this job's call start (claimed in the store); false
   * when the job was ended meanwhile (canceled, on any replica, or shutdown).
   */
  private async sharedTurn(id: string, job: HeldJob): Promise<boolean> {
    const limit = this.o.imagesPerMinute;
    const signal = job.controller.signal;
    if (!limit || !this.o.sharedPace) return !signal.aborted;
    while (!signal.aborted) {
      const at = await this.o.sharedPace.claim(limit);
      if (at === 0) return !signal.aborted;
      this.wait(id, job, at);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, at - Date.now()));
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done);
      });
    }
    return false;
  }

  /** One failure, one message: the deadline and unknown errors become §6 codes here. */
  private failureOf(reason: unknown): FramefillError {
    if (reason instanceof FramefillError) return reason;
    if (isDeadline(reason)) {
      return new FramefillError(
        'upstream_timeout',
        `The image service did not deliver the image within ${Math.round(this.o.timeoutMs / 1000)} s. Try again, or pick a lower resolution or quality.`,
      );
    }
    return new FramefillError('upstream_error', ERROR_ADVICE.upstream_error, { cause: reason });
  }

  /** The upstream asked to wait: back to the queue until then, if the job's deadline allows. */
  private async requeue(id: string, job: HeldJob, waitS: number): Promise<boolean> {
    const until = Date.now() + waitS * 1000;
    if (!this.accepting || until >= (job.deadlineAt ?? 0)) return false;
    const reason = waitingReason(until);
    if (!(await this.o.store.requeue(id, reason))) return false;
    job.notBefore = until;
    job.reason = reason;
    this.queue.unshift(id);
    this.o.log({ kind: 'job', id, status: 'queued', wait_s: waitS });
    await this.publish({ id, status: 'queued', reason });
    return true;
  }

  /**
   * Previews are previews: at most 512 px on the long edge, never the upstream's full-size bytes. The latest is
   * kept in the job's row and announced, so a stream on any replica shows it.
   */
  private async partial(id: string, job: HeldJob, partial: PartialImage): Promise<void> {
    if (job.signal?.aborted) return;
    const preview = await previewOf(partial).catch(() => undefined);
    if (!preview || job.signal?.aborted) return;
    if (await this.o.store.setPreview(id, preview)) {
      await this.publish({ id, status: 'running', partial: preview.index });
    }
  }

  private async forget(id: string): Promise<void> {
    const job = this.held.get(id);
    this.held.delete(id);
    if (job) await rm(job.uploadDir, { recursive: true, force: true });
  }

  private async publish(notice: JobNotice): Promise<void> {
    await this.o.notices.publish(notice);
  }

  /** Logs and publishes a job's terminal state (streams read its details from the row). */
  private async publishFinal(id: string): Promise<void> {
    const row = await this.o.store.get(id);
    if (!row) return;
    const view = jobView(row);
    this.o.log({ kind: 'job', id, status: row.status, ...(view.error ? { code: view.error.code } : {}) });
    await this.publish({ id, status: row.status });
  }
}

function waitingReason(until: number): string {
  const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000));
  return `Waiting for the image service's rate limit — about ${seconds} s.`;
}

/** The events that end a job's stream, from its row (also what a late subscriber receives). */
export function terminalEvents(row: JobRow, images: readonly JobImageRow[]): JobEvent[] {
  const view = jobView(row, images);
  switch (row.status) {
    case 'completed':
      return [
        {
          event: 'completed',
          data: {
            id: row.id,
            width: row.width ?? 0,
            height: row.height ?? 0,
            mime: row.mime ?? 'image/png',
            bytes: row.bytes ?? 0,
            url: `/v1/generations/${row.id}/image`,
            images: images.map(imageView),
          },
        },
      ];
    case 'canceled':
      return [{ event: 'canceled', data: { id: row.id, credits_returned: view.credits_returned ?? true } }];
    case 'failed':
    case 'interrupted':
      return [{ event: 'failed', data: { id: row.id, error: view.error ?? INTERRUPTED_ERROR } }];
    default:
      return [];
  }
}

/** The size a job is made at: the table's, or the draft size for Auto. */
function outputSize(row: JobRow): OutputSize {
  return sizeFor(row.aspect_ratio, row.resolution) ?? AUTO_DRAFT_SIZE;
}
