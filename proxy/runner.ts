// Runs jobs: a FIFO queue under a bounded upstream concurrency, an optional images-per-minute pace, and one
// AbortSignal per job — its cancel and its deadline (FRAMEFILL_UPSTREAM_TIMEOUT_S from its first upstream call)
// combined — which the provider stops on. The upstream's rate limit puts a job back in the queue until the wait it
// asked for has passed, as long as the deadline allows. Every transition is published to the job's event
// subscribers and the log.
import { EventEmitter } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ApiError, ERROR_ADVICE, type JobEvent } from '../core/api';
import { AUTO_DRAFT_SIZE, type OutputSize, sizeFor } from '../core/formats';
import { keepOutsideMask } from './composite';
import type { EditInput } from './edits';
import { FramefillError } from './errors';
import { previewOf, thumbnailOf, verifyResult } from './images';
import { type CompletedImage, imageView, type JobImageRow, type JobRow, type JobStore, jobView } from './jobs';
import type { Logger } from './log';
import type { GenerationRequest, PartialImage, Provider, SpooledReference } from './providers/types';

export const INTERRUPTED_ERROR: ApiError = { code: 'interrupted', message: ERROR_ADVICE.interrupted };

export interface RunnerOptions {
  store: JobStore;
  provider: Provider;
  resultsDir: string;
  concurrency: number;
  timeoutMs: number;
  /** Upstream calls started per minute at most (FRAMEFILL_UPSTREAM_IMAGES_PER_MINUTE); unset: no pace. */
  imagesPerMinute?: number;
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
  lastPartial?: PartialImage;
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
  private readonly events = new EventEmitter();
  private wakeTimer: ReturnType<typeof setTimeout> | undefined;
  private accepting = true;

  constructor(private readonly o: RunnerOptions) {
    this.events.setMaxListeners(0);
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

  /** Subscribes to a job's events; returns the unsubscribe function. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  lastPartial(id: string): PartialImage | undefined {
    return this.held.get(id)?.lastPartial;
  }

  /**
   * DELETE: a queued job ends at once with its credits back; a running one is aborted and charged, since the
   * operator is billed for a started call (unless started cancels are refunded). False when already final.
   */
  cancel(id: string): boolean {
    const refund = this.o.store.get(id)?.status !== 'running' || this.o.refundStartedCancels;
    if (!this.o.store.finish(id, 'canceled', undefined, { refund })) return false;
    this.dequeue(id);
    this.held.get(id)?.controller.abort(new FramefillError('internal', 'canceled'));
    this.publishFinal(id);
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
    for (const id of this.queue.splice(0)) this.interrupt(id);
    const all = Promise.allSettled([...this.running.values()]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const id of [...this.running.keys()]) this.interrupt(id);
    await all;
  }

  private interrupt(id: string): void {
    if (this.o.store.finish(id, 'interrupted', INTERRUPTED_ERROR)) this.publishFinal(id);
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
      const run = this.run(ready).finally(() => {
        this.running.delete(ready);
        this.pump();
      });
      this.running.set(ready, run);
    }
  }

  /** When the images-per-minute pace lets the next call start. */
  private paceAllowsAt(now: number): number {
    const limit = this.o.imagesPerMinute;
    if (!limit) return now;
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
    this.o.store.setReason(id, reason);
    this.publish(id, { event: 'status', data: { id, status: 'queued', reason } });
  }

