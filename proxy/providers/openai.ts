// OpenAI provider (DESIGN.md §8): one GPT image per job through the official `openai` SDK, partial previews
// streamed when the upstream allows it, and every upstream failure turned into a §6 code.
import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, toFile } from 'openai';
import sharp from 'sharp';
import { Agent } from 'undici';
import { z } from 'zod';
import { sizeParam } from '../../core/formats';
import { readImageSize } from '../../core/image-header';
import { type ReferenceMime, sniffImageMime } from '../../core/limits';
import { FramefillError } from '../errors';
import { pause, retryAfterSeconds } from './pause';
import type { GenerationRequest, PartialImage, Provider, ProviderResult } from './types';

export interface OpenAIProviderOptions {
  apiKey: string;
  baseURL: string | undefined;
  model: string;
  /** The job's deadline (FRAMEFILL_UPSTREAM_TIMEOUT_S): the transport's own timeouts are set beyond it. */
  timeoutMs: number;
  /** Previews asked of OpenAI (FRAMEFILL_PARTIAL_IMAGES, 0–3; each costs about 100 image output tokens); 0 → no stream. */
  partialImages?: number;
}

/** The transport's timeouts sit this far beyond the job's deadline, so that the deadline always fires first. */
const TRANSPORT_MARGIN_MS = 60_000;

/** Previews asked for when the configuration names none; the spec allows 0–3 (PartialImages). */
export const DEFAULT_PARTIAL_IMAGES = 1;
/**
 * JPEG's `output_compression` (the spec's default is 100). At 95 a 4K photo-like result is about a third of the
 * bytes of 100 for 1.3 dB of PSNR (README, "Output format").
 */
export const JPEG_COMPRESSION = 95;
/** One retry at most, only where OpenAI cannot have started an image, after this pause. */
const RETRY_DELAY_MS = 500;
const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

// Spec: ImageGenPartialImageEvent / ImageEditPartialImageEvent, ImageGenCompletedEvent / ImageEditCompletedEvent,
// ImagesResponse (reference/openai-images.openapi.json). Only the fields Framefill relies on are required.
const PartialEventSchema = z.object({
  type: z.enum(['image_generation.partial_image', 'image_edit.partial_image']),
  b64_json: z.string().min(1),
  partial_image_index: z.number().int().nonnegative(),
});
const CompletedEventSchema = z.object({
  type: z.enum(['image_generation.completed', 'image_edit.completed']),
  b64_json: z.string().min(1),
  usage: z.unknown().optional(),
});
const ImagesResponseSchema = z.object({
  data: z.array(z.object({ b64_json: z.string().min(1) })).min(1),
  usage: z.unknown().optional(),
});

const EXTENSIONS: Record<ReferenceMime, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };
/** Base64 characters of a preview's first 48 KB (a multiple of 4, so the prefix decodes on its own). */
const PARTIAL_HEAD_B64_CHARS = 64 * 1024;
/** https://platform.openai.com/docs/guides/error-codes: a refused prompt or image carries one of these codes. */
const POLICY_CODES = new Set(['moderation_blocked', 'content_policy_violation']);
/**
 * Failures of the connection itself, before a byte of the request could reach OpenAI (nothing refused, no DNS
 * answer, no route, no TCP handshake): only these are retried. A connection that breaks after the request was sent
 * is never retried: OpenAI may already be making, and billing, that image.
 */
