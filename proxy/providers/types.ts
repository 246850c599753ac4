// The one interface every upstream implements; chosen once at start-up (DESIGN.md §8).
import type { AspectRatio, OutputFormat, OutputSize, Quality, Tier } from '../../core/formats';
import type { ReferenceMime } from '../../core/limits';

export interface ProviderReference {
  /** The bytes exactly as the client sent them. */
  bytes: Uint8Array;
  mime: ReferenceMime;
  width: number;
  height: number;
}

/**
 * A reference as the job runner hands it over: the file its upload was written to, so many jobs of 16 references
 * are streamed from disk to the upstream rather than held in memory.
 */
export interface SpooledReference {
  file: string;
  mime: ReferenceMime;
  width: number;
  height: number;
}

/**
 * The mask of an edit or an expansion: a PNG of the first reference's size, transparent where the image may
 * change. With a mask the first reference is a PNG (OpenAI wants the image and its mask in the same format).
 */
export interface MaskInput {
  file: string;
  width: number;
  height: number;
}

export interface GenerationRequest {
  jobId: string;
  /** Whose job it is: OpenAI asks for a stable end-user id (sent as a hash). */
  accountId: string;
  prompt: string;
  aspectRatio: AspectRatio;
  resolution: Tier;
  /** From core's size table; `auto` lets the model choose. */
  size: OutputSize;
  quality: Quality;
  outputFormat: OutputFormat;
  references: readonly (ProviderReference | SpooledReference)[];
  /** Set for edits and expansions: where the first reference may change. */
  mask?: MaskInput;
  /** Variations asked (1 … MAX_VARIATIONS); one when absent. A provider may return fewer (never more). */
  n?: number;
}

export interface PartialImage {
  index: number;
  mime: 'image/png' | 'image/jpeg' | 'image/webp';
  b64: string;
  width: number;
  height: number;
}

export interface ProviderResult {
  /** Encoded image bytes as the upstream produced them; the job runner verifies them with sharp. */
  bytes: Buffer;
  /** Every image produced, in order, when the request asked for several (`bytes` is the first). */
  images?: Buffer[];
  /** Upstream metadata worth keeping on the job (OpenAI's usage, x-request-id). */
  usage?: unknown;
  upstreamRequestId?: string;
  /** What the provider changed on the way and the designer should know (kept on the job's `notes`). */
  notes?: string[];
}

export interface Provider {
  readonly name: 'openai' | 'task' | 'draft';
  readonly model: string;
  /** A limit of this provider's set-up the operator should read at start-up (e.g. image-to-image is off). */
  readonly notice?: string;
  /**
   * Produces one image. `signal` is the job's one deadline and its cancel (the runner owns it): when it aborts,
   * stop promptly and throw `signal.reason`. Throw a FramefillError carrying a §6 code for every failure the user
   * can meet (content_policy, rate_limited with retryAfter, upstream_error); the provider sets no timeout of its
   * own that could fire before the job's deadline.
   */
  generate(
    request: GenerationRequest,
    signal: AbortSignal,
    onPartial: (partial: PartialImage) => void,
  ): Promise<ProviderResult>;
}

/** The job's signal fired for its deadline (the runner's AbortSignal.timeout), not for a cancel or a shutdown. */
export function isDeadline(reason: unknown): boolean {
  return reason instanceof DOMException && reason.name === 'TimeoutError';
}
