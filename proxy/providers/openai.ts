// OpenAI provider (DESIGN.md §8): one GPT image per job through the official `openai` SDK, partial previews
// streamed when the upstream allows it, and every upstream failure turned into a §6 code.
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
import type { GenerationRequest, PartialImage, Provider, ProviderResult } from './types';

export interface OpenAIProviderOptions {
  apiKey: string;
  baseURL: string | undefined;
  model: string;
  /** The job's deadline (FRAMEFILL_UPSTREAM_TIMEOUT_S): the transport's own timeouts are set beyond it. */
  timeoutMs: number;
}

/** The transport's timeouts sit this far beyond the job's deadline, so that the deadline always fires first. */
const TRANSPORT_MARGIN_MS = 60_000;

/** Previews asked for when streaming; the spec allows 0–3 (PartialImages). */
const PARTIAL_IMAGES = 2;
/** One retry at most, only before any image exists, after this pause. */
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
const POLICY_CODES = new Set(['moderation_blocked', 'content_policy_violation']);

/** The stream or body ended, or was not what the spec promises. */
class MalformedAnswer extends Error {}

export function createOpenAIProvider(options: OpenAIProviderOptions): Provider {
  const timeoutMs = Math.ceil(options.timeoutMs) + TRANSPORT_MARGIN_MS;
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
    // after timeouts; this provider retries once itself, and only where no image can have been produced.
    maxRetries: 0,
    // Node 20's fetch clones every request unless it has no window and refuses redirects, and the clone tees the
    // multipart body: the untouched branch then queues all of it until the answer, 32 MB per 16-reference job
    // (bench/ §2). https://fetch.spec.whatwg.org/#http-network-or-cache-fetch step 2; OpenAI does not redirect.
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
    onImage: () => void,
    onPartial: (partial: PartialImage) => void,
  ): Promise<ProviderResult> {
    // Always `model` (the API's default is not a GPT image model) and `quality` (unset may cost the most); never
    // `input_fidelity` (refused by gpt-image-2) nor `background` (DESIGN.md §8).
    const params = {
      model: options.model,
      prompt: request.prompt,
      n: 1,
      size: sizeParam(request.size),
      quality: request.quality,
      output_format: request.outputFormat,
    };
    const streaming = { stream: true as const, partial_images: PARTIAL_IMAGES };
    const requestOptions = { signal, timeout: timeoutMs, maxRetries: 0 };

    if (request.references.length === 0) {
      if (stream) {
        const response = await client.images.generate({ ...params, ...streaming }, requestOptions).asResponse();
        return readStream(sseEvents(response), requestIdOf(response), onImage, onPartial);
      }
      const { data, request_id } = await client.images.generate(params, requestOptions).withResponse();
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
    if (stream) {
      const response = await client.images.edit({ ...params, image, ...streaming }, requestOptions).asResponse();
      return readStream(sseEvents(response), requestIdOf(response), onImage, onPartial);
    }
    const { data, request_id } = await client.images.edit({ ...params, image }, requestOptions).withResponse();
    return readResponse(data, request_id);
  }

  return {
    name: 'openai',
    model: options.model,
    async generate(request, signal, onPartial) {
      let imageSeen = false;
      let retried = false;
      let stream = !streamingRefused;
      for (;;) {
        signal.throwIfAborted();
        try {
          return await callOnce(
            request,
            signal,
            stream,
            () => {
              imageSeen = true;
            },
            onPartial,
          );
        } catch (error) {
          signal.throwIfAborted();
          if (stream && isStreamingRefusal(error)) {
            streamingRefused = true;
            stream = false;
            continue;
          }
          if (!retried && !imageSeen && isRetryable(error)) {
            retried = true;
            await pause(RETRY_DELAY_MS, signal);
            continue;
          }
          throw toFramefillError(error, timeoutMs);
        }
      }
    },
  };
}

function referenceName(index: number, mime: ReferenceMime): string {
  return `reference-${index + 1}.${EXTENSIONS[mime]}`;
}

