// The panel's HTTP client for the Framefill proxy (DESIGN.md §5): JSON routes, multipart submit with an
// Idempotency-Key, and the job's event stream read over fetch (EventSource cannot send headers).
import { createParser } from 'eventsource-parser';
import type { z } from 'zod';
import {
  type Account,
  AccountSchema,
  type Capabilities,
  CapabilitiesSchema,
  ErrorBodySchema,
  type ErrorCode,
  type GenerationList,
  GenerationListSchema,
  type Job,
  type JobEvent,
  type JobImage,
  JobSchema,
  parseJobEvent,
} from '../core/api';
import type { AspectRatio, OutputFormat, Quality, Tier } from '../core/formats';
import { normalizeProxyUrl } from './proxy-url';

/** `proxy_unreachable` is the panel's own: fetch itself failed, so no proxy answered at all. */
export type ClientErrorCode = ErrorCode | 'proxy_unreachable' | 'bad_response';

export class ApiError extends Error {
  readonly code: ClientErrorCode;
  readonly retry_after: number | undefined;
  constructor(code: ClientErrorCode, message: string, retryAfter?: number) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.retry_after = retryAfter;
  }
}

export interface Reference {
  name: string;
  mime: string;
  bytes: Uint8Array<ArrayBuffer>;
}

export interface SubmitRequest {
  prompt: string;
  aspectRatio: AspectRatio;
  resolution: Tier;
  quality: Quality;
  outputFormat: OutputFormat;
  references: readonly Reference[];
  /** `edit` (with `mask`, for the first reference) or `expand`; a plain generation when absent. */
  mode?: 'edit' | 'expand';
  /** A PNG of the first reference's size, transparent where the image may change. */
  mask?: Uint8Array<ArrayBuffer>;
  /** Variations (1 … MAX_VARIATIONS); one when absent. */
  n?: number;
}

export interface ImageResult {
  bytes: Uint8Array<ArrayBuffer>;
  mime: string;
}

export interface StreamHandlers {
  onEvent: (event: JobEvent) => void;
  /** Called when the stream broke and will be retried; `attempt` counts from 1. */
  onReconnect?: (attempt: number, error: ApiError) => void;
}

export interface RetryWhileOffline {
  /** Until when (ms since the epoch) the job could still be alive on the proxy. */
  aliveUntil: number;
  signal: AbortSignal;
  onOffline?: () => void;
}

export interface ProxyClientOptions {
  baseUrl: string;
  token?: string;
  fetch?: typeof fetch;
  /** Waits between reconnects while the proxy cannot be reached, in ms; the last one repeats. */
  backoffMs?: readonly number[];
  randomUUID?: () => string;
  now?: () => number;
}

/** Capped so that a proxy back after a restart is noticed within seconds, not minutes. */
const DEFAULT_BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000, 10_000];

export class ProxyClient {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly fetchImpl: typeof fetch;
  private readonly backoffMs: readonly number[];
  private readonly randomUUID: () => string;
  private readonly now: () => number;
  private capabilities: Promise<Capabilities> | undefined;

  constructor(options: ProxyClientOptions) {
    this.baseUrl = normalizeProxyUrl(options.baseUrl);
    this.token = options.token?.trim() ?? '';
    // Bound so that a bare `fetch` is not called with the client as `this` (browsers refuse that).
    this.fetchImpl = options.fetch ?? fetch.bind(globalThis);
    this.backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.randomUUID = options.randomUUID ?? (() => crypto.randomUUID());
    this.now = options.now ?? Date.now;
  }

  /** Fetched once per client; the panel renders its ratios, sizes and prices. */
  getCapabilities(): Promise<Capabilities> {
    this.capabilities ??= this.json('/v1/capabilities', CapabilitiesSchema).catch((error: unknown) => {
      this.capabilities = undefined;
      throw error;
    });
    return this.capabilities;
  }

  getAccount(): Promise<Account> {
    return this.json('/v1/account', AccountSchema);
  }

  getJob(id: string): Promise<Job> {
    return this.json(`/v1/generations/${encodeURIComponent(id)}`, JobSchema);
  }