const NOT_CONNECTED_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** Where an organisation verifies itself (OpenAI's own 403 names it). */
const VERIFY_URL = 'https://platform.openai.com/settings/organization/general';

/** The stream or body ended, or was not what the spec promises. */
class MalformedAnswer extends Error {}

/** What is known of the call that failed, for the job's error and the log. */
interface CallContext {
  requestId: string | null;
}

export function createOpenAIProvider(options: OpenAIProviderOptions): Provider {
  const timeoutMs = Math.ceil(options.timeoutMs) + TRANSPORT_MARGIN_MS;
  const partialImages = options.partialImages ?? DEFAULT_PARTIAL_IMAGES;
  // Node's fetch gives up after 300 s without headers or between body chunks (undici's default headersTimeout and
  // bodyTimeout), shorter than a slow GPT Image 2 render: https://github.com/openai/openai-node/issues/2153.
  // The SDK's README asks to pair an undici dispatcher with undici's own fetch, but undici 7's fetch cannot send
  // Node 20's global FormData (the SDK then refuses every upload), while Node 20's fetch (undici 6) accepts an
  // undici 7 Agent; the known mismatch ("invalid onRequestStart method") is the other direction.
  const dispatcher = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const client = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL ?? DEFAULT_BASE_URL,
    timeout: timeoutMs,
    // The SDK's own retries would re-send after 429 (sleeping Retry-After without heeding the abort signal) and
    // after a connection that broke once the request was sent (a second bill); the runner requeues rate-limited
    // jobs, and this provider retries once itself, only where OpenAI cannot have started an image.
    maxRetries: 0,
    // Node's fetch clones a request that has a window or may follow redirects, and the clone tees the multipart
    // body, so one copy of every upload would wait in memory until the answer
    // (https://fetch.spec.whatwg.org/#http-network-or-cache-fetch step 2); OpenAI does not redirect.
    fetchOptions: { dispatcher, redirect: 'error', window: null },
    // The SDK logs unparsable SSE chunks with console.error; the job reports the failure instead.
    logLevel: 'off',
  });
  // Streaming GPT image models needs a verified organisation; once refused, later jobs skip straight to plain calls.
  let streamingRefused = false;

  async function callOnce(
    request: GenerationRequest,
    signal: AbortSignal,
    stream: boolean,
    context: CallContext,
    onPartial: (partial: PartialImage) => void,
  ): Promise<ProviderResult> {
    // Always `model` (the API's default is not a GPT image model) and `quality` (unset may cost the most); never
    // `input_fidelity` (refused by gpt-image-2) nor `background` (DESIGN.md §8). `user`: OpenAI attributes abuse
    // to one end user rather than the whole key (spec: CreateImageRequest.user,
    // https://platform.openai.com/docs/guides/safety-best-practices#end-user-ids).
    const params = {
      model: options.model,
      prompt: request.prompt,
      // Spec: CreateImageRequest.n / CreateImageEditRequest.n, "The number of images to generate. Must be between 1
      // and 10"; the answer's `data` lists them (ImagesResponse). OpenAI may return fewer: the runner charges those.
      n: request.n ?? 1,
      size: sizeParam(request.size),
      quality: request.quality,
      output_format: request.outputFormat,
      ...(request.outputFormat === 'jpeg' ? { output_compression: JPEG_COMPRESSION } : {}),
      user: endUserId(request.accountId),
    };
    const streaming = { stream: true as const, partial_images: partialImages };
    const requestOptions = { signal, timeout: timeoutMs, maxRetries: 0 };

    if (request.references.length === 0) {
      if (stream) {
        const response = await client.images.generate({ ...params, ...streaming }, requestOptions).asResponse();
        context.requestId = requestIdOf(response);
        return readStream(sseEvents(response), context.requestId, onPartial);
      }
      const { data, request_id } = await client.images.generate(params, requestOptions).withResponse();
      context.requestId = request_id;
      return readResponse(data, request_id);
    }

    // The SDK sends an array under `image` as repeated `image[]` parts in order, each with the File's name and
    // type (a repeated plain `image` field is refused): https://platform.openai.com/docs/api-reference/images/createEdit
    // A spooled reference goes as a file-backed Blob, read from disk while the request is sent, never held whole.
    const image = await Promise.all(
      request.references.map(async (reference, index) => {
        const name = referenceName(index, reference.mime);
        if ('file' in reference) {
          return new File([await openAsBlob(reference.file, { type: reference.mime })], name, { type: reference.mime });
        }
        return toFile(reference.bytes, name, { type: reference.mime });
      }),
    );
    // An edit's mask goes as the `mask` file part; OpenAI applies it to the first image (spec,
    // CreateImageEditRequest.mask: a PNG with alpha, the first image's size and format; edits.ts made both PNG).
    const mask = request.mask
      ? {
          mask: new File([await openAsBlob(request.mask.file, { type: 'image/png' })], 'mask.png', {
            type: 'image/png',
          }),
        }
      : {};
    if (stream) {
      const response = await client.images
        .edit({ ...params, image, ...mask, ...streaming }, requestOptions)
        .asResponse();
      context.requestId = requestIdOf(response);
      return readStream(sseEvents(response), context.requestId, onPartial);
    }
    const { data, request_id } = await client.images.edit({ ...params, image, ...mask }, requestOptions).withResponse();
    context.requestId = request_id;
    return readResponse(data, request_id);
  }

  return {
    name: 'openai',
    model: options.model,
    async generate(request, signal, onPartial) {
      let retried = false;
      // Several variations are made without streaming: the spec's stream events (ImageGenCompletedEvent,
      // ImageEditCompletedEvent) carry one image and no index, so n images could not be told apart on a stream.
      let stream = partialImages > 0 && !streamingRefused && (request.n ?? 1) === 1;
      for (;;) {
        signal.throwIfAborted();
        const context: CallContext = { requestId: null };
        try {
          return await callOnce(request, signal, stream, context, onPartial);
        } catch (error) {
          // The job's cancel or deadline: its reason, never a failure of OpenAI's (the runner owns the signal).
          signal.throwIfAborted();
          if (stream && isStreamingRefusal(error)) {
            streamingRefused = true;
            stream = false;
            continue;
          }
          if (!retried && isSafeToRetry(error)) {
            retried = true;
            await pause(RETRY_DELAY_MS, signal);
            continue;
          }
          throw toFramefillError(error, { requestId: context.requestId, model: options.model });
        }
      }
    },
  };
}

