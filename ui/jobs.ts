// Runs the batch's jobs from submit to placement, and resumes jobs a closed panel left behind: one
// proxy job per target, its event stream, the result's bytes, PLACE_IMAGE exactly once per job.
import type { Job, JobEvent, JobImage } from '../core/api';
import type { AspectRatio, Tier } from '../core/formats';
import { type MainToPanelPayload, PanelToMain, type PendingJob, type Provenance } from '../core/messages';
import { chargeFor } from '../core/pricing';
import type { Send } from './bridge';
import type { ShownError } from './errors';
import { downloadName } from './plan';
import { ApiError, type ProxyClient, type SubmitRequest, toApiError } from './proxy-client';

export type JobPhase =
  | 'submitting'
  /** The proxy did not accept it (no answer, or an answer such as 401 or 402): nothing runs, nothing is charged. */
  | 'unsent'
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

/** One variation of a job of several, once its image has arrived. */
export interface Variation extends JobResult {
  index: number;
}

export interface JobCard {
  key: string;
  jobId?: string;
  /** The proxy this job was sent to: its messages quote this URL, not whatever Settings says now. */
  proxyUrl: string;
  targetId: string | null;
  targetName: string;
  ratio: AspectRatio;
  tier: Tier;
  /**
   * What the job costs: the plan's price until the proxy answers with the job's own, then what was reserved, and
   * once it completes what was charged (fewer variations than asked are charged as produced).
   */
  costCredits: number;
  /** Set when fewer variations came back than were asked: the rest of the reservation was returned. */
  shortfall?: { asked: number; produced: number; returnedCredits: number; perImage: number };
  phase: JobPhase;
  partial?: string;
  partials: number;
  /** The proxy cannot be reached right now; the job is followed again once it can. */
  offline: boolean;
  /** Why the job waits, in the proxy's words (e.g. the image service's rate limit). */
  statusReason?: string | undefined;
  /** On a canceled job: whether its credits came back (false when the image service had started). */
  creditsReturned?: boolean;
  error?: ShownError | undefined;
  result?: JobResult;
  /** How many variations the job produced (from its completed event); absent or 1 for a single image. */
  variationCount?: number;
  /** The variations whose images have arrived, in index order; the first is the one placed. */
  variations?: Variation[];
  /** Variations whose images could not be fetched: they stay on the proxy (History places and downloads them). */
  missingVariations?: number[];
  /** Which variation the layer shows. */
  shown?: number;
  /** A swap in progress, to this variation. */
  swapping?: number;
  /** The variation a refused swap was for (its layer gone or locked): offered in a new frame instead. */
  swapFailed?: number | undefined;
  /** The variation placed straight into a new frame after a refused swap: the frame's first image, not a swap. */
  placedVariation?: number | undefined;
  /** The layer that got the image: where another variation is swapped in. */
  placedNodeId?: string;
  createdFrame?: boolean;
  resumed: boolean;
  /** Left by a version that kept jobs per machine: its file is unknown, so it is offered, never placed by itself. */
  fromAnotherFile?: boolean;
}

export const ACTIVE_PHASES: readonly JobPhase[] = ['submitting', 'queued', 'running', 'fetching', 'placing'];

export function isActive(card: JobCard): boolean {
  return ACTIVE_PHASES.includes(card.phase);
}

/**
 * Cancel is offered until the image exists; before the upstream call starts, the credits come back, and after it
 * too when the proxy refunds started calls (capabilities' `cancel_refund: started`).
 */
export function cancelOutcome(card: JobCard, refundsStarted = false): 'returned' | 'charged' | undefined {
  if (!card.jobId) return undefined;
  if (card.phase === 'queued') return 'returned';
  if (card.phase === 'running') return refundsStarted ? 'returned' : 'charged';
  return undefined;
}

/**
 * How long a job's result stays on the proxy (FRAMEFILL_RESULT_TTL_HOURS, default 7 days; the job's row stays for
 * History after that): the capabilities do not report it, so the panel keeps reconnecting for the default before it
 * gives a job up.
 */
export const RESULT_TTL_MS = 7 * 24 * 60 * 60 * 1000;