  private async run(id: string): Promise<void> {
    const job = this.held.get(id);
    if (!job || !this.o.store.start(id)) return this.forget(id);
    job.reason = undefined;
    job.deadlineAt ??= Date.now() + this.o.timeoutMs;
    job.signal ??= AbortSignal.any([job.controller.signal, AbortSignal.timeout(this.o.timeoutMs)]);
    const { signal } = job;
    const row = this.o.store.get(id)!;
    this.o.log({ kind: 'job', id, status: 'running' });
    this.publish(id, { event: 'status', data: { id, status: 'running' } });
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
      signal.throwIfAborted();
      const produced = (result.images ?? [result.bytes]).slice(0, row.n);
      const kept = await this.keepImages(id, produced, size, row, job.edit);
      if (signal.aborted) {
        await removeFiles(kept.images);
        signal.throwIfAborted();
      }
      const completed = this.o.store.complete(id, {
        images: kept.images,
        notes: [...(result.notes ?? []), ...kept.notes],
        usage: result.usage,
        upstreamRequestId: result.upstreamRequestId,
      });
      if (completed) {
        this.publishFinal(id);
        this.o.onCompleted?.(id);
      } else await removeFiles(kept.images);
    } catch (caught) {
      const error = this.failureOf(signal.aborted ? signal.reason : caught);
      // Without a wait named, 5 s, then 10, 20, 40, 60 at most (OpenAI's guide asks for a backoff on 429).
      const waitS =
        error.code === 'rate_limited'
          ? (error.retryAfter ?? Math.min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** job.unnamedWaits++))
          : undefined;
      if (waitS !== undefined && this.requeue(id, job, waitS)) return;
      // A canceled or interrupted job was already finished by cancel()/interrupt(); this is then a no-op.
      const body: ApiError = {
        code: error.code,
        message: error.message,
        ...(waitS !== undefined ? { retry_after: waitS } : {}),
      };
      if (this.o.store.finish(id, 'failed', body, { upstreamRequestId: error.upstreamRequestId })) {
        this.o.log({
          kind: 'job_error',
          id,
          code: error.code,
          error: error.cause instanceof Error ? error.cause.message : error.message,
          ...(error.upstreamRequestId ? { upstream_request_id: error.upstreamRequestId } : {}),
        });
        this.publishFinal(id);
      }
    }
    await this.forget(id);
  }

  /**
   * Verifies each image, writes it to the results folder and makes its thumbnail. A variation that is not a usable
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
        const index = images.length;
        const name = `${id}${index === 0 ? '' : `-${index}`}.${image.mime === 'image/png' ? 'png' : 'jpg'}`;
        const resultFile = path.join(this.o.resultsDir, name);
        await writeFile(resultFile, image.bytes, { mode: 0o600 });
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

  /** One failure, one message: the deadline and unknown errors become §6 codes here. */
  private failureOf(reason: unknown): FramefillError {
    if (reason instanceof FramefillError) return reason;
    if (reason instanceof DOMException && reason.name === 'TimeoutError') {
      return new FramefillError(
        'upstream_timeout',
        `The image service did not deliver the image within ${Math.round(this.o.timeoutMs / 1000)} s. Try again, or pick a lower resolution or quality.`,
      );
    }
    return new FramefillError('upstream_error', ERROR_ADVICE.upstream_error, { cause: reason });
  }

  /** The upstream asked to wait: back to the queue until then, if the job's deadline allows. */
  private requeue(id: string, job: HeldJob, waitS: number): boolean {
    const until = Date.now() + waitS * 1000;
    if (!this.accepting || until >= (job.deadlineAt ?? 0)) return false;
    const reason = waitingReason(until);
    if (!this.o.store.requeue(id, reason)) return false;
    job.notBefore = until;
    job.reason = reason;
    this.queue.unshift(id);
    this.o.log({ kind: 'job', id, status: 'queued', wait_s: waitS });
    this.publish(id, { event: 'status', data: { id, status: 'queued', reason } });
    return true;
  }

  /** Previews are previews: at most 512 px on the long edge, never the upstream's full-size bytes. */
  private async partial(id: string, job: HeldJob, partial: PartialImage): Promise<void> {
    if (job.signal?.aborted) return;
    const preview = await previewOf(partial).catch(() => undefined);
    if (!preview || job.signal?.aborted) return;
    job.lastPartial = preview;
    this.publish(id, { event: 'partial', data: { id, ...preview } });
  }

  private async forget(id: string): Promise<void> {
    const job = this.held.get(id);
    this.held.delete(id);
    if (job) await rm(job.uploadDir, { recursive: true, force: true });
  }

  private publish(id: string, event: JobEvent): void {
    this.events.emit(id, event);
  }

  /** Logs and publishes a job's terminal state from its row. */
  private publishFinal(id: string): void {
    const row = this.o.store.get(id);
    if (!row) return;
    const view = jobView(row);
    this.o.log({ kind: 'job', id, status: row.status, ...(view.error ? { code: view.error.code } : {}) });
    this.publish(id, { event: 'status', data: { id, status: row.status } });
    for (const event of terminalEvents(row, this.o.store.images(id))) this.publish(id, event);
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

async function removeFiles(images: readonly CompletedImage[]): Promise<void> {
  await Promise.all(images.map((image) => rm(image.resultFile, { force: true })));
}

/** The size a job is made at: the table's, or the draft size for Auto. */
function outputSize(row: JobRow): OutputSize {
  return sizeFor(row.aspect_ratio, row.resolution) ?? AUTO_DRAFT_SIZE;
}