function referenceName(index: number, mime: ReferenceMime): string {
  return `reference-${index + 1}.${EXTENSIONS[mime]}`;
}

/**
 * OpenAI's `user`: stable for an account, and not reversible to its id (SHA-256 of a fixed prefix and the account's
 * random UUID), so the id itself never leaves the proxy.
 */
export function endUserId(accountId: string): string {
  return `framefill-${createHash('sha256').update(`framefill-user:${accountId}`).digest('hex').slice(0, 32)}`;
}

/**
 * An error event in any shape seen on OpenAI's streams: `event: error`, a `type: "error"` payload, an `error` object
 * inside the data (the SDK's own rule, openai/core/streaming.mjs), or a top-level `code` with a `message` (the
 * Responses API's `error` event: https://platform.openai.com/docs/api-reference/responses-streaming/error). The
 * Images API documents none of them for images (spec: ImageGenStreamEvent lists only partial and completed).
 */
function streamError(message: EventSourceMessage, data: unknown): Record<string, unknown> | undefined {
  if (typeof data !== 'object' || data === null)
    return message.event === 'error' ? { message: String(data) } : undefined;
  const record = data as Record<string, unknown>;
  if (typeof record.error === 'object' && record.error !== null) return record.error as Record<string, unknown>;
  if (message.event === 'error' || record.type === 'error') return record;
  return undefined;
}

/**
 * The events of a streamed answer, as the SDK's own stream yields them (openai/core/streaming.mjs: `[DONE]`
 * skipped, every data line parsed as JSON, an error event thrown as an APIError), read with eventsource-parser, so
 * that every error-event shape OpenAI has been seen to send (`event: error`, top-level `code`) is recognised here.
 */