function aliveUntil(createdAt: string): number {
  const created = Date.parse(createdAt);
  return (Number.isNaN(created) ? Date.now() : created) + RESULT_TTL_MS;
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
  plannedCost: number;
  /** An edit or expansion: what the placed image's provenance records so Regenerate repeats it. */
  edit?: Pick<Provenance, 'kind' | 'maskShapeIds' | 'originalHash'>;
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
  /** Kept until the proxy accepts the job, so Retry resends it under the same Idempotency-Key. */
  unsent?: { job: NewJob; idempotencyKey: string };
  /** Variations asked and the credits reserved for them; unknown for a resumed job until the proxy is asked. */
  reserved?: { asked: number; credits: number };
}

export class JobRunner {
  private readonly jobs = new Map<string, Running>();
  private readonly placeRequests = new Map<string, string>();
  /** Swaps, and variations placed in a new frame after a refused swap (`newFrame`). */
  private readonly swapRequests = new Map<string, { key: string; index: number; newFrame?: boolean }>();
  /** Job ids whose image was fetched for placement: a replayed `completed` never places twice. */
  private readonly placing = new Set<string>();
  private pending: PendingJob[] = [];
  private counter = 0;

  constructor(private readonly deps: JobRunnerDeps) {}

  cards(): JobCard[] {
    return [...this.jobs.values()].map((job) => job.card);
  }

  /** Submits one job; resolves once the proxy has accepted or refused it (following it goes on in the background). */
  async start(job: NewJob): Promise<void> {
    const key = `job-${++this.counter}`;
    const client = this.deps.clientFor(job.proxyUrl);
    const running: Running = {
      client,
      abort: new AbortController(),
      unsent: { job, idempotencyKey: client.newIdempotencyKey() },
      card: {
        key,
        proxyUrl: client.baseUrl,
        targetId: job.targetId,
        targetName: job.targetName,
        ratio: job.request.aspectRatio,
        tier: job.request.resolution,
        costCredits: job.plannedCost,
        phase: 'submitting',
        partials: 0,
        offline: false,
        resumed: false,
      },
    };
    this.jobs.set(key, running);
    this.changed();
    await this.submit(key);
  }

  /** Sends a job the proxy never accepted again, under the same Idempotency-Key: it is never charged twice. */
  async retry(key: string): Promise<void> {
    const running = this.jobs.get(key);
    if (!running?.unsent || running.card.phase !== 'unsent') return;
    this.update(key, { phase: 'submitting', error: undefined });
    await this.submit(key);
  }

  private async submit(key: string): Promise<void> {
    const running = this.jobs.get(key);
    if (!running?.unsent) return;
    const { job, idempotencyKey } = running.unsent;
    const { client } = running;
    let accepted: Job;
    try {
      accepted = await client.submit(job.request, idempotencyKey);
    } catch (error) {
      this.update(key, { phase: 'unsent', error: toShown(error) });
      this.deps.onSettled();
      return;
    }
    running.unsent = undefined;
    running.reserved = { asked: accepted.n ?? job.request.n ?? 1, credits: accepted.cost_credits };
    const pending: PendingJob = {
      jobId: accepted.id,
      proxyUrl: client.baseUrl,
      targetId: job.targetId,
      targetName: job.targetName,
      provenance: { ...provenanceOf(job.request.prompt, accepted, job.referenceIds), ...job.edit },
    };
    running.pending = pending;
    // Saved the moment the proxy accepts it, so a panel closed from here on resumes the job.
    this.addPending(pending);
    this.update(key, {
      jobId: accepted.id,
      costCredits: accepted.cost_credits,
      phase: phaseOfStatus(accepted.status) ?? 'queued',
      statusReason: accepted.status_reason,
    });
    this.deps.onSettled();
    void this.follow(key);
  }

  /** Targets with a job still on its way: a second Generate for them asks first. */
  busyTargetIds(): Set<string> {
    const ids = new Set<string>();
    for (const { card } of this.jobs.values()) if (card.targetId && isActive(card)) ids.add(card.targetId);
    return ids;
  }