  cancel(id: string): Promise<void> {
    return this.request(`/v1/generations/${encodeURIComponent(id)}`, { method: 'DELETE' }).then(() => undefined);
  }

  /** One page of History: the caller's jobs, newest first. */
  listJobs(
    query: { cursor?: string | undefined; q?: string | undefined; limit?: number } = {},
  ): Promise<GenerationList> {
    const params = new URLSearchParams();
    if (query.cursor) params.set('cursor', query.cursor);
    if (query.q) params.set('q', query.q);
    if (query.limit) params.set('limit', String(query.limit));
    const search = params.toString();
    return this.json(`/v1/generations${search ? `?${search}` : ''}`, GenerationListSchema);
  }

  /**
   * A History thumbnail (at most 256 px) of one image of a job, from the image's own `thumbnail_url`. Only a path
   * under this proxy's /v1/generations/ is followed: the token is never sent anywhere else.
   */
  async getThumbnail(image: Pick<JobImage, 'thumbnail_url'>, signal?: AbortSignal): Promise<ImageResult> {
    const path = image.thumbnail_url;
    if (!/^\/v1\/generations\/[^/?#]+\/thumbnail(\?[^#]*)?$/.test(path)) {
      throw new ApiError('bad_response', `The proxy gave a thumbnail address this panel does not follow (${path}).`);
    }
    const response = await this.request(path, { ...(signal ? { signal } : {}) });
    const bytes = new Uint8Array(await response.arrayBuffer());
    return { bytes, mime: response.headers.get('content-type')?.split(';')[0]?.trim() ?? 'image/jpeg' };
  }

  /**
   * The result's bytes (image `index` of the job, the first by default); while the proxy cannot be reached, retried
   * with backoff until `aliveUntil` (ms).
   */
  async getImage(id: string, retry?: RetryWhileOffline, index = 0): Promise<ImageResult> {
    return this.whileOffline(retry, async () => {
      const which = index > 0 ? `?index=${index}` : '';
      const response = await this.request(`/v1/generations/${encodeURIComponent(id)}/image${which}`, {
        ...(retry ? { signal: retry.signal } : {}),
      });
      const bytes = new Uint8Array(await response.arrayBuffer());
      return { bytes, mime: response.headers.get('content-type')?.split(';')[0]?.trim() ?? 'image/png' };
    });
  }

  /** A new idempotency key; pass the same one to `submit` again to retry without a second charge. */
  newIdempotencyKey(): string {
    return this.randomUUID();
  }

  /**
   * Submits one generation. A network failure is retried with the same Idempotency-Key, so the proxy
   * returns the job it may already have accepted instead of charging twice (DESIGN.md §5).
   */
  async submit(request: SubmitRequest, idempotencyKey = this.newIdempotencyKey(), retries = 2): Promise<Job> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.json('/v1/generations', JobSchema, {
          method: 'POST',
          body: toFormData(request),
          headers: { 'Idempotency-Key': idempotencyKey },
        });
      } catch (error) {
        if (!(error instanceof ApiError) || error.code !== 'proxy_unreachable' || attempt >= retries) throw error;
        await sleep(this.backoffMs[Math.min(attempt, this.backoffMs.length - 1)] ?? 500);
      }
    }
  }

  /**
   * Follows a job's event stream until a terminal event (`completed`, `failed`, `canceled`) or the signal
   * aborts. The proxy replays the current state on reconnect, so a broken stream is simply reopened — for as
   * long as the proxy cannot be reached and the job could still be alive (`aliveUntil`, ms since the epoch:
   * the proxy keeps a job and its result for its result TTL). Only an answer from the proxy ends it early.
   */
  async streamEvents(id: string, handlers: StreamHandlers, signal: AbortSignal, aliveUntil = Infinity): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let terminal = false;
      try {
        const response = await this.request(`/v1/generations/${encodeURIComponent(id)}/events`, {
          headers: { Accept: 'text/event-stream' },
          signal,
        });
        if (!response.body) throw new ApiError('bad_response', 'The proxy sent an event stream without a body.');
        const parser = createParser({
          onEvent: (message) => {
            const event = parseJobEvent(message.event ?? 'message', message.data);
            if (!event) return;
            failures = 0;
            if (event.event === 'completed' || event.event === 'failed' || event.event === 'canceled') terminal = true;
            handlers.onEvent(event);
          },
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        while (!terminal) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
        if (terminal) {
          await reader.cancel().catch(() => undefined);
          return;
        }
        throw new ApiError('proxy_unreachable', 'The event stream closed before the job finished.');
      } catch (error) {
        if (signal.aborted) return;
        const apiError = toApiError(error);
        // Answers from the proxy (404, 401 …) will not change by retrying; only a lost connection will.
        if (apiError.code !== 'proxy_unreachable') throw apiError;
        if (this.now() >= aliveUntil) throw apiError;
        failures++;
        handlers.onReconnect?.(failures, apiError);
        await sleep(this.backoff(failures), signal);
      }
    }
  }

  private backoff(failures: number): number {
    return this.backoffMs[Math.min(failures - 1, this.backoffMs.length - 1)] ?? 1000;
  }

  private async whileOffline<T>(retry: RetryWhileOffline | undefined, attempt: () => Promise<T>): Promise<T> {
    for (let failures = 1; ; failures++) {
      try {
        return await attempt();
      } catch (error) {
        const apiError = toApiError(error);
        if (!retry || retry.signal.aborted || apiError.code !== 'proxy_unreachable') throw apiError;
        if (this.now() >= retry.aliveUntil) throw apiError;
        retry.onOffline?.();
        await sleep(this.backoff(failures), retry.signal);
      }
    }
  }

  private async json<S extends z.ZodType>(path: string, schema: S, init: RequestInit = {}): Promise<z.infer<S>> {
    const response = await this.request(path, init);
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new ApiError('bad_response', `The proxy answered ${path} with something that is not JSON.`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new ApiError('bad_response', `The proxy's answer to ${path} does not match this panel's version.`);
    }
    return parsed.data;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.token) headers.set('Authorization', `Bearer ${this.token}`);
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, { ...init, headers });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new ApiError('proxy_unreachable', `Cannot reach the proxy at ${this.baseUrl}.`);
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }
}

