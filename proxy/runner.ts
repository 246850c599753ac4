// Runs jobs: a FIFO queue under a bounded upstream concurrency, one AbortController per job (DELETE and the
// per-job timeout abort it), the provider's result verified and written under the data dir, and every
// transition published to the job's event subscribers and the log.
import { EventEmitter } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ApiError, ERROR_ADVICE, type JobEvent } from '../core/api';
import { AUTO_DRAFT_SIZE, type OutputSize, sizeFor } from '../core/formats';
import { FramefillError } from './errors';
import { verifyResult } from './images';
import { type JobRow, type JobStore, jobView } from './jobs';
import type { Logger } from './log';
import type {
  ArrivingReferenceSource,
  GenerationRequest,
  PartialImage,
  Provider,
  ProviderResult,
  SpooledReference,
} from './providers/types';

interface Pending {
  prompt: string;
  references: SpooledReference[];
  /** Folder of the uploaded references, removed when the job ends. */
  uploadDir: string;
  controller: AbortController;
  lastPartial?: PartialImage;
}

/** A job's output settings, as the provider takes them. */
type OutputSettings = Pick<GenerationRequest, 'aspectRatio' | 'resolution' | 'quality' | 'outputFormat'>;

/** What a job needs before its row exists, to be started while its references still arrive. */
export interface EarlyInput extends OutputSettings {
  id: string;
  prompt: string;
  arriving: ArrivingReferenceSource;
}

/** A provider call started before its job was accepted; `adopt` or `abandon` it. */
export interface EarlyStart {
  readonly id: string;
  readonly pending: Pending;
  readonly result: Promise<ProviderResult>;
}

export const INTERRUPTED_ERROR: ApiError = { code: 'interrupted', message: ERROR_ADVICE.interrupted };

export interface RunnerOptions {
  store: JobStore;
  provider: Provider;
  resultsDir: string;
  concurrency: number;
  timeoutMs: number;
  log: Logger;
  logPrompts: boolean;
}

export class JobRunner {
  private readonly queue: string[] = [];
  private readonly pending = new Map<string, Pending>();
  private readonly running = new Map<string, Promise<void>>();
  /** Calls started while their upload arrives; they hold a concurrency slot like a running job. */
  private readonly early = new Map<string, EarlyStart>();
  private readonly events = new EventEmitter();
  private accepting = true;

  constructor(private readonly o: RunnerOptions) {
    this.events.setMaxListeners(0);
  }

  /** Takes a freshly created (queued) job and its in-memory inputs; the prompt never touches the disk. */
  enqueue(row: JobRow, prompt: string, references: SpooledReference[], uploadDir: string): void {
    this.pending.set(row.id, { prompt, references, uploadDir, controller: new AbortController() });
    this.queue.push(row.id);
    this.logQueued(row, prompt, references.length);
    this.pump();
  }

  private logQueued(row: JobRow, prompt: string, references: number): void {
    this.o.log({
      kind: 'job',
      id: row.id,
      status: 'queued',
      aspect_ratio: row.aspect_ratio,
      resolution: row.resolution,
      references,
      cost: row.cost,
      ...(this.o.logPrompts ? { prompt } : {}),
    });
  }

  private partial(id: string, pending: Pending, partial: PartialImage): void {
    if (pending.controller.signal.aborted) return;
    pending.lastPartial = partial;
    this.events.emit(id, { event: 'partial', data: { id, ...partial } } satisfies JobEvent);
  }

  /**
   * Starts the provider on references that are still arriving, if it can forward them and a slot is free now
   * (nothing queued, so no job is overtaken). The upstream request cannot complete before the upload is accepted
   * (see ArrivingReferenceSource), so an upload refused later costs nothing upstream.
   */
  startEarly(input: EarlyInput): EarlyStart | undefined {
    if (!this.o.provider.forwardsArriving || !this.accepting || this.queue.length > 0) return undefined;
    if (this.running.size + this.early.size >= this.o.concurrency) return undefined;
    const pending: Pending = { prompt: input.prompt, references: [], uploadDir: '', controller: new AbortController() };
    const result = this.generate(input.id, pending, input, input.arriving);
    // Handled when adopted; until then a failure must not end the process as an unhandled rejection.
    result.catch(() => undefined);
    const early: EarlyStart = { id: input.id, pending, result };
    this.early.set(input.id, early);
    return early;
  }

  /** The upload was refused or replayed: stop its early call and free the slot. */
  abandon(early: EarlyStart): void {
    if (!this.early.delete(early.id)) return;
    early.pending.controller.abort(new FramefillError('internal', 'upload refused'));
    this.pump();
  }

  /** Takes the freshly created job of an early start; it is running already. */
  adopt(early: EarlyStart, row: JobRow, references: SpooledReference[], uploadDir: string): void {
    if (!this.accepting) {
      // Shutting down: the early call was aborted already; the job waits queued, as any other would.
      this.abandon(early);
      this.enqueue(row, early.pending.prompt, references, uploadDir);
      return;
    }
    this.early.delete(early.id);
    Object.assign(early.pending, { references, uploadDir });
    this.pending.set(row.id, early.pending);
    this.logQueued(row, early.pending.prompt, references.length);
    const run = this.run(row.id, early.result).finally(() => {
      this.running.delete(row.id);
      this.pump();
    });
    this.running.set(row.id, run);
  }