/**
 * The events of a streamed answer, as the SDK's own stream yields them (openai/core/streaming.mjs: `[DONE]`
 * skipped, every data line parsed as JSON, one carrying `error` thrown as an APIError), read with
 * eventsource-parser. The SDK's decoder copies and rescans the whole event buffered so far for every network
 * chunk: ~4.6 ms of the proxy's CPU per job for three ~155 KB image events, on the path from the upstream's
 * answer to the panel (bench/ §1).
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
      if (typeof data === 'object' && data !== null && 'error' in data && data.error) {
        throw new APIError(undefined, data.error, undefined, response.headers);
      }
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
  onImage: () => void,
  onPartial: (partial: PartialImage) => void,
): Promise<ProviderResult> {
  for await (const event of events) {
    const partial = PartialEventSchema.safeParse(event);
    if (partial.success) {
      onImage();
      const preview = await describePartial(partial.data.b64_json, partial.data.partial_image_index);
      if (preview) onPartial(preview);
      continue;
    }
    const completed = CompletedEventSchema.safeParse(event);
    if (completed.success) {
      onImage();
      // `completed` is the last event of an image stream; stop reading rather than wait for the socket to close.
      return result(completed.data.b64_json, completed.data.usage, requestId);
    }
  }
  throw new MalformedAnswer('the stream ended before the image arrived');
}

function readResponse(body: unknown, requestId: string | null): ProviderResult {
  const parsed = ImagesResponseSchema.safeParse(body);
  if (!parsed.success) throw new MalformedAnswer('the answer held no image');
  const first = parsed.data.data[0] as { b64_json: string };
  return result(first.b64_json, parsed.data.usage, requestId);
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

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function timeoutError(timeoutMs: number, cause?: unknown): FramefillError {
  return new FramefillError(
    'upstream_timeout',
    `OpenAI did not deliver the image within ${Math.round(timeoutMs / 1000)} s (FRAMEFILL_UPSTREAM_TIMEOUT_S).`,
    { cause },
  );
}

/** Organisations not verified for streaming get a 400 on `stream`; the same image can still be made without it. */
function isStreamingRefusal(error: unknown): boolean {
  return (
    error instanceof APIError && error.status === 400 && (error.param === 'stream' || error.param === 'partial_images')
  );
}

/** Only failures before any answer arrived: nothing was produced, so nothing can be charged twice. */
function isRetryable(error: unknown): boolean {
  if (error instanceof APIConnectionTimeoutError) return false;
  if (error instanceof APIConnectionError) return true;
  return error instanceof APIError && typeof error.status === 'number' && error.status >= 500;
}

/** OpenAI's own sentence from the error body (the SDK's `message` is prefixed with the status). */
function upstreamMessage(error: APIError): string {
  const body = error.error as { message?: unknown } | undefined;
  return typeof body?.message === 'string' && body.message ? body.message : error.message;
}

/** Seconds to wait, from `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`. */
export function retryAfterSeconds(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms / 1000);
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

export function toFramefillError(error: unknown, timeoutMs: number): FramefillError {
  if (error instanceof FramefillError) return error;
  if (error instanceof APIConnectionTimeoutError) return timeoutError(timeoutMs, error);
  if (error instanceof APIError) {
    const message = upstreamMessage(error);
    const requestNote = error.requestID ? ` (OpenAI request ${error.requestID})` : '';
    // https://platform.openai.com/docs/guides/error-codes: a refused prompt or image is a 400 whose code says so.
    if (
      POLICY_CODES.has(error.code ?? '') ||
      (error.status === 400 && /safety system|content policy|safety/i.test(message))
    ) {
      return new FramefillError('content_policy', message, { cause: error });
    }
    if (error.status === 401) {
      // OpenAI's text quotes part of the key; the user only needs to know whom to ask.
      return new FramefillError(
        'upstream_error',
        "OpenAI refused the proxy's API key (401): whoever runs the proxy must check OPENAI_API_KEY.",
        { cause: error },
      );
    }
    if (error.status === 429) {
      if (error.code === 'insufficient_quota') {
        return new FramefillError(
          'upstream_error',
          `The OpenAI account behind OPENAI_API_KEY has no quota left: ${message}`,
          { cause: error },
        );
      }
      const retryAfter = retryAfterSeconds(error.headers);
      return new FramefillError('rate_limited', `OpenAI is rate-limiting the proxy: ${message}`, {
        cause: error,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
      });
    }
    if (error instanceof APIConnectionError) {
      const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
      return new FramefillError('upstream_error', `Could not reach OpenAI${cause}.`, { cause: error });
    }
    if (error.status === undefined) {
      return new FramefillError('upstream_error', `OpenAI stopped the image: ${message}`, { cause: error });
    }
    if (error.status >= 500) {
      return new FramefillError('upstream_error', `OpenAI failed (${error.status}): ${message}${requestNote}`, {
        cause: error,
      });
    }
    return new FramefillError(
      'upstream_error',
      `OpenAI refused the request (${error.status}): ${message}${requestNote}`,
      {
        cause: error,
      },
    );
  }
  if (error instanceof MalformedAnswer) {
    return new FramefillError('upstream_error', `OpenAI's answer was unusable: ${error.message}.`, { cause: error });
  }
  if (error instanceof SyntaxError) {
    return new FramefillError('upstream_error', "OpenAI's answer was malformed (not JSON).", { cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new FramefillError('upstream_error', `OpenAI's answer broke off: ${detail}.`, { cause: error });
}
