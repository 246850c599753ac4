// Task-API provider (DESIGN.md §8): GPT Image 2 through a reseller's task interface — kie.ai's Market API. One task
// per job (createTask), followed by polling recordInfo until it is final, then the result URL is downloaded. The
// reseller's documentation, which every rule below follows (README, "Choosing a provider", says what is unconfirmed):
// - createTask: kie's pages "GPT Image-2 - Text to Image" and "GPT Image-2 - Image to Image" (docs.kie.ai, Market ▸
//   Image Models ▸ GPT Image; OpenAPI 3.0.1, servers https://api.kie.ai): body `{model, callBackUrl?, input: {prompt ≤ 20,000,
//   aspect_ratio, resolution, input_urls ≤ 16}}`; answers `{code, msg, data: {taskId}}`, `code` one of 200, 401,
//   402, 404, 422, 429, 433, 455, 500, 501, 505; "1:1 cannot be 4K", `auto` only at 1K.
// - recordInfo: https://docs.kie.ai/market/common/get-task-detail (`data.state` waiting / queuing / generating /
//   success / fail, `resultJson` a JSON string `{resultUrls: […]}`, `failCode`, `failMsg`; back off from 2–3 s).
// - File upload: https://docs.kie.ai/file-upload-api/upload-file-stream (`POST /api/file-stream-upload`, multipart
//   `file`, `uploadPath`, `fileName` → `data.downloadUrl`; files are temporary).
// kie documents no cancel endpoint: a canceled job stops polling, and the task runs out at the reseller.
import { openAsBlob } from 'node:fs';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { Agent } from 'undici';
import { z } from 'zod';
import { type AspectRatio, formatSize, type OutputFormat, type PixelSize } from '../../core/formats';
import { type ReferenceMime, sniffImageMime } from '../../core/limits';
import type { TaskConfig } from '../config';
import { FramefillError } from '../errors';
import { damage, MAX_DECODE_PIXELS } from '../images';
import { pause, retryAfterSeconds } from './pause';
import {
  type GenerationRequest,
  isDeadline,
  type Provider,
  type ProviderReference,
  type SpooledReference,
} from './types';

/** The task settings (FRAMEFILL_PROVIDER=task) and the job's deadline, beyond which the transport's timeouts sit. */
export type TaskProviderOptions = TaskConfig & { timeoutMs: number };

/** The transport's timeouts sit this far beyond the job's deadline, so that the deadline always fires first. */
const TRANSPORT_MARGIN_MS = 60_000;
/** Polls that fail in a row (network, 5xx, 429, 455) before the job is failed; the deadline usually ends it first. */
const MAX_POLL_FAILURES = 20;
/** kie's Market pages for image-to-image: "Maximum file size: 10MB" per input image (GPT Image 1.5 page). */
export const UPLOAD_MAX_BYTES = 10 * 1024 * 1024;
/** A result larger than this is not an image Framefill can place (a 4K PNG is ~25 MB). */
const RESULT_MAX_BYTES = 100 * 1024 * 1024;
/**
 * The reseller picks its own pixel sizes for a ratio × resolution, which kie does not publish; a result whose ratio
 * is within this of the table's (log-space) is scaled to the table's exact size, anything further is refused.
 */
export const RATIO_TOLERANCE = Math.log(1.02);
/** The failure texts of a refused prompt or image (kie's callback code 400: "content violates policy"). */
const POLICY_TEXT = /policy|sensitive|nsfw|safety|moderation|violat|inappropriate|flagged/i;
const EXTENSIONS: Record<ReferenceMime, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };

// kie answers every call as `{code, msg, data}`; the HTTP status may say the same or be 200 (its pages put every code
// under the 200 response), so both are read.
const Envelope = z.object({
  code: z.coerce.number().int(),
  msg: z.string().nullish(),
  message: z.string().nullish(),
  data: z.unknown().optional(),
});
const CreatedSchema = z.object({ taskId: z.string().min(1) });
const TaskStateSchema = z.enum(['waiting', 'queuing', 'generating', 'success', 'fail']);
const RecordSchema = z.object({
  taskId: z.string().optional(),
  state: TaskStateSchema,
  resultJson: z.string().nullish(),
  failCode: z.union([z.string(), z.number()]).nullish(),
  failMsg: z.string().nullish(),
});
const ResultJsonSchema = z.object({ resultUrls: z.array(z.url({ protocol: /^https?$/ })).min(1) });
// The stream-upload page names `downloadUrl`; the upload quick-start's example names `fileUrl` too.
const UploadedSchema = z
  .object({ downloadUrl: z.url().optional(), fileUrl: z.url().optional() })
  .refine((data) => data.downloadUrl ?? data.fileUrl, { message: 'no downloadUrl' });