  /** Subscribes to a job's events; returns the unsubscribe function. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  lastPartial(id: string): PartialImage | undefined {
    return this.pending.get(id)?.lastPartial;
  }

  /** DELETE: a queued job ends at once, a running one is aborted. Returns whether the job was in flight. */
  cancel(id: string): boolean {
    if (!this.o.store.finish(id, 'canceled')) return false;
    const index = this.queue.indexOf(id);
    if (index >= 0) this.queue.splice(index, 1);
    const pending = this.pending.get(id);
    pending?.controller.abort(new FramefillError('internal', 'canceled'));
    this.publishFinal(id);
    if (!this.running.has(id)) void this.forget(id);
    return true;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Stops taking jobs, waits up to `graceMs` for running ones, then aborts the rest: they and the queued
   * ones end `interrupted`, with credits released (the same as a restart would do).
   */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    for (const early of [...this.early.values()]) this.abandon(early);
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
    this.pending.get(id)?.controller.abort(new FramefillError('internal', 'interrupted'));
    if (!this.running.has(id)) void this.forget(id);
  }

  private pump(): void {
    while (this.accepting && this.running.size + this.early.size < this.o.concurrency && this.queue.length > 0) {
      const id = this.queue.shift()!;
      const run = this.run(id).finally(() => {
        this.running.delete(id);
        this.pump();
      });
      this.running.set(id, run);
    }
  }

  /** Runs a job, or, given `started`, finishes the provider call an early start began. */
  private async run(id: string, started?: Promise<ProviderResult>): Promise<void> {
    const pending = this.pending.get(id);
    if (!pending || !this.o.store.start(id)) {
      pending?.controller.abort(new FramefillError('internal', 'canceled'));
      return this.forget(id);
    }
    const row = this.o.store.get(id)!;
    this.transition(id, 'running');
    const { controller } = pending;
    const timeout = setTimeout(
      () =>
        controller.abort(
          new FramefillError(
            'upstream_timeout',
            `The image service did not answer within ${Math.round(this.o.timeoutMs / 1000)} s. Try again, or pick a lower resolution.`,
          ),
        ),
      this.o.timeoutMs,
    );
    try {
      const settings: OutputSettings = {
        aspectRatio: row.aspect_ratio,
        resolution: row.resolution,
        quality: row.quality,
        outputFormat: row.output_format,
      };
      const result = await abortable(started ?? this.generate(id, pending, settings), controller.signal);
      const image = await verifyResult(result.bytes, outputSize(settings), row.output_format);
      if (controller.signal.aborted) throw controller.signal.reason;
      const resultFile = path.join(this.o.resultsDir, `${id}.${image.mime === 'image/png' ? 'png' : 'jpg'}`);
      await writeFile(resultFile, image.bytes);
      const completed = this.o.store.complete(id, {
        width: image.width,
        height: image.height,
        mime: image.mime,
        bytes: image.bytes.length,
        resultFile,
        notes: image.notes,
        usage: result.usage,
        upstreamRequestId: result.upstreamRequestId,
      });
      if (completed) this.publishFinal(id);
      else await rm(resultFile, { force: true });
    } catch (caught) {
      const reason = controller.signal.aborted ? controller.signal.reason : caught;
      const error =
        reason instanceof FramefillError
          ? reason
          : new FramefillError('upstream_error', 'The image service failed. Try again in a moment.', { cause: reason });
      // A canceled or interrupted job was already finished by cancel()/interrupt(); this is then a no-op.
      if (this.o.store.finish(id, 'failed', { code: error.code, message: error.message })) {
        if (!(reason instanceof FramefillError)) {
          this.o.log({ kind: 'job_error', id, error: reason instanceof Error ? reason.message : String(reason) });
        }
        this.publishFinal(id);
      }
    } finally {
      clearTimeout(timeout);
      await this.forget(id);
    }
  }

  /**
   * The provider call for a job: on its spooled references (the files themselves; the upload dir lives until
   * forget(), after the call), or on those still arriving when it starts early.
   */
  private generate(
    id: string,
    pending: Pending,
    settings: OutputSettings,
    arriving?: ArrivingReferenceSource,
  ): Promise<ProviderResult> {
    return this.o.provider.generate(
      {
        jobId: id,
        prompt: pending.prompt,
        ...settings,
        size: outputSize(settings),
        references: pending.references,
        ...(arriving ? { arriving } : {}),
      },
      pending.controller.signal,
      (partial) => this.partial(id, pending, partial),
    );
  }

  private async forget(id: string): Promise<void> {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    if (pending) await rm(pending.uploadDir, { recursive: true, force: true });
  }

  private transition(id: string, status: 'running'): void {
    this.o.log({ kind: 'job', id, status });
    this.events.emit(id, { event: 'status', data: { id, status } } satisfies JobEvent);
  }

  /** Logs and publishes a job's terminal state from its row. */
  private publishFinal(id: string): void {
    const row = this.o.store.get(id);
    if (!row) return;
    const view = jobView(row);
    this.o.log({ kind: 'job', id, status: row.status, ...(view.error ? { code: view.error.code } : {}) });
    this.events.emit(id, { event: 'status', data: { id, status: row.status } } satisfies JobEvent);
    for (const event of terminalEvents(row)) this.events.emit(id, event);
  }
}

/** The events that end a job's stream, from its row (also what a late subscriber receives). */
export function terminalEvents(row: JobRow): JobEvent[] {
  const view = jobView(row);
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
          },
        },
      ];
    case 'canceled':
      return [{ event: 'canceled', data: { id: row.id, credits_returned: true } }];
    case 'failed':
    case 'interrupted':
      return [{ event: 'failed', data: { id: row.id, error: view.error ?? INTERRUPTED_ERROR } }];
    default:
      return [];
  }
}

/** Resolves or rejects with the provider, or rejects as soon as the signal aborts (a provider may be slow to notice). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // The provider's late failure must still be handled: an unhandled rejection would end the whole process.
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The size a job is made at: the table's, or the draft size for Auto. */
function outputSize(settings: OutputSettings): OutputSize {
  return sizeFor(settings.aspectRatio, settings.resolution) ?? AUTO_DRAFT_SIZE;
}
