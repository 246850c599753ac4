// A local stand-in for OpenAI's Images API (generations + edits, JSON and SSE streaming), as strict as the real
// service documents and is reported to be, with switchable faults, so the OpenAI provider is proven against
// something no kinder than OpenAI. It shares no rule with core/: its size rule, models and limits are written here
// from OpenAI's pages, so a wrong rule in the product cannot pass both.
//
// Followed (each behaviour below names its page):
// - /work/shared/reference/openai-images.openapi.json (openai/openai-openapi, 2026-08-21): CreateImageRequest,
//   CreateImageEditRequest, PartialImages, ImagesResponse, ImageGen*/ImageEdit* stream events, Error.
// - https://platform.openai.com/docs/api-reference/images/create and …/images/createEdit, …/images-streaming
// - https://developers.openai.com/api/docs/guides/image-generation (sizes, experimental sizes, partial images)
// - https://developers.openai.com/api/docs/models/gpt-image-2 (snapshots, images per minute by usage tier)
// - https://developers.openai.com/api/docs/deprecations (retired GPT image models)
// - https://platform.openai.com/docs/guides/error-codes (401, 403, 429 rate limit vs insufficient_quota, 5xx)
// Error *wording* follows OpenAI's as quoted in public reports but is not guaranteed verbatim; statuses and the
// `{error: {message, type, param, code}}` shape follow the spec's Error schema.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

/** The model page lists the alias and one dated snapshot. */
export const GPT_IMAGE_2_MODELS = ['gpt-image-2', 'gpt-image-2-2026-04-21'] as const;
/** Shut down (deprecations page): gpt-image-1 on 2026-10-23, the others on 2026-12-01. */
export const RETIRED_MODELS = ['gpt-image-1', 'gpt-image-1.5', 'gpt-image-1-mini', 'chatgpt-image-latest'] as const;
/** Spec: "The maximum length is 32000 characters for the GPT image models". */
export const UPSTREAM_PROMPT_MAX_CHARS = 32_000;
/** Spec: CreateImageEditRequest.image — up to 16 images, each "less than 50MB". */
export const UPSTREAM_MAX_IMAGES = 16;
const UPSTREAM_IMAGE_MAX_BYTES = 50 * 1024 * 1024;
/** Spec: CreateImageEditRequest.mask — "Must be a valid PNG file, less than 4MB" (read as 4,000,000 bytes, the stricter). */
const UPSTREAM_MASK_MAX_BYTES = 4_000_000;
const IMAGE_MIME_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
const GPT_QUALITIES = ['low', 'medium', 'high', 'auto'];
const OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
type UpstreamFormat = (typeof OUTPUT_FORMATS)[number];
/**
 * What `size: auto` comes back as. Azure OpenAI documents `auto` results that are not on the 16-px grid, such as
 * 1254 × 1254 (https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/dall-e), so a client must take the
 * size from the image, never assume one.
 */
export const AUTO_SIZE = { width: 1254, height: 1254 } as const;

/**
 * GPT Image 2's size rule, from the spec (CreateImageRequest.size: "Width and height must both be divisible by 16",
 * ratio "between 1:3 and 3:1", "maximum supported resolution is 3840x2160") and the image generation guide (total
 * pixels 655,360 … 8,294,400; above 2560×1440 experimental).
 */
const SIZE_RULE = { grid: 16, maxEdge: 3840, maxRatio: 3, minPixels: 655_360, maxPixels: 8_294_400 } as const;

/**
 * The parameters each endpoint knows (spec: CreateImageRequest / CreateImageEditRequest properties); OpenAI refuses
 * any other with 400 `unknown_parameter`. `image[]` is the array syntax of `image` in a multipart edit.
 */
const GENERATION_PARAMS = new Set([
  'prompt',
  'model',
  'n',
  'quality',
  'response_format',
  'output_format',
  'output_compression',
  'stream',
  'partial_images',
  'size',
  'moderation',
  'background',
  'style',
  'user',
]);
const EDIT_PARAMS = new Set([
  'image',
  'image[]',
  'prompt',
  'mask',
  'background',
  'model',
  'n',
  'size',
  'response_format',
  'output_format',
  'output_compression',
  'user',
  'input_fidelity',
  'stream',
  'partial_images',
  'quality',
]);