async function* sseEvents(response: Response): AsyncGenerator<unknown> {
  if (!response.body) throw new MalformedAnswer('the stream had no body');
  const messages: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => messages.push(message) });
  const decoder = new TextDecoder();
  // Node's ReadableStream is async-iterable (leaving the loop early cancels it, closing the connection); the
  // proxy's TypeScript lib does not declare that.
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    for (const message of messages.splice(0)) {
      if (message.data.startsWith('[DONE]')) continue;
      const data: unknown = JSON.parse(message.data);
      const error = streamError(message, data);
      if (error) throw new APIError(undefined, error, undefined, response.headers);
      yield data;
    }
  }
}

function requestIdOf(response: Response): string | null {
  return response.headers.get('x-request-id');
}

async function readStream(
  events: AsyncIterable<unknown>,
  requestId: string | null,
  onPartial: (partial: PartialImage) => void,
): Promise<ProviderResult> {
  for await (const event of events) {
    const partial = PartialEventSchema.safeParse(event);
    if (partial.success) {
      const preview = await describePartial(partial.data.b64_json, partial.data.partial_image_index);
      if (preview) onPartial(preview);
      continue;
    }
    const completed = CompletedEventSchema.safeParse(event);
    if (completed.success) {
      // `completed` is the last event of an image stream; stop reading rather than wait for the socket to close.
      return result(completed.data.b64_json, completed.data.usage, requestId);
    }
  }
  throw new MalformedAnswer('the stream ended before the image arrived');
}

function readResponse(body: unknown, requestId: string | null): ProviderResult {
  const parsed = ImagesResponseSchema.safeParse(body);
  if (!parsed.success) throw new MalformedAnswer('the answer held no image');
  const [head, ...rest] = parsed.data.data as [{ b64_json: string }, ...{ b64_json: string }[]];
  const first = result(head.b64_json, parsed.data.usage, requestId);
  if (rest.length === 0) return first;
  // The runner checks each further variation and leaves out (uncharged) one that is not an image.
  return { ...first, images: [first.bytes, ...rest.map((image) => Buffer.from(image.b64_json, 'base64'))] };
}

function result(b64: string, usage: unknown, requestId: string | null): ProviderResult {
  const bytes = Buffer.from(b64, 'base64');
  if (!sniffImageMime(bytes)) throw new MalformedAnswer('the image it sent is not PNG, JPEG or WebP');
  return { bytes, ...(usage !== undefined ? { usage } : {}), ...(requestId ? { upstreamRequestId: requestId } : {}) };
}

/**
 * A preview's real size and type come from its bytes — its header, read from the first 48 KB (the stream waits
 * on this before the next event); sharp on the whole image when the header lies further in. A preview that does
 * not read is skipped, not fatal.
 */
async function describePartial(b64: string, index: number): Promise<PartialImage | undefined> {
  const head = Buffer.from(b64.slice(0, PARTIAL_HEAD_B64_CHARS), 'base64');
  const mime = sniffImageMime(head);
  if (!mime) return undefined;
  let size: { width?: number; height?: number } | undefined = readImageSize(head);
  try {
    size ??= await sharp(Buffer.from(b64, 'base64')).metadata();
  } catch {
    return undefined;
  }
  return size.width && size.height ? { index, mime, b64, width: size.width, height: size.height } : undefined;
}

/** Organisations not verified for streaming get a 400 on `stream`; the same image can still be made without it. */
function isStreamingRefusal(error: unknown): boolean {
  return (
    error instanceof APIError && error.status === 400 && (error.param === 'stream' || error.param === 'partial_images')
  );
}

/** The error codes in a failure's cause chain (fetch wraps the socket's error; happy eyeballs aggregates them). */
function causeCodes(error: unknown, seen = new Set<unknown>()): string[] {
  if (typeof error !== 'object' || error === null || seen.has(error)) return [];
  seen.add(error);
  const record = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof record.code === 'string' ? [record.code] : [];
  const inner = Array.isArray(record.errors) ? record.errors.flatMap((e) => causeCodes(e, seen)) : [];
  return [...own, ...causeCodes(record.cause, seen), ...inner];
}

