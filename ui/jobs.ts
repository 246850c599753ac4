// Runs the batch's jobs from submit to placement, and resumes jobs a closed panel left behind: one
// proxy job per target, its event stream, the result's bytes, PLACE_IMAGE exactly once per job.
import type { Job, JobEvent } from '../core/api';
import type { AspectRatio, Tier } from '../core/formats';
import { type MainToPanelPayload, PanelToMain, type PendingJob, type Provenance } from '../core/messages';
import type { Send } from './bridge';
import type { ShownError } from './errors';
import { downloadName } from './plan';
import { ApiError, type ProxyClient, type SubmitRequest, toApiError } from './proxy-client';

export type JobPhase =
  | 'submitting'
  | 'queued'
  | 'running'
  | 'fetching'
  | 'placing'
  | 'placed'
  | 'place_failed'
  | 'failed'
  | 'canceled'
  | 'interrupted';

export interface JobResult {
  bytes: Uint8Array<ArrayBuffer>;
  mime: string;
  width: number;
  height: number;
  fileName: string;
}

export interface JobCard {
  key: string;
  jobId?: string;
  targetId: string | null;
  targetName: string;
  ratio: AspectRatio;
  tier: Tier;
  phase: JobPhase;
  partial?: string;
  partials: number;
  reconnecting: boolean;
  error?: ShownError;
  result?: JobResult;
  createdFrame?: boolean;
  resumed: boolean;
  /** Left by a version that kept jobs per machine: its file is unknown, so it is offered, never placed by itself. */
  fromAnotherFile?: boolean;
}

export const ACTIVE_PHASES: readonly JobPhase[] = ['submitting', 'queued', 'running', 'fetching', 'placing'];

export function isActive(card: JobCard): boolean {
  return ACTIVE_PHASES.includes(card.phase);
}

/** Progress in percent: the proxy reports phases, not percentages, so each phase is a step. */
export function progressOf(card: JobCard): number {
  switch (card.phase) {
    case 'submitting':
      return 5;
    case 'queued':
      return 15;
    case 'running':
      return Math.min(80, 35 + card.partials * 15);
    case 'fetching':
      return 85;
    case 'placing':
      return 95;
    case 'placed':
      return 100;
    default:
      return card.result ? 100 : 0;
  }
}

export interface NewJob {
  proxyUrl: string;
  targetId: string | null;
  targetName: string;
  request: SubmitRequest;
  referenceIds: string[];
}

export interface JobRunnerDeps {
  send: Send;
  clientFor: (proxyUrl: string) => ProxyClient;
  onChange: (cards: JobCard[]) => void;
  /** A job reached an end: the balance may have changed. */
  onSettled: () => void;
  initialPending?: PendingJob[];
}

interface Running {
  card: JobCard;
  pending?: PendingJob;
  abort: AbortController;
  client: ProxyClient;
}

export class JobRunner {
  private readonly jobs = new Map<string, Running>();
  private readonly placeRequests = new Map<string, string>();
  /** Job ids whose image was fetched for placement: a replayed `completed` never places twice. */
  private readonly placing = new Set<string>();
  private pending: PendingJob[] = [];
  private counter = 0;

  constructor(private readonly deps: JobRunnerDeps) {}

  cards(): JobCard[] {
    return [...this.jobs.values()].map((job) => job.card);
  }

  async start(job: NewJob): Promise<void> {
    const key = `job-${++this.counter}`;
    const client = this.deps.clientFor(job.proxyUrl);
    const running: Running = {
      client,
      abort: new AbortController(),
      card: {
        key,
        targetId: job.targetId,
        targetName: job.targetName,
        ratio: job.request.aspectRatio,
        tier: job.request.resolution,
        phase: 'submitting',
        partials: 0,
        reconnecting: false,
        resumed: false,
      },
    };
    this.jobs.set(key, running);
    this.changed();
    let accepted: Job;
    try {
      accepted = await client.submit(job.request, client.newIdempotencyKey());
    } catch (error) {
      this.update(key, { phase: 'failed', error: toShown(error) });
      this.deps.onSettled();
      return;
    }
    const pending: PendingJob = {
      jobId: accepted.id,
      proxyUrl: client.baseUrl,
      targetId: job.targetId,
      targetName: job.targetName,
      provenance: provenanceOf(job.request.prompt, accepted, job.referenceIds),
    };
    running.pending = pending;
    // Saved the moment the proxy accepts it, so a panel closed from here on resumes the job.
    this.addPending(pending);
    this.update(key, { jobId: accepted.id, phase: phaseOfStatus(accepted.status) ?? 'queued' });
    this.deps.onSettled();
    await this.follow(key);
  }