export interface RecordedPart {
  name: string;
  /** Set for file parts. */
  filename?: string;
  contentType?: string;
  bytes?: Buffer;
  /** Set for plain fields. */
  value?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** When its headers arrived (Date.now()). */
  receivedAt: number;
  /** The JSON body of a generation. */
  json?: Record<string, unknown>;
  /** Every multipart part of an edit, in wire order. */
  parts?: RecordedPart[];
  /** The request's parameters, normalised (multipart strings kept as sent). */
  params: Record<string, unknown>;
  /** The uploaded images (`image[]` or `image` parts), in order. */
  images: RecordedPart[];
  /** The client closed the connection before the fake finished answering (an abort or a timeout). */
  closedByClient: boolean;
  status?: number;
  /** The `x-request-id` the fake answered with. */
  requestId: string;
}

/** How an error event is written on a stream; none is documented for the Images API (see `errorEvent`). */
export type ErrorEventShape =
  /** `event: error`, `data: {"type": "error", "error": {message, type, param, code}}`. */
  | 'nested'
  /** The Responses API's: `event: error`, `data: {"type": "error", "code", "message", "param"}` (top-level code). */
  | 'responses'
  /** No event name; `data: {"error": {…}}` — what the SDK's own stream reader throws on. */
  | 'data-error'
  /** `event: error` with a bare `{code, message}` and no `type`. */
  | 'bare';

export type Fault =
  /** Any status with an OpenAI error body (or a raw body); extra headers such as `retry-after`. */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Hold the answer this long before sending headers, then answer normally. */
  | { kind: 'delay'; ms: number }
  /** Hold the answer until `until` settles, then answer normally (lets a test attach listeners first). */
  | { kind: 'hold'; until: Promise<unknown> }
  /** Never answer (until the client gives up). */
  | { kind: 'hang' }
  /** Read the whole request, then close the socket before any header: OpenAI may have started (and billed) it. */
  | { kind: 'drop-before-headers' }
  /** Send 200 headers, then close the socket. */
  | { kind: 'drop-after-headers' }
  /** Streaming: send the partials, then end the stream in the middle of the completed event. Non-streaming: half the JSON. */
  | { kind: 'truncated' }
  /** Streaming: a `data:` line that is not JSON. Non-streaming: a 200 whose body is not JSON. */
  | { kind: 'malformed-json' }
  /** A 200 whose image is not an image. */
  | { kind: 'not-an-image' }
  /** Streaming: send the partials, then stall forever. */
  | { kind: 'stall-after-partials' }
  /** 400 `moderation_blocked`, as OpenAI refuses a prompt or image; `details` is sent as `moderation_details`. */
  | { kind: 'moderation'; message?: string; details?: unknown }
  /** Streaming: partials, then a nested `error` event carrying `moderation_blocked` (the output image was refused). */
  | { kind: 'moderation-mid-stream' }
  /** Streaming: partials, then an error event in `shape` with `code` (moderation_blocked by default). */
  | { kind: 'error-event'; shape: ErrorEventShape; code?: string; message?: string }
  /** 429 `rate_limit_exceeded` with `retry-after` (seconds) and, when given, `retry-after-ms`. */
  | { kind: 'rate-limited'; retryAfter: number; retryAfterMs?: number }
  /** 429 `insufficient_quota`: the account has no credit left; waiting does not help. */
  | { kind: 'insufficient-quota' }
  /** 403: the organisation is not verified for GPT image models. */
  | { kind: 'unverified' }
  /** 401 `invalid_api_key`. */
  | { kind: 'unauthorized' };

export interface FakeOpenAIOptions {
  /** When set, any other bearer key is refused 401 like a wrong OPENAI_API_KEY. */
  apiKey?: string;
  /** Refuse `stream: true` like an organisation that is not verified for streaming this model. */
  refuseStreaming?: boolean;
  /** Refuse every GPT image request 403 like an organisation that is not verified (after checking it). */
  unverifiedOrganization?: boolean;
  /**
   * Images per window, as a usage tier's images-per-minute limit (gpt-image-2: 5 at tier 1, 20, 50, 150, 250 above;
   * model page); unset: no limit.
   */
  imagesPerMinute?: number;
  /** The limit's window: a minute at OpenAI; tests shorten it. */
  rateWindowMs?: number;
  /**
   * How many images a non-streamed answer holds for `n` asked; all by default. Spec: CreateImageRequest.n "The
   * number of images to generate. Must be between 1 and 10", and ImagesResponse.data "The list of generated images";
   * nothing promises the list is as long as `n`, so a client must take fewer.
   */
  returned?: (asked: number) => number;
  partials?: {
    /**
     * How many partials are sent for `partial_images` asked; all by default. The spec (PartialImages): "the final
     * image may be sent before the full number of partial images are generated".
     */
    sent?: (asked: number) => number;
    /** Each partial's edges as a share of the final's (0.5 by default): a preview, not the image. */
    scale?: number;
    /** The partials and the final image are spread over this long (0 by default), as a render takes its time. */
    spreadMs?: number;
  };
}