/**
 * Retried once: a connection that never reached OpenAI, or a 5xx (OpenAI answered that it failed, so it made no
 * image; its guide recommends retrying 5xx: https://platform.openai.com/docs/guides/error-codes). Never a
 * connection that broke after the request went out, nor a 429 (the runner requeues the job), nor a timeout.
 */
export function isSafeToRetry(error: unknown): boolean {
  // The SDK turns any fetch failure whose text says "timeout" into this, without its cause (openai/client.mjs).
  // Every timeout on the path after the connection is set beyond the job's deadline, which the runner enforces
  // first; what remains is undici's connect timeout, before anything was sent.
  if (error instanceof APIConnectionTimeoutError) return true;
  if (error instanceof APIConnectionError) {
    const codes = causeCodes(error.cause);
    return codes.length > 0 && codes.every((code) => NOT_CONNECTED_CODES.has(code));
  }
  return error instanceof APIError && typeof error.status === 'number' && error.status >= 500;
}

/** OpenAI's own sentence from the error body (the SDK's `message` is prefixed with the status). */
function upstreamMessage(error: APIError): string {
  const body = error.error as { message?: unknown } | undefined;
  return typeof body?.message === 'string' && body.message ? body.message : error.message;
}

/** What the operator reads in the log: OpenAI's status, code and full message, and any moderation details. */
function logCause(error: APIError): Error {
  const body = (error.error ?? {}) as Record<string, unknown>;
  const details = ['moderation_details', 'safety_violations']
    .filter((key) => body[key] !== undefined)
    .map((key) => ` ${key}=${JSON.stringify(body[key])}`)
    .join('');
  const status = error.status === undefined ? 'stream error' : String(error.status);
  // OpenAI's 401 quotes a masked part of the key: no part of a key goes to the log.
  const message = upstreamMessage(error).replace(/sk-[\w*-]+/g, 'sk-…');
  return new Error(`OpenAI ${status} ${error.code ?? body.type ?? ''}: ${message}${details}`, { cause: error });
}

export interface FailureContext {
  /** OpenAI's x-request-id of the failed call, when an answer arrived. */
  requestId?: string | null;
  model?: string;
}

/**
 * Every failure of a call as a §6 code. The designer reads `message`; the operator reads the log, where the runner
 * writes the cause (OpenAI's full text, moderation details) and OpenAI's request id.
 */
