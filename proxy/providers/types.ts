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
 * A reference as the job runner hands it over: the file its upload was spooled to, so 50 jobs of 16 references
 * are streamed from disk to the upstream rather than held in memory (bench/: memory under load).
 */
export interface SpooledReference {
  file: string;
  mime: ReferenceMime;
  width: number;
  height: number;
}

/**
 * References still arriving from the client (proxy/arriving.ts), for a provider that can forward them while they
 * arrive. `hasNext` answers `false` only once the upload is accepted, and throws if it is refused, so the
 * upstream request can never be completed for an upload the proxy then refuses.
 */
export interface ArrivingReferenceSource {
  mime(index: number): ReferenceMime;
  /** Whether a reference follows `index` (-1: whether there is a first one). */
  hasNext(index: number): Promise<boolean>;
  /** Reference `index`'s bytes, as they arrive, to its end; each call reads from the start. */
  read(index: number): AsyncIterable<Uint8Array>;
}

export interface GenerationRequest {
  jobId: string;
  prompt: string;
  aspectRatio: AspectRatio;
  resolution: Tier;
  /** From core's size table; `auto` lets the model choose. */
  size: OutputSize;
  quality: Quality;
  outputFormat: OutputFormat;
  references: readonly (ProviderReference | SpooledReference)[];
  /** Set instead of `references` when the job was started while its upload still arrived. */
  arriving?: ArrivingReferenceSource;
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
  /** Upstream metadata worth keeping on the job (OpenAI's usage, x-request-id). */
  usage?: unknown;
  upstreamRequestId?: string;
}

export interface Provider {
  readonly name: 'openai' | 'draft';
  readonly model: string;
  /** Whether `generate` accepts `arriving` references (the draft provider decodes whole images, so it does not). */
  readonly forwardsArriving: boolean;
  /**
   * Produces one image. Must stop promptly when `signal` aborts, and throw a FramefillError carrying a
   * §6 code for every failure the user can meet (content_policy, rate_limited, upstream_error, upstream_timeout).
   */
  generate(
    request: GenerationRequest,
    signal: AbortSignal,
    onPartial: (partial: PartialImage) => void,
  ): Promise<ProviderResult>;
}