/** What an answer of the reseller said, when it was not success. */
class ResellerRefusal extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
    readonly retryAfterS: number | undefined,
  ) {
    super(`code ${code}: ${text}`);
  }
}

export function createTaskProvider(options: TaskProviderOptions): Provider {
  const timeoutMs = Math.ceil(options.timeoutMs) + TRANSPORT_MARGIN_MS;
  const dispatcher = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const auth = { Authorization: `Bearer ${options.apiKey}` };

  /** One call of the reseller's API, its `{code, msg, data}` parsed; a code other than 200 is thrown. */
  async function call(url: string, init: RequestInit, signal: AbortSignal): Promise<unknown> {
    const response = await fetch(url, {
      ...init,
      headers: { ...auth, ...init.headers },
      signal,
      redirect: 'error',
      // @ts-expect-error Node's fetch takes undici's dispatcher; the DOM RequestInit type does not declare it.
      dispatcher,
    });
    const text = await response.text();
    let body: z.infer<typeof Envelope> | undefined;
    try {
      const parsed = Envelope.safeParse(JSON.parse(text));
      if (parsed.success) body = parsed.data;
    } catch {
      // Not JSON (a proxy's error page): the HTTP status speaks below.
    }
    if (response.ok && !body) throw new MalformedAnswer('an answer was not the documented {code, msg, data} JSON');
    const code = response.ok && body ? body.code : response.status;
    if (code !== 200) {
      const said = body?.msg ?? body?.message ?? (text.slice(0, 200) || response.statusText);
      throw new ResellerRefusal(code, said, retryAfterSeconds(response.headers));
    }
    return body?.data;
  }

  async function upload(reference: ProviderReference | SpooledReference, name: string, signal: AbortSignal) {
    const url = options.uploadURL;
    if (!url) throw new Error('no upload API');
    let blob: Blob =
      'file' in reference
        ? await openAsBlob(reference.file, { type: reference.mime })
        : new Blob([new Uint8Array(reference.bytes)], { type: reference.mime });
    let fileName = `${name}.${EXTENSIONS[reference.mime]}`;
    if (blob.size > UPLOAD_MAX_BYTES) {
      // Over the reseller's per-image limit (Framefill takes up to 50 MB): the same pixels as a high-quality JPEG.
      const input = 'file' in reference ? reference.file : Buffer.from(reference.bytes);
      const jpeg = await sharp(input, { limitInputPixels: MAX_DECODE_PIXELS }).jpeg({ quality: 90 }).toBuffer();
      if (jpeg.length > UPLOAD_MAX_BYTES) {
        throw new FramefillError(
          'reference_too_large',
          `A reference is over the image service's ${UPLOAD_MAX_BYTES / 1024 / 1024} MB limit even as JPEG. Lower the reference size in Settings.`,
          { field: 'reference' },
        );
      }
      blob = new Blob([new Uint8Array(jpeg)], { type: 'image/jpeg' });
      fileName = `${name}.jpg`;
    }
    const form = new FormData();
    form.append('file', blob, fileName);
    form.append('uploadPath', 'framefill');
    form.append('fileName', fileName);
    const data = await call(`${url}/api/file-stream-upload`, { method: 'POST', body: form }, signal);
    const parsed = UploadedSchema.safeParse(data);
    if (!parsed.success) throw new MalformedAnswer('the upload answer named no file URL');
    return (parsed.data.downloadUrl ?? parsed.data.fileUrl) as string;
  }

  async function createTask(request: GenerationRequest, inputUrls: string[], signal: AbortSignal): Promise<string> {
    const image = inputUrls.length > 0;
    // `auto` exists at 1K only ("otherwise, the task will fail to create"), as in core's table.
    const body = {
      model: image ? options.modelImage : options.modelText,
      input: {
        prompt: request.prompt,
        aspect_ratio: request.aspectRatio,
        resolution: request.aspectRatio === 'auto' ? '1K' : request.resolution,
        ...(image ? { input_urls: inputUrls } : {}),
      },
    };
    const data = await call(
      `${options.baseURL}/api/v1/jobs/createTask`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
      signal,
    );
    const parsed = CreatedSchema.safeParse(data);
    if (!parsed.success) throw new MalformedAnswer('createTask answered without a taskId');
    return parsed.data.taskId;
  }

  /** Polls recordInfo until the task is final; transient failures (network, 429, 455, 5xx) are waited out. */
  async function follow(taskId: string, signal: AbortSignal): Promise<string> {
    let wait = options.pollMs;
    let failures = 0;
    for (;;) {
      await pause(wait, signal);
      signal.throwIfAborted();
      wait = Math.min(options.pollMaxMs, Math.ceil(wait * 1.5));
      let data: unknown;
      try {
        data = await call(
          `${options.baseURL}/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(taskId)}`,
          { method: 'GET' },
          signal,
        );
      } catch (error) {
        signal.throwIfAborted();
        const transient = !(error instanceof ResellerRefusal) || ![401, 402, 404, 433, 505].includes(error.code);
        if (!transient || ++failures >= MAX_POLL_FAILURES) throw error;
        if (error instanceof ResellerRefusal && error.retryAfterS) wait = Math.max(wait, error.retryAfterS * 1000);
        continue;
      }
      failures = 0;
      const record = RecordSchema.safeParse(data);
      if (!record.success) throw new MalformedAnswer('recordInfo answered without a known state');
      const { state, resultJson, failCode, failMsg } = record.data;
      if (state === 'fail') throw new TaskFailed(failCode == null ? '' : String(failCode), failMsg ?? '');
      if (state !== 'success') continue;
      let result: unknown;
      try {
        result = JSON.parse(resultJson ?? '');
      } catch {
        throw new MalformedAnswer('resultJson is not JSON');
      }
      const urls = ResultJsonSchema.safeParse(result);
      if (!urls.success) throw new MalformedAnswer('resultJson named no result URL');
      return urls.data.resultUrls[0] as string;
    }
  }

  /** The result's bytes, from the reseller's file host: no API key goes there, only the job's signal. */
  async function download(url: string, signal: AbortSignal): Promise<Buffer> {
    // @ts-expect-error Node's fetch takes undici's dispatcher; the DOM RequestInit type does not declare it.
    const response = await fetch(url, { signal, dispatcher });
    if (!response.ok) throw new MalformedAnswer(`the result URL answered HTTP ${response.status}`);
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > RESULT_MAX_BYTES) throw new MalformedAnswer('the result is too large to be an image');
    const bytes = Buffer.from(await response.arrayBuffer());
    if (bytes.length > RESULT_MAX_BYTES) throw new MalformedAnswer('the result is too large to be an image');
    if (!sniffImageMime(bytes)) throw new MalformedAnswer('the result is not a PNG, JPEG or WebP image');
    return bytes;
  }

  return {
    name: 'task',
    model: `${options.modelText} / ${options.modelImage}`,
    ...(options.uploadURL
      ? {}
      : {
          notice:
            'image-to-image is off: TASK_API_UPLOAD_URL=off leaves no way to hand references to the reseller; jobs with references fail.',
        }),
    async generate(request, signal) {
      signal.throwIfAborted();
      let taskId: string | undefined;
      try {
        if (request.references.length > 0 && !options.uploadURL) {
          throw new FramefillError(
            'upstream_error',
            'This proxy cannot send reference images to its image service (no file-upload API is configured: TASK_API_UPLOAD_URL=off). Generate without references, or ask whoever runs the proxy.',
          );
        }
        const inputUrls = await Promise.all(
          request.references.map((reference, index) => upload(reference, `${request.jobId}-${index + 1}`, signal)),
        );
        // kie's createTask input has no image count (its GPT Image-2 pages list prompt, aspect_ratio, resolution and
        // input_urls only), so variations are one task each, one after another, on the references uploaded once. A
        // task that fails after others succeeded ends the loop: the job keeps (and is charged for) those made.
        const made: Buffer[] = [];
        const notes: string[] = [];
        const asked = request.n ?? 1;
        for (let index = 0; index < asked; index++) {
          try {
            taskId = await createTask(request, inputUrls, signal);
            const resultUrl = await follow(taskId, signal);
            const bytes = await download(resultUrl, signal);
            const fitted = await fitToTable(bytes, request.size === 'auto' ? undefined : request.size, request);
            made.push(fitted.bytes);
            if (fitted.note && !notes.includes(fitted.note)) notes.push(fitted.note);
          } catch (error) {
            if (made.length === 0) throw error;
            // A cancel or a shutdown ends the job; the deadline only ends the loop, since the images made are paid for.
            const deadline = signal.aborted && isDeadline(signal.reason);
            if (!deadline) signal.throwIfAborted();
            notes.push(
              deadline
                ? `Variation ${index + 1} was not ready by the job's deadline (FRAMEFILL_UPSTREAM_TIMEOUT_S).`
                : `Variation ${index + 1} failed at the image service: ${toFramefillError(error, { taskId }).message}`,
            );
            break;
          }
        }
        // kie's GPT Image-2 pages have no quality parameter: the reseller decides it.
        if (request.quality !== 'medium') {
          notes.push(`The image service has no quality setting; "${request.quality}" was not sent to it.`);
        }
        const [first] = made as [Buffer, ...Buffer[]];
        return {
          bytes: first,
          ...(made.length > 1 ? { images: made } : {}),
          upstreamRequestId: taskId,
          ...(notes.length > 0 ? { notes } : {}),
        };
      } catch (error) {
        // The job's cancel or deadline: its reason, never a failure of the reseller's (the runner owns the signal).
        signal.throwIfAborted();
        throw toFramefillError(error, { taskId });
      }
    },
  };
}