  /** Reopens the event stream of every job a closed panel left behind. */
  resume(pendingJobs: readonly PendingJob[]): void {
    this.pending = [...pendingJobs];
    for (const pending of pendingJobs) {
      if ([...this.jobs.values()].some((job) => job.card.jobId === pending.jobId)) continue;
      const key = `job-${++this.counter}`;
      this.jobs.set(key, {
        pending,
        client: this.deps.clientFor(pending.proxyUrl),
        abort: new AbortController(),
        card: {
          key,
          jobId: pending.jobId,
          targetId: pending.targetId,
          targetName: pending.targetName,
          ratio: pending.provenance.aspectRatio,
          tier: pending.provenance.resolution,
          phase: 'queued',
          partials: 0,
          reconnecting: false,
          resumed: true,
          ...(pending.fromAnotherFile ? { fromAnotherFile: true } : {}),
        },
      });
      void this.follow(key);
    }
    this.changed();
  }

  async cancel(key: string): Promise<void> {
    const job = this.jobs.get(key);
    if (!job?.card.jobId || !isActive(job.card) || job.card.phase === 'placing') return;
    try {
      await job.client.cancel(job.card.jobId);
    } catch (error) {
      this.update(key, { error: toShown(error) });
    }
  }

  async cancelAll(): Promise<void> {
    await Promise.all(this.cards().map((card) => this.cancel(card.key)));
  }

  /** Stops following streams when the panel goes away; the jobs keep running on the proxy. */
  dispose(): void {
    for (const job of this.jobs.values()) job.abort.abort();
  }

  dismiss(key: string): void {
    const job = this.jobs.get(key);
    if (!job || isActive(job.card)) return;
    this.jobs.delete(key);
    // An image offered from another file stays stored until placed here or dismissed.
    if (job.card.fromAnotherFile && job.card.jobId) this.removePending(job.card.jobId);
    this.changed();
  }

  onImagePlaced(payload: MainToPanelPayload<'IMAGE_PLACED'>): void {
    const key = this.placeRequests.get(payload.requestId);
    if (!key) return;
    this.placeRequests.delete(payload.requestId);
    const job = this.jobs.get(key);
    if (!job) return;
    this.update(key, { phase: 'placed', createdFrame: payload.createdFrame, error: undefined });
    if (job.card.jobId) this.removePending(job.card.jobId);
    this.deps.onSettled();
  }

  onPlaceFailed(payload: MainToPanelPayload<'PLACE_FAILED'>): void {
    const key = this.placeRequests.get(payload.requestId);
    if (!key) return;
    this.placeRequests.delete(payload.requestId);
    const job = this.jobs.get(key);
    this.update(key, { phase: 'place_failed', error: { code: 'internal', message: payload.message } });
    // The bytes stay in the panel (download, place in a new frame); the stored job is done with.
    if (job?.card.jobId) this.removePending(job.card.jobId);
  }

  /** After a failed placement: the same bytes into a new frame. */
  placeInNewFrame(key: string): void {
    const job = this.jobs.get(key);
    if (!job?.card.result || !job.pending) return;
    this.place(key, null);
  }

  private async follow(key: string): Promise<void> {
    const job = this.jobs.get(key);
    const jobId = job?.card.jobId;
    if (!job || !jobId) return;
    try {
      await job.client.streamEvents(
        jobId,
        {
          onEvent: (event) => this.onEvent(key, event),
          onReconnect: () => this.update(key, { reconnecting: true }),
        },
        job.abort.signal,
      );
    } catch (error) {
      const shown = toShown(error);
      this.update(key, { phase: 'failed', error: shown });
      if (shown.code === 'not_found') this.removePending(jobId);
      this.deps.onSettled();
    }
  }