  /** Reopens the event stream of every job a closed panel left behind. */
  resume(pendingJobs: readonly PendingJob[]): void {
    this.pending = [...pendingJobs];
    for (const pending of pendingJobs) {
      if ([...this.jobs.values()].some((job) => job.card.jobId === pending.jobId)) continue;
      const key = `job-${++this.counter}`;
      const client = this.deps.clientFor(pending.proxyUrl);
      this.jobs.set(key, {
        pending,
        client,
        abort: new AbortController(),
        card: {
          key,
          jobId: pending.jobId,
          proxyUrl: client.baseUrl,
          targetId: pending.targetId,
          targetName: pending.targetName,
          ratio: pending.provenance.aspectRatio,
          tier: pending.provenance.resolution,
          costCredits: pending.provenance.costCredits,
          phase: 'queued',
          partials: 0,
          offline: false,
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
    if (!job?.card.jobId || cancelOutcome(job.card) === undefined) return;
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

  /** Clears every finished job from the strip; running ones stay. */
  dismissFinished(): void {
    for (const [key, job] of this.jobs) if (!isActive(job.card)) this.jobs.delete(key);
    this.changed();
  }

  dismiss(key: string): void {
    const job = this.jobs.get(key);
    if (!job || isActive(job.card)) return;
    this.jobs.delete(key);
    // An image offered from another file stays stored until placed here or dismissed.
    if (job.card.fromAnotherFile && job.card.jobId) this.removePending(job.card.jobId);
    this.changed();
  }

  /** Puts another variation into the layer that shows this job: one undo step in Figma. */
  swap(key: string, index: number): void {
    const job = this.jobs.get(key);
    const card = job?.card;
    const variation = card?.variations?.find((v) => v.index === index);
    if (!job?.pending || !card || !variation || !card.placedNodeId || card.phase !== 'placed') return;
    if (card.shown === index || card.swapping !== undefined) return;
    this.deps.send('SWAP_IMAGE', { ...this.variationRequest(key, job.pending, variation), nodeId: card.placedNodeId });
  }

  /** A variation on its way to main (a swap, or a new frame after a refused one), answered by onImagePlaced. */
  private variationRequest(key: string, pending: PendingJob, variation: Variation, newFrame?: boolean) {
    const requestId = `swap-${pending.jobId}-${++this.counter}`;
    this.swapRequests.set(requestId, { key, index: variation.index, ...(newFrame ? { newFrame } : {}) });
    this.update(key, { swapping: variation.index, error: undefined });
    return {
      requestId,
      bytes: variation.bytes,
      width: variation.width,
      height: variation.height,
      provenance: { ...pending.provenance, variation: variation.index },
    };
  }

  onImagePlaced(payload: MainToPanelPayload<'IMAGE_PLACED'>): void {
    const swap = this.swapRequests.get(payload.requestId);
    if (swap) {
      this.swapRequests.delete(payload.requestId);
      this.update(swap.key, {
        shown: swap.index,
        swapping: undefined,
        swapFailed: undefined,
        placedNodeId: payload.nodeId,
        ...(swap.newFrame ? { createdFrame: payload.createdFrame, placedVariation: swap.index } : {}),
      });
      return;
    }
    const key = this.placeRequests.get(payload.requestId);
    if (!key) return;
    this.placeRequests.delete(payload.requestId);
    const job = this.jobs.get(key);
    if (!job) return;
    this.update(key, {
      phase: 'placed',
      createdFrame: payload.createdFrame,
      error: undefined,
      placedNodeId: payload.nodeId,
      shown: 0,
    });
    if (job.card.jobId) this.removePending(job.card.jobId);
    this.deps.onSettled();
  }

  /** The canvas changed which variation a layer shows (the designer's undo or redo, or a swap): the strip follows. */
  onLayerVariation(payload: MainToPanelPayload<'LAYER_VARIATION'>): void {
    for (const [key, { card }] of this.jobs) {
      if (card.phase !== 'placed' || card.jobId !== payload.jobId || card.placedNodeId !== payload.nodeId) continue;
      if (card.shown !== payload.variation) this.update(key, { shown: payload.variation });
    }
  }

  onPlaceFailed(payload: MainToPanelPayload<'PLACE_FAILED'>): void {
    const swap = this.swapRequests.get(payload.requestId);
    if (swap) {
      // The layer keeps the variation it had; the one asked for stays downloadable, and can go in a new frame.
      this.swapRequests.delete(payload.requestId);
      this.update(swap.key, {
        swapping: undefined,
        swapFailed: swap.index,
        error: { code: payload.code, message: payload.message },
      });
      return;
    }
    const key = this.placeRequests.get(payload.requestId);
    if (!key) return;
    this.placeRequests.delete(payload.requestId);
    const job = this.jobs.get(key);
    this.update(key, { phase: 'place_failed', error: { code: payload.code, message: payload.message } });
    // The bytes stay in the panel (download, place in a new frame); the stored job is done with.
    if (job?.card.jobId) this.removePending(job.card.jobId);
  }

  /** After a failed placement: the same bytes into a new frame; after a refused swap, that variation. */
  placeInNewFrame(key: string): void {
    const job = this.jobs.get(key);
    if (!job?.card.result || !job.pending) return;
    const index = job.card.swapFailed;
    const variation = job.card.variations?.find((v) => v.index === index);
    if (index === undefined || !variation || job.card.phase !== 'placed') {
      this.place(key, null);
      return;
    }
    if (job.card.swapping !== undefined) return;
    this.deps.send('PLACE_IMAGE', { ...this.variationRequest(key, job.pending, variation, true), targetId: null });
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
          onReconnect: () => this.update(key, { offline: true }),
        },
        job.abort.signal,
        aliveUntil(job.pending?.provenance.createdAt ?? ''),
      );
    } catch (error) {
      const shown = toShown(error);
      if (shown.code === 'interrupted') {
        this.update(key, { phase: 'interrupted', offline: false, error: undefined });
        this.settle(key);
        return;
      }
      this.update(key, { phase: 'failed', offline: false, error: shown });
      if (shown.code === 'not_found') this.removePending(jobId);
      this.deps.onSettled();
    }
  }

  private onEvent(key: string, event: JobEvent): void {
    const card = this.jobs.get(key)?.card;
    if (!card) return;
    switch (event.event) {
      case 'status': {
        if (event.data.status === 'interrupted') {
          this.update(key, { phase: 'interrupted', offline: false, statusReason: undefined });
          this.settle(key);
          return;
        }
        const phase = phaseOfStatus(event.data.status);
        if (phase && phase !== 'failed' && phase !== 'canceled') {
          this.update(key, { phase, offline: false, statusReason: event.data.reason });
        } else this.update(key, { offline: false });
        return;
      }
      case 'partial':
        this.update(key, {
          phase: 'running',
          offline: false,
          statusReason: undefined,
          partial: `data:${event.data.mime};base64,${event.data.b64}`,
          partials: card.partials + 1,
        });
        return;
      case 'completed':
        this.update(key, { offline: false, statusReason: undefined });
        void this.fetchAndPlace(key, event.data.width, event.data.height, event.data.images ?? []);
        return;
      case 'failed':
        // An interrupted job says so once, from its status; the matching failed event adds nothing.
        if (card.phase === 'interrupted' || event.data.error.code === 'interrupted') {
          if (card.phase !== 'interrupted') {
            this.update(key, { phase: 'interrupted', offline: false, statusReason: undefined });
            this.settle(key);
          }
          return;
        }
        this.update(key, { phase: 'failed', offline: false, statusReason: undefined, error: event.data.error });
        this.settle(key);
        return;
      case 'canceled':
        this.update(key, {
          phase: 'canceled',
          offline: false,
          statusReason: undefined,
          creditsReturned: event.data.credits_returned,
        });
        this.settle(key);
        return;
    }
  }

  private settle(key: string): void {
    const jobId = this.jobs.get(key)?.card.jobId;
    if (jobId) this.removePending(jobId);
    this.deps.onSettled();
  }

  private async fetchAndPlace(
    key: string,
    width: number,
    height: number,
    images: readonly JobImage[] = [],
  ): Promise<void> {
    const job = this.jobs.get(key);
    const jobId = job?.card.jobId;
    if (!job || !jobId || this.placing.has(jobId)) return;
    this.placing.add(jobId);
    this.update(key, { phase: 'fetching', offline: false });
    await this.settleCost(key, images);
    try {
      const image = await job.client.getImage(jobId, {
        aliveUntil: aliveUntil(job.pending?.provenance.createdAt ?? ''),
        signal: job.abort.signal,
        onOffline: () => this.update(key, { offline: true }),
      });
      this.update(key, { offline: false });
      const prompt = job.pending?.provenance.prompt ?? '';
      const result = { ...image, width, height, fileName: downloadName(prompt, width, height, image.mime) };
      this.update(key, {
        result,
        ...(images.length > 1 ? { variationCount: images.length, variations: [{ ...result, index: 0 }] } : {}),
      });
      if (job.card.fromAnotherFile) this.update(key, { phase: 'place_failed' });
      else this.place(key, job.card.targetId);
      if (images.length > 1) await this.fetchVariations(key, images.slice(1));
    } catch (error) {
      this.placing.delete(jobId);
      if (job.abort.signal.aborted) return;
      this.update(key, { phase: 'failed', offline: false, error: toShown(error) });
    }
  }

  /**
   * What the completed job was charged: the proxy charges each image produced at the job's price per image and
   * returns what was reserved for the rest, so the card and the layer's provenance say the charged amount.
   */
  private async settleCost(key: string, images: readonly JobImage[]): Promise<void> {
    const job = this.jobs.get(key);
    // A proxy from before variations lists no images: its one image costs what was reserved.
    if (!job?.card.jobId || images.length === 0) return;
    if (!job.reserved) {
      // A resumed job: the stored pending job knows what was reserved, the proxy how many were asked.
      try {
        const stored = await job.client.getJob(job.card.jobId);
        job.reserved = { asked: stored.n ?? 1, credits: job.pending?.provenance.costCredits ?? job.card.costCredits };
      } catch {
        return;
      }
    }
    const { asked, credits } = job.reserved;
    if (images.length >= asked) return;
    const charged = chargeFor(credits, asked, images.length);
    if (job.pending) job.pending = { ...job.pending, provenance: { ...job.pending.provenance, costCredits: charged } };
    this.update(key, {
      costCredits: charged,
      shortfall: {
        asked,
        produced: images.length,
        returnedCredits: credits - charged,
        perImage: credits / asked,
      },
    });
  }

  /** The other variations, one after another: each joins the card's strip as it arrives. */
  private async fetchVariations(key: string, images: readonly JobImage[]): Promise<void> {
    for (const image of images) {
      const job = this.jobs.get(key);
      const jobId = job?.card.jobId;
      if (!job || !jobId || job.abort.signal.aborted) return;
      try {
        const fetched = await job.client.getImage(
          jobId,
          { aliveUntil: aliveUntil(job.pending?.provenance.createdAt ?? ''), signal: job.abort.signal },
          image.index,
        );
        const prompt = job.pending?.provenance.prompt ?? '';
        const variation: Variation = {
          ...fetched,
          index: image.index,
          width: image.width,
          height: image.height,
          fileName: variationFileName(downloadName(prompt, image.width, image.height, fetched.mime), image.index),
        };
        const current = this.jobs.get(key)?.card.variations ?? [];
        this.update(key, { variations: [...current, variation].sort((a, b) => a.index - b.index) });
      } catch (error) {
        if (job.abort.signal.aborted) return;
        const missing = this.jobs.get(key)?.card.missingVariations ?? [];
        this.update(key, { error: toShown(error), missingVariations: [...missing, image.index] });
      }
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
          code: 'place_failed',
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

/** "lemons-1280x720-v2.jpg" for the second variation; the first keeps the plain name. */
export function variationFileName(fileName: string, index: number): string {
  return index === 0 ? fileName : fileName.replace(/(\.[a-z]+)$/, `-v${index + 1}$1`);
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