/** The stream or body ended, or was not what the reseller documents. */
class MalformedAnswer extends Error {}

/** The task reached `fail`. */
class TaskFailed extends Error {
  constructor(
    readonly failCode: string,
    readonly failMsg: string,
  ) {
    super(`failCode ${failCode || '(none)'}: ${failMsg || '(no message)'}`);
  }
}

/**
 * The result at the table's exact size (DESIGN.md §2) and in the job's format, which the runner then verifies: as it
 * came when it already is; scaled (a centred cover, cropping at most 2 %) when the reseller's size has the same ratio within rounding;
 * refused otherwise. `auto` keeps whatever the reseller made.
 */
export async function fitToTable(
  bytes: Buffer,
  expected: PixelSize | undefined,
  request: { aspectRatio: AspectRatio; outputFormat: OutputFormat },
): Promise<{ bytes: Buffer; note?: string }> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS }).metadata();
  } catch (error) {
    throw new MalformedAnswer(`the result could not be read as an image (${(error as Error).message})`);
  }
  const { width, height } = meta;
  if (!width || !height) throw new MalformedAnswer('the result has no dimensions');
  // Re-encoding below would hide a cut-off image from the runner's own check: the same check first.
  const damaged = damage(bytes, meta.format);
  if (damaged && damaged !== 'unchecked') throw new MalformedAnswer(`the result is a damaged image (${damaged})`);
  // kie's GPT Image-2 pages have no output-format parameter (its results are PNG): the job's format is made here,
  // expected on every JPEG job, so without a note.
  const sameFormat = meta.format === (request.outputFormat === 'png' ? 'png' : 'jpeg');
  const encode = (pipeline: Sharp) =>
    (request.outputFormat === 'png' ? pipeline.png() : pipeline.jpeg({ quality: 92 })).toBuffer().catch((error) => {
      throw new MalformedAnswer(`the result could not be decoded (${(error as Error).message})`);
    });
  if (!expected || (width === expected.width && height === expected.height)) {
    return { bytes: sameFormat ? bytes : await encode(sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS })) };
  }
  const off = Math.abs(Math.log(width / height) - Math.log(expected.width / expected.height));
  if (off > RATIO_TOLERANCE) {
    throw new MalformedAnswer(
      `it made a ${width}×${height} image, which is not ${request.aspectRatio} (${formatSize(expected)})`,
    );
  }
  const pipeline = sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS }).resize(expected.width, expected.height, {
    fit: 'cover',
    position: 'centre',
  });
  return {
    bytes: await encode(pipeline),
    note: `The image service made ${width}×${height}; it was scaled to ${formatSize(expected)}, this ratio's size in Framefill's table.`,
  };
}