async function errorFromResponse(response: Response): Promise<ApiError> {
  const retryHeader = Number(response.headers.get('retry-after'));
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const parsed = ErrorBodySchema.safeParse(body);
  if (parsed.success) {
    const { code, message, retry_after } = parsed.data.error;
    return new ApiError(code, message, retry_after ?? (Number.isFinite(retryHeader) ? retryHeader : undefined));
  }
  // A reverse proxy or tunnel in front of a stopped proxy answers these itself: the proxy is not there.
  if (response.status === 502 || response.status === 503 || response.status === 504) {
    return new ApiError('proxy_unreachable', `The address answered HTTP ${response.status}, not the Framefill proxy.`);
  }
  return new ApiError('bad_response', `The proxy answered HTTP ${response.status} without a Framefill error.`);
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof TypeError) return new ApiError('proxy_unreachable', 'The connection to the proxy was lost.');
  return new ApiError('internal', error instanceof Error ? error.message : String(error));
}

function toFormData(request: SubmitRequest): FormData {
  const form = new FormData();
  form.set('prompt', request.prompt);
  form.set('aspect_ratio', request.aspectRatio);
  form.set('resolution', request.resolution);
  form.set('quality', request.quality);
  form.set('output_format', request.outputFormat);
  // Only when asked: a proxy from before variations refuses any field it does not know.
  if (request.n !== undefined && request.n > 1) form.set('n', String(request.n));
  request.references.forEach((reference, index) => {
    const extension = reference.mime.split('/')[1] ?? 'png';
    // A fresh copy: a Uint8Array view over a shared or larger buffer is not a valid BlobPart everywhere.
    const blob = new Blob([reference.bytes.slice()], { type: reference.mime });
    form.append('reference', blob, `reference-${index + 1}.${extension}`);
  });
  if (request.mode) form.set('mode', request.mode);
  if (request.mask) form.append('mask', new Blob([request.mask.slice()], { type: 'image/png' }), 'mask.png');
  return form;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