export function toFramefillError(error: unknown, context: FailureContext): FramefillError {
  if (error instanceof FramefillError) return error;
  const apiRequestId = error instanceof APIError ? error.requestID : undefined;
  const requestId = apiRequestId ?? context.requestId ?? undefined;
  const ids = requestId ? { upstreamRequestId: requestId } : {};
  const fail = (code: ConstructorParameters<typeof FramefillError>[0], message: string, cause: unknown) =>
    new FramefillError(code, message, { cause, ...ids });
  const requestNote = requestId ? ` (OpenAI request ${requestId})` : '';

  if (error instanceof APIConnectionTimeoutError) {
    // In practice a connect timeout (see isSafeToRetry): the job's own deadline ends slow answers first.
    return fail('upstream_timeout', 'The connection to OpenAI timed out. Try again in a moment.', error);
  }
  if (error instanceof APIConnectionError) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    const codes = causeCodes(error.cause);
    return fail(
      'upstream_error',
      `Could not reach OpenAI${cause}${codes.length ? ` (${codes.join(', ')})` : ''}.`,
      error,
    );
  }
  if (error instanceof APIError) {
    const message = upstreamMessage(error);
    const cause = logCause(error);
    const type = (error.error as { type?: unknown } | undefined)?.type;
    // A refused prompt or image: OpenAI's wording names the categories it found (`safety_violations=[…]`) and may
    // carry moderation details; those go to the log, the designer gets what to do.
    if (
      POLICY_CODES.has(error.code ?? '') ||
      ((error.status === 400 || error.status === undefined) && /safety system|content policy/i.test(message))
    ) {
      return fail(
        'content_policy',
        `OpenAI's safety system refused this prompt or a reference image${requestNote}. Rephrase the prompt or change the references.`,
        cause,
      );
    }
    if (error.status === 401) {
      // OpenAI's text quotes part of the key; the designer only needs to know whom to ask.
      return fail(
        'upstream_error',
        "OpenAI refused the proxy's API key (401): whoever runs the proxy must check OPENAI_API_KEY.",
        cause,
      );
    }
    if (error.status === 403) {
      // "Your organization must be verified to use the model …" (a 403; public reports such as
      // https://github.com/openai-php/client/issues/565). Only the operator can verify:
      // https://help.openai.com/en/articles/10910291-api-organization-verification
      if (/verif/i.test(message)) {
        return fail(
          'upstream_error',
          `OpenAI serves ${context.model ?? 'GPT image models'} only to verified organizations (403): whoever runs the proxy must verify the organization of OPENAI_API_KEY at ${VERIFY_URL} (access can take 15 minutes to arrive).`,
          cause,
        );
      }
      return fail(
        'upstream_error',
        `OpenAI refused the proxy's API key for this request (403)${requestNote}: whoever runs the proxy must check the key's project, permissions and model access (OPENAI_API_KEY).`,
        cause,
      );
    }
    if (error.status === 404 && (error.code === 'model_not_found' || /model/i.test(message))) {
      return fail(
        'upstream_error',
        `OpenAI does not serve OPENAI_IMAGE_MODEL=${context.model ?? '?'} to this key (404)${requestNote}: whoever runs the proxy must check the model and the key's project.`,
        cause,
      );
    }
    if (error.status === 429) {
      // https://platform.openai.com/docs/guides/error-codes: a 429 is either a rate limit (wait, then retry) or an
      // exhausted quota (`insufficient_quota`: no wait helps; billing must be fixed).
      if (error.code === 'insufficient_quota' || type === 'insufficient_quota') {
        return fail(
          'upstream_error',
          'The OpenAI account behind the proxy has no quota left (429 insufficient_quota): whoever runs the proxy must check its plan and billing at https://platform.openai.com/settings/organization/billing.',
          cause,
        );
      }
      // Without a wait from OpenAI the runner backs off on its own.
      const retryAfter = retryAfterSeconds(error.headers);
      return new FramefillError(
        'rate_limited',
        retryAfter === undefined
          ? "OpenAI is rate-limiting the proxy's key: try again in a minute."
          : `OpenAI is rate-limiting the proxy's key: try again in about ${retryAfter} s.`,
        { cause, ...(retryAfter === undefined ? {} : { retryAfter }), ...ids },
      );
    }
    if (error.status === undefined) {
      return fail('upstream_error', `OpenAI stopped the image: ${message}${requestNote}`, cause);
    }
    if (error.status >= 500) {
      return fail('upstream_error', `OpenAI failed (${error.status}): ${message}${requestNote}`, cause);
    }
    return fail('upstream_error', `OpenAI refused the request (${error.status}): ${message}${requestNote}`, cause);
  }
  if (error instanceof MalformedAnswer) {
    return fail('upstream_error', `OpenAI's answer was unusable: ${error.message}${requestNote}.`, error);
  }
  if (error instanceof SyntaxError) {
    return fail('upstream_error', `OpenAI's answer was malformed (not JSON)${requestNote}.`, error);
  }
  const detail = error instanceof Error ? error.message : String(error);
  return fail('upstream_error', `OpenAI's answer broke off: ${detail}${requestNote}.`, error);
}