interface FailureContext {
  /** The reseller's task id, once createTask answered: kept on the job as its upstream request id. */
  taskId: string | undefined;
}

/**
 * Every failure as a §6 code. Key, credit and configuration problems say who must act (the operator); the designer
 * reads what to do. kie's codes: the createTask/recordInfo pages above; `fail` tasks: get-task-detail.
 */
export function toFramefillError(error: unknown, context: FailureContext): FramefillError {
  if (error instanceof FramefillError) return error;
  const ids = context.taskId ? { upstreamRequestId: context.taskId } : {};
  const note = context.taskId ? ` (task ${context.taskId})` : '';
  const fail = (code: 'upstream_error' | 'content_policy', message: string) =>
    new FramefillError(code, message, { cause: error, ...ids });

  if (error instanceof TaskFailed) {
    if (error.failCode === '400' || POLICY_TEXT.test(error.failMsg)) {
      return fail(
        'content_policy',
        `The image service refused this prompt or a reference image${note}${error.failMsg ? `: ${error.failMsg}` : ''}. Rephrase the prompt or change the references.`,
      );
    }
    return fail(
      'upstream_error',
      `The image service could not make the image${note}: ${error.failMsg || `failCode ${error.failCode || 'none'}`}. Try again.`,
    );
  }
  if (error instanceof ResellerRefusal) {
    switch (error.code) {
      case 401:
        return fail(
          'upstream_error',
          "The image service refused the proxy's API key (401): whoever runs the proxy must check TASK_API_KEY.",
        );
      case 402:
        return fail(
          'upstream_error',
          `The image service's account behind the proxy has run out of credits (402: ${error.text}): whoever runs the proxy must top it up.`,
        );
      case 433:
        return fail(
          'upstream_error',
          `The proxy's API key has used up its own limit at the image service (433: ${error.text}): whoever runs the proxy must raise the key's limit or use another key.`,
        );
      case 404:
        return fail(
          'upstream_error',
          `The image service has no such endpoint or task (404: ${error.text})${note}: whoever runs the proxy must check TASK_API_BASE_URL and TASK_API_UPLOAD_URL.`,
        );
      case 429: {
        // Without a wait from the reseller the runner backs off on its own.
        const retryAfter = error.retryAfterS;
        return new FramefillError(
          'rate_limited',
          retryAfter === undefined
            ? "The image service is rate-limiting the proxy's key: try again in a minute."
            : `The image service is rate-limiting the proxy's key: try again in about ${retryAfter} s.`,
          { cause: error, ...(retryAfter === undefined ? {} : { retryAfter }), ...ids },
        );
      }
      case 422:
        if (POLICY_TEXT.test(error.text)) {
          return fail(
            'content_policy',
            `The image service refused this prompt or a reference image: ${error.text}. Rephrase the prompt or change the references.`,
          );
        }
        return fail(
          'upstream_error',
          `The image service refused the request (422: ${error.text}): whoever runs the proxy must check TASK_API_MODEL_TEXT and TASK_API_MODEL_IMAGE.`,
        );
      case 455:
        return fail('upstream_error', `The image service is down for maintenance (455)${note}. Try again later.`);
      case 501:
        return fail(
          'upstream_error',
          `The image service could not make the image (501: ${error.text})${note}. Try again.`,
        );
      case 505:
        return fail(
          'upstream_error',
          `The image service has disabled this model or feature (505: ${error.text}): whoever runs the proxy must check the reseller's account.`,
        );
      default:
        return fail('upstream_error', `The image service failed (${error.code}: ${error.text})${note}. Try again.`);
    }
  }
  if (error instanceof MalformedAnswer) {
    return fail('upstream_error', `The image service's answer was unusable: ${error.message}${note}. Try again.`);
  }
  const detail = error instanceof Error ? error.message : String(error);
  return fail('upstream_error', `Could not reach the image service: ${detail}${note}.`);
}