  private onEvent(key: string, event: JobEvent): void {
    switch (event.event) {
      case 'status': {
        const phase = phaseOfStatus(event.data.status);
        if (event.data.status === 'interrupted') {
          this.update(key, {
            phase: 'interrupted',
            reconnecting: false,
            error: { code: 'internal', message: 'The proxy stopped while this job ran; its credits were released.' },
          });
          this.settle(key);
        } else if (phase) this.update(key, { phase, reconnecting: false });
        return;
      }
      case 'partial':
        this.update(key, {
          phase: 'running',
          reconnecting: false,
          partial: `data:${event.data.mime};base64,${event.data.b64}`,
          partials: (this.jobs.get(key)?.card.partials ?? 0) + 1,
        });
        return;
      case 'completed':
        void this.fetchAndPlace(key, event.data.width, event.data.height);
        return;
      case 'failed':
        this.update(key, { phase: 'failed', reconnecting: false, error: event.data.error });
        this.settle(key);
        return;
      case 'canceled':
        this.update(key, { phase: 'canceled', reconnecting: false });
        this.settle(key);
        return;
    }
  }

  private settle(key: string): void {
    const jobId = this.jobs.get(key)?.card.jobId;
    if (jobId) this.removePending(jobId);
    this.deps.onSettled();
  }

  private async fetchAndPlace(key: string, width: number, height: number): Promise<void> {
    const job = this.jobs.get(key);
    const jobId = job?.card.jobId;
    if (!job || !jobId || this.placing.has(jobId)) return;
    this.placing.add(jobId);
    this.update(key, { phase: 'fetching', reconnecting: false });
    try {
      const image = await job.client.getImage(jobId);
      const prompt = job.pending?.provenance.prompt ?? '';
      this.update(key, {
        result: { ...image, width, height, fileName: downloadName(prompt, width, height, image.mime) },
      });
      if (job.card.fromAnotherFile) {
        this.update(key, { phase: 'place_failed' });
        return;
      }
      this.place(key, job.card.targetId);
    } catch (error) {
      this.placing.delete(jobId);
      this.update(key, { phase: 'failed', error: toShown(error) });
    }
  }

  private place(key: string, targetId: string | null): void {
    const job = this.jobs.get(key);
    const result = job?.card.result;
    if (!job?.pending || !result) return;
    const requestId = `place-${job.pending.jobId}-${++this.counter}`;
    const request = {
      requestId,
      targetId,
      bytes: result.bytes,
      width: result.width,
      height: result.height,
      provenance: job.pending.provenance,
    };
    // A request the message schema refuses would never be answered: fail it here, keeping the bytes.
    const checked = PanelToMain.PLACE_IMAGE.safeParse(request);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      this.update(key, {
        phase: 'place_failed',
        error: {
          code: 'internal',
          message: `The image could not be placed (${issue?.path.join('.') ?? 'request'}: ${issue?.message ?? 'invalid'}). Download it instead.`,
        },
      });
      return;
    }
    this.placeRequests.set(requestId, key);
    this.update(key, { phase: 'placing', error: undefined });
    this.deps.send('PLACE_IMAGE', request);
  }

  private addPending(pending: PendingJob): void {
    this.pending = [...this.pending.filter((p) => p.jobId !== pending.jobId), pending];
    this.deps.send('SAVE_STORAGE', { pendingJobs: this.pending });
  }

  private removePending(jobId: string): void {
    if (!this.pending.some((p) => p.jobId === jobId)) return;
    this.pending = this.pending.filter((p) => p.jobId !== jobId);
    this.deps.send('SAVE_STORAGE', { pendingJobs: this.pending });
  }

  private update(key: string, patch: Partial<JobCard>): void {
    const job = this.jobs.get(key);
    if (!job) return;
    job.card = { ...job.card, ...patch };
    this.changed();
  }

  private changed(): void {
    this.deps.onChange(this.cards());
  }
}

function phaseOfStatus(status: Job['status']): JobPhase | undefined {
  switch (status) {
    case 'queued':
      return 'queued';
    case 'running':
      return 'running';
    case 'failed':
      return 'failed';
    case 'canceled':
      return 'canceled';
    case 'interrupted':
      return 'interrupted';
    default:
      // `completed` is acted on by its own event, which carries the size.
      return undefined;
  }
}

function provenanceOf(prompt: string, job: Job, referenceIds: string[]): Provenance {
  const created = new Date(job.created_at);
  return {
    prompt,
    aspectRatio: job.aspect_ratio,
    resolution: job.resolution,
    model: job.model,
    jobId: job.id,
    referenceIds,
    costCredits: job.cost_credits,
    createdAt: Number.isNaN(created.getTime()) ? new Date().toISOString() : created.toISOString(),
  };
}

function toShown(error: unknown): ShownError {
  const apiError = error instanceof ApiError ? error : toApiError(error);
  return { code: apiError.code, message: apiError.message, retry_after: apiError.retry_after };
}