export interface FakeOpenAI {
  /** Base URL ending in `/v1`, as OPENAI_BASE_URL expects. */
  url: string;
  requests: RecordedRequest[];
  /** The next request (then the one after, for each call) meets this fault. */
  failNext(fault: Fault): void;
  /** Consulted for every request once the `failNext` queue is empty; `undefined` answers normally. */
  setFault(choose: ((request: RecordedRequest) => Fault | undefined) | undefined): void;
  /** Resolves once `count` requests have arrived. */
  received(count: number): Promise<void>;
  close(): Promise<void>;
}

interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null; [extra: string]: unknown };
}

class UpstreamRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body: OpenAIErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.error.message);
  }
}

function refuse(
  status: number,
  message: string,
  param: string | null,
  code: string | null,
  type = 'invalid_request_error',
  headers: Record<string, string> = {},
): never {
  throw new UpstreamRefusal(status, { error: { message, type, param, code } }, headers);
}

function requestId(): string {
  return `req_${randomBytes(16).toString('hex')}`;
}

// Rendering 4K images is the slow part; every size/format/variant is rendered once per process.
const imageCache = new Map<string, Promise<Buffer>>();

/**
 * A real image of exactly `width × height`; `variant` changes its colour so partials differ from the final, and
 * `image` (the index among the `n` asked) so each of several images differs from the others.
 */
export function renderImage(
  width: number,
  height: number,
  format: UpstreamFormat,
  variant = 0,
  imageIndex = 0,
): Promise<Buffer> {
  const key = `${width}x${height}:${format}:${variant}:${imageIndex}`;
  let image = imageCache.get(key);
  if (!image) {
    const shade = 40 + variant * 60;
    const base = sharp({
      create: {
        width,
        height,
        channels: 3,
        background: { r: shade, g: (120 + imageIndex * 25) % 256, b: 200 - variant * 30 },
      },
    });
    image = (format === 'png' ? base.png() : format === 'jpeg' ? base.jpeg({ quality: 80 }) : base.webp()).toBuffer();
    imageCache.set(key, image);
  }
  return image;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function parseMultipart(body: Buffer, contentType: string): Promise<RecordedPart[]> {
  // The platform's own multipart parser (undici's Request.formData), so parts arrive exactly as a server sees them.
  const form = await new Request('http://fake.invalid/', {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: new Uint8Array(body),
  }).formData();
  const parts: RecordedPart[] = [];
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') parts.push({ name, value });
    else
      parts.push({
        name,
        filename: value.name,
        contentType: value.type,
        bytes: Buffer.from(await value.arrayBuffer()),
      });
  }
  return parts;
}

/** Multipart sends every scalar as text: read it back the way OpenAI's form decoding does. */
function formScalar(value: string): unknown {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^-?\d+$/.test(value)) return Number(value);
  return value;
}

/** Sniffs PNG, JPEG or WebP from the first bytes, as OpenAI checks an upload's content and not only its type. */
function sniffImage(bytes: Buffer): string | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 12 && bytes.toString('ascii', 0, 4) === 'RIFF' && bytes.toString('ascii', 8, 12) === 'WEBP')
    return 'image/webp';
  return undefined;
}

/** Why GPT Image 2 refuses `WIDTHxHEIGHT`, or `undefined` (SIZE_RULE's pages). */
function sizeRefusal(width: number, height: number): string | undefined {
  const r = SIZE_RULE;
  if (width % r.grid !== 0 || height % r.grid !== 0) return `width and height must both be divisible by ${r.grid}`;
  const long = Math.max(width, height);
  const short = Math.min(width, height);
  if (long > r.maxEdge) return `the maximum supported resolution is 3840x2160 (long edge ${long})`;
  if (long > short * r.maxRatio) return 'the aspect ratio must be between 1:3 and 3:1';
  if (width * height < r.minPixels) return `at least ${r.minPixels} pixels are needed`;
  if (width * height > r.maxPixels) return `at most ${r.maxPixels} pixels are supported`;
  return undefined;
}

interface ValidRequest {
  model: string;
  prompt: string;
  n: number;
  width: number;
  height: number;
  sizeLabel: string;
  quality: string;
  format: UpstreamFormat;
  stream: boolean;
  partialImages: number;
  background: string;
}

function checkInteger(params: Record<string, unknown>, name: string, min: number, max: number, fallback: number) {
  const value = params[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    refuse(
      400,
      `Invalid type for '${name}': expected an integer, but got ${typeof value} instead.`,
      name,
      'invalid_type',
    );
  }
  if (value < min) {
    refuse(
      400,
      `Invalid '${name}': integer below minimum value. Expected a value >= ${min}, but got ${value} instead.`,
      name,
      'integer_below_min_value',
    );
  }
  if (value > max) {
    refuse(
      400,
      `Invalid '${name}': integer above maximum value. Expected a value <= ${max}, but got ${value} instead.`,
      name,
      'integer_above_max_value',
    );
  }
  return value;
}

