// A local stand-in for OpenAI's Images API (generations + edits, JSON and SSE streaming), with the validation the
// real service documents and switchable faults, so the OpenAI provider can be proven without reaching OpenAI.
//
// Followed:
// - /work/shared/reference/openai-images.openapi.json (openai/openai-openapi main@f85dbe2, 2026-08-21):
//   CreateImageRequest, CreateImageEditRequest, ImagesResponse, ImageGen*/ImageEdit* stream events, ErrorResponse.
// - https://platform.openai.com/docs/api-reference/images/create
// - https://platform.openai.com/docs/api-reference/images/createEdit
// - https://platform.openai.com/docs/api-reference/images-streaming
// - https://platform.openai.com/docs/guides/error-codes (401 invalid key, 429 with Retry-After, 5xx)
// Error *wording* follows OpenAI's usual phrasing but is not guaranteed verbatim; statuses, `type`/`param`/`code`
// fields and event shapes follow the spec. Only GPT image models are modelled (Framefill never sends DALL·E).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { modelSizeViolation } from '../../core/formats';
import { sniffImageMime } from '../../core/limits';

export const GPT_IMAGE_2_MODELS = ['gpt-image-2', 'gpt-image-2-2026-04-21'] as const;
export const GPT_IMAGE_1_MODELS = ['gpt-image-1', 'gpt-image-1-mini', 'gpt-image-1.5'] as const;
/** `chatgpt-image-latest` is listed for edits only in the spec. */
const EDIT_ONLY_MODELS = ['chatgpt-image-latest'] as const;
/** The fixed sizes every GPT image model accepts (spec: CreateImageRequest.size). */
const STANDARD_SIZES = ['1024x1024', '1536x1024', '1024x1536'] as const;
/** Spec: "The maximum length is 32000 characters for the GPT image models". */
export const UPSTREAM_PROMPT_MAX_CHARS = 32_000;
/** Spec: CreateImageEditRequest.image maxItems 16, each "less than 50MB". */
export const UPSTREAM_MAX_IMAGES = 16;
const UPSTREAM_IMAGE_MAX_BYTES = 50 * 1024 * 1024;
const IMAGE_MIME_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
const GPT_QUALITIES = ['low', 'medium', 'high', 'auto'];
const OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
type UpstreamFormat = (typeof OUTPUT_FORMATS)[number];
/** The fake's choice for `size: auto` (the real model picks; the brief pins it so tests can assert it). */
export const AUTO_SIZE = { width: 1024, height: 1024 } as const;

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

export type Fault =
  /** Any status with an OpenAI error body (or a raw body); extra headers such as `retry-after`. */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Hold the answer this long before sending headers, then answer normally. */
  | { kind: 'delay'; ms: number }
  /** Hold the answer until `until` settles, then answer normally (lets a test attach listeners first). */
  | { kind: 'hold'; until: Promise<unknown> }
  /** Never answer (until the client gives up). */
  | { kind: 'hang' }
  /** Close the socket before any header. */
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
  /** 400 `moderation_blocked`, as OpenAI refuses a prompt or image. */
  | { kind: 'moderation'; message?: string }
  /** Streaming: partials, then an `error` event carrying `moderation_blocked` (the output image was refused). */
  | { kind: 'moderation-mid-stream' }
  /** 429 with `Retry-After` (seconds). */
  | { kind: 'rate-limited'; retryAfter: number }
  /** 401 `invalid_api_key`. */
  | { kind: 'unauthorized' };

export interface FakeOpenAIOptions {
  /** When set, any other bearer key is refused 401 like a wrong OPENAI_API_KEY. */
  apiKey?: string;
  /** Refuse `stream: true` like an organisation that is not verified for streaming this model. */
  refuseStreaming?: boolean;
  /** Pause between streamed events, so a consumer can observe order. */
  eventGapMs?: number;
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
  /**
   * Requests begun, body bytes read so far, bodies that arrived whole and bodies the client cut off: `requests`
   * holds only whole ones. Not OpenAI behaviour — a window for tests of upload forwarding.
   */
  arriving: { requests: number; bytes: number; whole: number; cut: number };
  close(): Promise<void>;
}

interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

class UpstreamRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body: OpenAIErrorBody,
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
): never {
  throw new UpstreamRefusal(status, { error: { message, type, param, code } });
}

function requestId(): string {
  return `req_${randomBytes(16).toString('hex')}`;
}

// Rendering 4K images is the slow part; every size/format/variant is rendered once per process.
const imageCache = new Map<string, Promise<Buffer>>();

/** A real image of exactly `width × height`; `variant` changes its colour so partials differ from the final. */
export function renderImage(width: number, height: number, format: UpstreamFormat, variant = 0): Promise<Buffer> {
  const key = `${width}x${height}:${format}:${variant}`;
  let image = imageCache.get(key);
  if (!image) {
    const shade = 40 + variant * 60;
    const base = sharp({
      create: { width, height, channels: 3, background: { r: shade, g: 120, b: 200 - variant * 30 } },
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
  const model = params.model;
  if (model === undefined || model === null) {
    // Spec: generations default to dall-e-2, which this stand-in does not model; a GPT-image client must send it.
    refuse(400, "This stand-in needs 'model': the default (dall-e-2) is not a GPT image model.", 'model', null);
  }
  const knownModels: readonly string[] = [
    ...GPT_IMAGE_2_MODELS,
    ...GPT_IMAGE_1_MODELS,
    ...(edit ? EDIT_ONLY_MODELS : []),
  ];
  if (typeof model !== 'string' || !knownModels.includes(model)) {
    refuse(
      400,
      `Invalid value: '${String(model)}'. Supported values are: ${knownModels.map((m) => `'${m}'`).join(', ')}.`,
      'model',
      'invalid_value',
    );
  }
  const isImage2 = (GPT_IMAGE_2_MODELS as readonly string[]).includes(model);

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

  const n = checkInteger(params, 'n', 1, 10, 1);
  const quality = checkEnum(params, 'quality', GPT_QUALITIES, 'auto');
  const format = checkEnum(params, 'output_format', OUTPUT_FORMATS, 'png') as UpstreamFormat;
  const background = checkEnum(params, 'background', ['transparent', 'opaque', 'auto'], 'auto');
  if (background === 'transparent' && format === 'jpeg') {
    refuse(400, "Transparent backgrounds need output_format 'png' or 'webp'.", 'background', 'invalid_value');
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
    if (!edit) refuse(400, "Unknown parameter: 'input_fidelity'.", 'input_fidelity', 'unknown_parameter');
    // DESIGN.md §8 (from OpenAI's GPT Image 2 guide): gpt-image-2 always uses high input fidelity and refuses the
    // parameter; the spec says gpt-image-1-mini does not support it either.
    if (isImage2 || model === 'gpt-image-1-mini') {
      refuse(400, `input_fidelity is not supported for ${model}.`, 'input_fidelity', 'unsupported_parameter');
    }
    checkEnum(params, 'input_fidelity', ['high', 'low'], 'low');
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
    if (isImage2) {
      const violation = modelSizeViolation(width, height);
      if (violation) refuse(400, `Invalid size '${size}': ${violation}.`, 'size', 'invalid_value');
    } else if (!(STANDARD_SIZES as readonly string[]).includes(size as string)) {
      refuse(
        400,
        `Invalid value: '${String(size)}'. Supported values are: 'auto', ${STANDARD_SIZES.map((s) => `'${s}'`).join(', ')}.`,
        'size',
        'invalid_value',
      );
    }
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
      const sniffed = image.bytes ? sniffImageMime(image.bytes) : undefined;
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

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const arriving = { requests: 0, bytes: 0, whole: 0, cut: 0 };
  const requests: RecordedRequest[] = [];
  const queue: Fault[] = [];
  let chooser: ((request: RecordedRequest) => Fault | undefined) | undefined;
  const waiters: Array<{ count: number; resolve: () => void }> = [];

  const sendJson = (
    res: ServerResponse,
    record: RecordedRequest,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      'x-request-id': record.requestId,
      'openai-version': '2020-10-01',
      ...headers,
    });
    res.end(text);
  };

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
        },
      });
      return;
    }
    if (fault?.kind === 'rate-limited') {
      sendJson(
        res,
        record,
        429,
        {
          error: {
            message: `Rate limit reached for images per minute. Please try again in ${fault.retryAfter}s.`,
            type: 'requests',
            param: null,
            code: 'rate_limit_exceeded',
          },
        },
        { 'retry-after': String(fault.retryAfter) },
      );
      return;
    }
    if (fault?.kind === 'unauthorized') {
      sendJson(res, record, 401, {
        error: {
          message:
            'Incorrect API key provided: sk-te*****key. You can find your API key at https://platform.openai.com/account/api-keys.',
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      });
      return;
    }

    const valid = validate(record.params, edit ? record.images : undefined, edit);
    if (valid.stream && options.refuseStreaming) {
      refuse(
        400,
        'Your organization must be verified to stream this model. Please go to: https://platform.openai.com/settings/organization/general and click on Verify Organization.',
        'stream',
        'unsupported_value',
      );
    }
    const final = await renderImage(valid.width, valid.height, valid.format, 0);
    const usage = usageFor(valid, record.images.length);
    const created = Math.floor(Date.now() / 1000);
    const shownQuality = valid.quality === 'auto' ? 'medium' : valid.quality;
    const shownBackground = valid.background === 'transparent' ? 'transparent' : 'opaque';

    if (!valid.stream) {
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
        data: Array.from({ length: valid.n }, () => ({
          b64_json: (fault?.kind === 'not-an-image' ? Buffer.from('definitely not an image') : final).toString(
            'base64',
          ),
        })),
        background: shownBackground,
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

    // Streaming (spec: ImageGenStreamEvent / ImageEditStreamEvent): `partial_images` previews, then `completed`.
    const prefix = edit ? 'image_edit' : 'image_generation';
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
      background: shownBackground,
      output_format: valid.format,
    };
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (fault?.kind === 'malformed-json') {
      res.end(`event: ${prefix}.partial_image\ndata: {"type": "${prefix}.partial_image", "b64_json": \n\n`);
      return;
    }
    for (let index = 0; index < valid.partialImages; index++) {
      const partial = await renderImage(valid.width, valid.height, valid.format, index + 1);
      if (closed()) return;
      send(`${prefix}.partial_image`, {
        type: `${prefix}.partial_image`,
        b64_json: partial.toString('base64'),
        ...common,
        partial_image_index: index,
      });
      if (options.eventGapMs) await delay(options.eventGapMs);
    }
    if (closed()) return;
    if (fault?.kind === 'stall-after-partials') return;
    if (fault?.kind === 'moderation-mid-stream') {
      send('error', {
        type: 'error',
        error: {
          message:
            'Your request was rejected by the safety system: the generated image was flagged. safety_violations=[sexual].',
          type: 'image_generation_user_error',
          param: null,
          code: 'moderation_blocked',
        },
      });
      res.end();
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
      params: {},
      images: [],
      closedByClient: false,
      requestId: requestId(),
    };
    res.on('close', () => {
      if (!res.writableFinished) record.closedByClient = true;
    });
    arriving.requests++;
    req.on('data', (chunk: Buffer) => {
      arriving.bytes += chunk.length;
    });
    req.on('end', () => arriving.whole++);
    req.on('close', () => {
      if (!req.complete) arriving.cut++;
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
        record.status = error.status;
        sendJson(res, record, error.status, error.body);
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
    arriving,
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