function checkEnum(
  params: Record<string, unknown>,
  name: string,
  allowed: readonly string[],
  fallback: string,
): string {
  const value = params[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !allowed.includes(value)) {
    const list = allowed.map((v) => `'${v}'`).join(', ');
    refuse(400, `Invalid value: '${String(value)}'. Supported values are: ${list}.`, name, 'invalid_value');
  }
  return value;
}

function validate(params: Record<string, unknown>, images: RecordedPart[] | undefined, edit: boolean): ValidRequest {
  // Spec: the parameters of each endpoint; anything else is refused by name, as OpenAI does.
  const known = edit ? EDIT_PARAMS : GENERATION_PARAMS;
  for (const name of Object.keys(params)) {
    if (!known.has(name)) refuse(400, `Unknown parameter: '${name}'.`, name, 'unknown_parameter');
  }

  const model = params.model;
  if (model === undefined || model === null) {
    // Spec: generations default to dall-e-2, which this stand-in does not model; a GPT-image client must send it.
    refuse(400, "This stand-in needs 'model': the default (dall-e-2) is not a GPT image model.", 'model', null);
  }
  if (typeof model === 'string' && (RETIRED_MODELS as readonly string[]).includes(model)) {
    // Deprecations page: shut down. A shut-down model answers like one that does not exist for the key.
    refuse(404, `The model \`${model}\` does not exist or you do not have access to it.`, null, 'model_not_found');
  }
  if (typeof model !== 'string' || !(GPT_IMAGE_2_MODELS as readonly string[]).includes(model)) {
    refuse(
      400,
      `Invalid value: '${String(model)}'. Supported values are: ${GPT_IMAGE_2_MODELS.map((m) => `'${m}'`).join(', ')}.`,
      'model',
      'invalid_value',
    );
  }

  const prompt = params.prompt;
  if (typeof prompt !== 'string' || prompt.length === 0) {
    refuse(400, "Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
  }
  const promptChars = [...prompt].length;
  if (promptChars > UPSTREAM_PROMPT_MAX_CHARS) {
    refuse(
      400,
      `Invalid 'prompt': string too long. Expected a string with maximum length ${UPSTREAM_PROMPT_MAX_CHARS}, but got a string with length ${promptChars} instead.`,
      'prompt',
      'string_above_max_length',
    );
  }
  // Spec: `response_format` "isn't supported for the GPT image models" (always b64_json); `style` is DALL·E 3's.
  for (const name of ['response_format', 'style']) {
    if (params[name] !== undefined && params[name] !== null) {
      refuse(400, `'${name}' is not supported for ${model}.`, name, 'unsupported_parameter');
    }
  }

  const n = checkInteger(params, 'n', 1, 10, 1);
  const quality = checkEnum(params, 'quality', GPT_QUALITIES, 'auto');
  const format = checkEnum(params, 'output_format', OUTPUT_FORMATS, 'png') as UpstreamFormat;
  checkInteger(params, 'output_compression', 0, 100, 100);
  checkEnum(params, 'moderation', ['low', 'auto'], 'auto');
  if (params.user !== undefined && typeof params.user !== 'string') {
    refuse(400, `Invalid type for 'user': expected a string.`, 'user', 'invalid_type');
  }
  const background = checkEnum(params, 'background', ['transparent', 'opaque', 'auto'], 'auto');
  if (background === 'transparent') {
    // The GPT Image 2 guide: transparent backgrounds are not supported by gpt-image-2 (DESIGN.md §8; the spec calls
    // it "in preview", which the guide and SDK 6.49's docs do not offer).
    refuse(400, `Transparent backgrounds are not supported for ${model}.`, 'background', 'unsupported_value');
  }
  const stream = params.stream ?? false;
  if (typeof stream !== 'boolean') {
    refuse(
      400,
      `Invalid type for 'stream': expected a boolean, but got ${typeof stream} instead.`,
      'stream',
      'invalid_type',
    );
  }
  const partialImages = checkInteger(params, 'partial_images', 0, 3, 0);

  if (params.input_fidelity !== undefined && params.input_fidelity !== null) {
    // The GPT Image 2 guide: gpt-image-2 always processes inputs at high fidelity and refuses the parameter.
    refuse(400, `input_fidelity is not supported for ${model}.`, 'input_fidelity', 'unsupported_parameter');
  }

  const size = params.size ?? 'auto';
  let width: number;
  let height: number;
  if (size === 'auto') {
    ({ width, height } = AUTO_SIZE);
  } else {
    const match = typeof size === 'string' ? /^(\d+)x(\d+)$/.exec(size) : null;
    if (!match) refuse(400, `Invalid size '${String(size)}'. Use 'auto' or WIDTHxHEIGHT.`, 'size', 'invalid_value');
    width = Number(match[1]);
    height = Number(match[2]);
    const why = sizeRefusal(width, height);
    if (why) refuse(400, `Invalid size '${size}': ${why}.`, 'size', 'invalid_value');
  }

  if (edit) {
    const list = images ?? [];
    if (list.length === 0) refuse(400, "Missing required parameter: 'image'.", 'image', 'missing_required_parameter');
    if (list.length > UPSTREAM_MAX_IMAGES) {
      refuse(
        400,
        `Invalid 'image': array too long. Expected an array with maximum length ${UPSTREAM_MAX_IMAGES}, but got an array with length ${list.length} instead.`,
        'image',
        'array_above_max_length',
      );
    }
    list.forEach((image, index) => {
      const declared = image.contentType ?? '';
      const sniffed = image.bytes ? sniffImage(image.bytes) : undefined;
      if (!IMAGE_MIME_TYPES.includes(declared) || sniffed === undefined) {
        refuse(
          400,
          `Invalid file 'image[${index}]': unsupported mimetype ('${declared || 'none'}'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.`,
          'image',
          'unsupported_file_mimetype',
        );
      }
      if ((image.bytes?.length ?? 0) >= UPSTREAM_IMAGE_MAX_BYTES) {
        refuse(400, `Invalid file 'image[${index}]': files must be under 50 MB.`, 'image', 'file_too_large');
      }
    });
  }

  return {
    model,
    prompt,
    n,
    width,
    height,
    sizeLabel: String(size),
    quality,
    format,
    stream,
    partialImages,
    background,
  };
}

/**
 * An edit's mask, as OpenAI documents it. Spec, CreateImageEditRequest.mask: "An additional image whose fully
 * transparent areas (e.g. where alpha is zero) indicate where `image` should be edited. If there are multiple
 * images provided, the mask will be applied on the first image. Must be a valid PNG file, less than 4MB, and have
 * the same dimensions as `image`." The image generation guide ("Edit an image using a mask",
 * https://developers.openai.com/api/docs/guides/image-generation): the image to edit and the mask "must be of the
 * same format and size", and the mask "must also contain an alpha channel". Error wording follows public reports
 * ("Invalid mask image format - mask size does not match image size") and is not guaranteed verbatim.
 */
async function validateMask(mask: RecordedPart, first: RecordedPart | undefined): Promise<void> {
  const bytes = mask.bytes;
  if (!bytes) refuse(400, "Invalid type for 'mask': expected a file.", 'mask', 'invalid_type');
  if (bytes.length >= UPSTREAM_MASK_MAX_BYTES) {
    refuse(400, "Invalid file 'mask': files must be under 4 MB.", 'mask', 'file_too_large');
  }
  if (sniffImage(bytes) !== 'image/png' || mask.contentType !== 'image/png') {
    refuse(400, "Invalid file 'mask': the mask must be a PNG file.", 'mask', 'invalid_image_format');
  }
  if (!pngAlpha(bytes)) {
    refuse(
      400,
      "Invalid input image - format must be in ['RGBA', 'LA'], got RGB: the mask needs an alpha channel.",
      'mask',
      'invalid_image_format',
    );
  }
  if (!first?.bytes || sniffImage(first.bytes) !== 'image/png') {
    refuse(
      400,
      'Invalid mask image format - the image to edit and its mask must be of the same format (PNG).',
      'mask',
      'invalid_image_format',
    );
  }
  const [m, i] = await Promise.all([sharp(bytes).metadata(), sharp(first.bytes).metadata()]);
  if (m.width !== i.width || m.height !== i.height) {
    refuse(400, 'Invalid mask image format - mask size does not match image size.', 'mask', 'invalid_image_format');
  }
}

/** Whether a PNG has alpha: IHDR colour type 4 or 6, or a tRNS chunk (https://www.w3.org/TR/png/#11IHDR). */
function pngAlpha(bytes: Buffer): boolean {
  if (bytes.length < 33) return false;
  const colourType = bytes[25];
  if (colourType === 4 || colourType === 6) return true;
  for (let at = 8; at + 8 <= bytes.length; at += 12 + bytes.readUInt32BE(at)) {
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (type === 'tRNS') return true;
    if (type === 'IDAT') return false;
  }
  return false;
}

function usageFor(request: ValidRequest, imageCount: number) {
  const textTokens = Math.ceil(request.prompt.length / 4);
  const imageTokens = imageCount * 272;
  const outputTokens = Math.ceil((request.width * request.height) / 1024);
  return {
    total_tokens: textTokens + imageTokens + outputTokens,
    input_tokens: textTokens + imageTokens,
    output_tokens: outputTokens,
    input_tokens_details: { text_tokens: textTokens, image_tokens: imageTokens },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** https://platform.openai.com/docs/guides/error-codes and public reports of OpenAI's answers. */
const REFUSALS = {
  unauthorized: () =>
    new UpstreamRefusal(401, {
      error: {
        message:
          'Incorrect API key provided: sk-te*****key. You can find your API key at https://platform.openai.com/account/api-keys.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    }),
  // Quoted in https://github.com/openai-php/client/issues/565 (for gpt-image-1); a 403 with no code.
  unverified: (model: string) =>
    new UpstreamRefusal(403, {
      error: {
        message: `Your organization must be verified to use the model \`${model}\`. Please go to: https://platform.openai.com/settings/organization/general and click on Verify Organization. If you just verified, it can take up to 15 minutes for access to propagate.`,
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    }),
  // The error-codes guide: "You exceeded your current quota, please check your plan and billing details."
  insufficientQuota: () =>
    new UpstreamRefusal(429, {
      error: {
        message:
          'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
        type: 'insufficient_quota',
        param: null,
        code: 'insufficient_quota',
      },
    }),
  // The images-per-minute refusal (type `requests`, code `rate_limit_exceeded`), with `retry-after` in seconds and
  // `retry-after-ms` (read by the SDK, openai/client.mjs).
  rateLimited: (model: string, limit: number, waitMs: number, withMs: boolean) =>
    new UpstreamRefusal(
      429,
      {
        error: {
          message: `Rate limit reached for ${model} in organization org-framefill on images per minute (IPM): Limit ${limit}. Please try again in ${(waitMs / 1000).toFixed(3)}s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
          type: 'requests',
          param: null,
          code: 'rate_limit_exceeded',
        },
      },
      {
        'retry-after': String(Math.ceil(waitMs / 1000)),
        ...(withMs ? { 'retry-after-ms': String(Math.ceil(waitMs)) } : {}),
      },
    ),
};

const FLAGGED_IMAGE =
  'Your request was rejected by the safety system: the generated image was flagged. safety_violations=[sexual].';

/** One error event in `shape` (see ErrorEventShape). */
function errorEvent(shape: ErrorEventShape, code: string, message: string): string {
  const error = { message, type: 'image_generation_user_error', param: null, code };
  switch (shape) {
    case 'nested':
      return `event: error\ndata: ${JSON.stringify({ type: 'error', error })}\n\n`;
    case 'responses':
      // https://platform.openai.com/docs/api-reference/responses-streaming/error
      return `event: error\ndata: ${JSON.stringify({ type: 'error', code, message, param: null, sequence_number: 3 })}\n\n`;
    case 'data-error':
      return `data: ${JSON.stringify({ error })}\n\n`;
    case 'bare':
      return `event: error\ndata: ${JSON.stringify({ code, message })}\n\n`;
  }
}

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const requests: RecordedRequest[] = [];
  const queue: Fault[] = [];
  let chooser: ((request: RecordedRequest) => Fault | undefined) | undefined;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  /** When each image counted against the per-minute limit was accepted. */
  const imageStarts: number[] = [];
  const windowMs = options.rateWindowMs ?? 60_000;
  const partialScale = options.partials?.scale ?? 0.5;
  const spreadMs = options.partials?.spreadMs ?? 0;

  const sendJson = (
    res: ServerResponse,
    record: RecordedRequest,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    const text = JSON.stringify(body);
    record.status = status;
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      'x-request-id': record.requestId,
      'openai-version': '2020-10-01',
      ...headers,
    });
    res.end(text);
  };

  /** The usage tier's images per minute: a request for `n` images waits until the window has room for them. */
  function admit(model: string, n: number): void {
    const limit = options.imagesPerMinute;
    if (!limit) return;
    const now = Date.now();
    while (imageStarts.length > 0 && (imageStarts[0] ?? 0) <= now - windowMs) imageStarts.shift();
    if (imageStarts.length + n > limit) {
      const waitMs = Math.max(1, (imageStarts[imageStarts.length + n - 1 - limit] ?? now) + windowMs - now);
      throw REFUSALS.rateLimited(model, limit, waitMs, true);
    }
    for (let i = 0; i < n; i++) imageStarts.push(now);
  }

  async function answer(req: IncomingMessage, res: ServerResponse, record: RecordedRequest): Promise<void> {
    const edit = record.path === '/v1/images/edits';
    const fault = queue.shift() ?? chooser?.(record);
    const closed = () => record.closedByClient;

    if (fault?.kind === 'delay') await delay(fault.ms);
    if (fault?.kind === 'hold') await fault.until.catch(() => undefined);
    if (closed()) return;
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'drop-before-headers') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      sendJson(
        res,
        record,
        fault.status,
        fault.body ?? { error: { message: 'fault', type: 'server_error', param: null, code: null } },
        fault.headers,
      );
      return;
    }
    if (fault?.kind === 'moderation') {
      const id = record.requestId;
      sendJson(res, record, 400, {
        error: {
          message:
            fault.message ??
            `Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID ${id}. safety_violations=[violence].`,
          type: 'image_generation_user_error',
          param: null,
          code: 'moderation_blocked',
          ...(fault.details !== undefined ? { moderation_details: fault.details } : {}),
        },
      });
      return;
    }
    if (fault?.kind === 'rate-limited') {
      const waitMs = fault.retryAfterMs ?? fault.retryAfter * 1000;
      const refusal = REFUSALS.rateLimited(String(record.params.model), 5, waitMs, fault.retryAfterMs !== undefined);
      refusal.headers['retry-after'] = String(fault.retryAfter);
      throw refusal;
    }
    if (fault?.kind === 'unauthorized') throw REFUSALS.unauthorized();
    if (fault?.kind === 'insufficient-quota') throw REFUSALS.insufficientQuota();

    const valid = validate(record.params, edit ? record.images : undefined, edit);
    const mask = record.parts?.find((p) => p.name === 'mask');
    if (edit && mask) await validateMask(mask, record.images[0]);
    // Verification is checked after the parameters ("they run the valid param check before checking if the
    // organization is verified": https://github.com/cunnymessiah/keychecker/pull/12).
    if (fault?.kind === 'unverified' || options.unverifiedOrganization) throw REFUSALS.unverified(valid.model);
    if (valid.stream && options.refuseStreaming) {
      refuse(
        400,
        'Your organization must be verified to stream this model. Please go to: https://platform.openai.com/settings/organization/general and click on Verify Organization.',
        'stream',
        'unsupported_value',
      );
    }
    admit(valid.model, valid.n);
    const final = await renderImage(valid.width, valid.height, valid.format, 0);
    const count = Math.max(1, Math.min(valid.n, options.returned?.(valid.n) ?? valid.n));
    const finals = [final];
    for (let index = 1; index < count; index++) {
      finals.push(await renderImage(valid.width, valid.height, valid.format, 0, index));
    }
    const usage = usageFor(valid, record.images.length);
    const created = Math.floor(Date.now() / 1000);
    const shownQuality = valid.quality === 'auto' ? 'medium' : valid.quality;

    if (!valid.stream) {
      if (spreadMs) await delay(spreadMs);
      if (closed()) return;
      if (fault?.kind === 'drop-after-headers') {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': '100000',
          'x-request-id': record.requestId,
        });
        res.flushHeaders();
        setImmediate(() => req.socket.destroy());
        return;
      }
      const body = {
        created,
        data: finals.map((image) => ({
          b64_json: (fault?.kind === 'not-an-image' ? Buffer.from('definitely not an image') : image).toString(
            'base64',
          ),
        })),
        background: 'opaque',
        output_format: valid.format,
        size: `${valid.width}x${valid.height}`,
        quality: shownQuality,
        usage,
      };
      const text = JSON.stringify(body);
      if (fault?.kind === 'malformed-json' || fault?.kind === 'truncated') {
        const broken =
          fault.kind === 'truncated'
            ? text.slice(0, Math.floor(text.length / 2))
            : `{"created": ${created}, "data": [{"b64_json": }`;
        res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': record.requestId });
        res.end(broken);
        return;
      }
      sendJson(res, record, 200, body);
      return;
    }

    // Streaming (spec: ImageGenStreamEvent / ImageEditStreamEvent): up to `partial_images` previews, then `completed`.
    const prefix = edit ? 'image_edit' : 'image_generation';
    record.status = 200;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': record.requestId,
      'openai-version': '2020-10-01',
    });
    res.flushHeaders();
    if (fault?.kind === 'drop-after-headers') {
      setImmediate(() => req.socket.destroy());
      return;
    }
    const common = {
      created_at: created,
      size: valid.sizeLabel,
      quality: shownQuality,
      background: 'opaque',
      output_format: valid.format,
    };
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (fault?.kind === 'malformed-json') {
      res.end(`event: ${prefix}.partial_image\ndata: {"type": "${prefix}.partial_image", "b64_json": \n\n`);
      return;
    }
    const sent = Math.max(0, Math.min(valid.partialImages, options.partials?.sent?.(valid.partialImages) ?? 99));
    const gapMs = spreadMs / (sent + 1);
    for (let index = 0; index < sent; index++) {
      if (gapMs) await delay(gapMs);
      // A preview is smaller than the image it announces (its edges scaled, at least 16 px).
      const width = Math.max(16, Math.round(valid.width * partialScale));
      const height = Math.max(16, Math.round(valid.height * partialScale));
      const partial = await renderImage(width, height, valid.format, index + 1);
      if (closed()) return;
      send(`${prefix}.partial_image`, {
        type: `${prefix}.partial_image`,
        b64_json: partial.toString('base64'),
        ...common,
        partial_image_index: index,
      });
    }
    if (gapMs) await delay(gapMs);
    if (closed()) return;
    if (fault?.kind === 'stall-after-partials') return;
    if (fault?.kind === 'moderation-mid-stream') {
      res.end(errorEvent('nested', 'moderation_blocked', FLAGGED_IMAGE));
      return;
    }
    if (fault?.kind === 'error-event') {
      res.end(errorEvent(fault.shape, fault.code ?? 'moderation_blocked', fault.message ?? FLAGGED_IMAGE));
      return;
    }
    const completed = JSON.stringify({
      type: `${prefix}.completed`,
      b64_json: (fault?.kind === 'not-an-image' ? Buffer.from('definitely not an image') : final).toString('base64'),
      ...common,
      usage,
    });
    if (fault?.kind === 'truncated') {
      res.end(`event: ${prefix}.completed\ndata: ${completed.slice(0, Math.floor(completed.length / 2))}`);
      return;
    }
    res.end(`event: ${prefix}.completed\ndata: ${completed}\n\n`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      receivedAt: Date.now(),
      params: {},
      images: [],
      closedByClient: false,
      requestId: requestId(),
    };
    res.on('close', () => {
      if (!res.writableFinished) record.closedByClient = true;
    });
    try {
      const body = await readBody(req);
      if (req.method !== 'POST' || (path !== '/v1/images/generations' && path !== '/v1/images/edits')) {
        refuse(404, `Invalid URL (${req.method} ${path})`, null, null);
      }
      const contentType = req.headers['content-type'] ?? '';
      if (path === '/v1/images/generations') {
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          refuse(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            null,
            null,
          );
        }
        if (!json || typeof json !== 'object' || Array.isArray(json))
          refuse(400, 'The body must be a JSON object.', null, null);
        record.json = json as Record<string, unknown>;
        record.params = { ...record.json };
      } else {
        if (!contentType.startsWith('multipart/form-data')) {
          refuse(400, 'This stand-in models multipart edits only (image[] uploads).', null, null);
        }
        record.parts = await parseMultipart(body, contentType);
        const plainImages = record.parts.filter((p) => p.name === 'image');
        if (plainImages.length > 1) {
          // The spec's curl example uses `image[]` for several images; a repeated plain field is refused.
          refuse(
            400,
            "Duplicate parameter: 'image'. You provided multiple values for this parameter, whereas only one is allowed. If you are trying to provide a list of values, use the array syntax instead e.g. 'image[]=<value>'.",
            'image',
            'duplicate_parameter',
          );
        }
        record.images = record.parts.filter((p) => p.name === 'image[]' || p.name === 'image');
        for (const part of record.parts) {
          if (part.value !== undefined) record.params[part.name] = formScalar(part.value);
          else if (part.name !== 'image[]' && part.name !== 'image') record.params[part.name] = part.filename ?? '';
        }
      }
      requests.push(record);
      for (const waiter of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }

      const auth = req.headers.authorization;
      if (!auth?.startsWith('Bearer ') || auth.length <= 'Bearer '.length) {
        refuse(
          401,
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
          null,
          null,
        );
      }
      if (options.apiKey !== undefined && auth !== `Bearer ${options.apiKey}`) {
        refuse(
          401,
          'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
          null,
          'invalid_api_key',
        );
      }
      await answer(req, res, record);
    } catch (error) {
      if (res.headersSent || record.closedByClient) return;
      if (error instanceof UpstreamRefusal) {
        sendJson(res, record, error.status, error.body, error.headers);
        return;
      }
      sendJson(res, record, 500, {
        error: { message: `The fake upstream failed: ${String(error)}`, type: 'server_error', param: null, code: null },
      });
    } finally {
      record.status ??= res.statusCode;
    }
  }

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    failNext(fault) {
      queue.push(fault);
    },
    setFault(choose) {
      chooser = choose;
    },
    received(count) {
      if (requests.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
