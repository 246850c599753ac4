// A local stand-in for a GPT Image 2 reseller's task API — kie.ai's Market interface — written from kie's own pages,
// as strict as they are, with switchable delays and faults, so the task provider is proven against something no
// kinder than the reseller. It shares no rule with core/ or the provider: its sizes, enums and limits are its own.
//
// Followed (each behaviour below names its page):
// - [t2i] kie, "GPT Image-2 - Text to Image" (docs.kie.ai Market ▸ Image Models ▸ GPT Image, OpenAPI 3.0.1): POST
//   /api/v1/jobs/createTask, `model` "gpt-image-2-text-to-image", `input.prompt` required 1…20,000 chars,
//   `aspect_ratio` enum (auto, 1:1, 3:2, 2:3, 4:3, 3:4, 5:4, 4:5, 16:9, 9:16, 2:1, 1:2, 3:1, 1:3, 21:9, 9:21), 2K lacks
//   5:4, 4:5, 3:1, 1:3, 9:21, 4K lacks 3:1, 1:3, 9:21; `resolution` 1K/2K/4K, "1:1 cannot be 4K", auto "only 1K;
//   otherwise, the task will fail to create"; `background` (1K only); answer `{code, msg, data: {taskId}}`, codes
//   200, 401, 402, 404, 422, 429, 433, 455, 500, 501, 505.
// - [i2i] kie, "GPT Image-2 - Image to Image": `model` "gpt-image-2-image-to-image", `input.input_urls` required, at
//   most 16 URIs; 5:4 and 4:5 only at 1K.
// - [detail] https://docs.kie.ai/market/common/get-task-detail: GET /api/v1/jobs/recordInfo?taskId=…, `data.state`
//   waiting / queuing / generating / success / fail, `resultJson` a JSON string `{"resultUrls": […]}`, `failCode`,
//   `failMsg`, `createTime`, `completeTime`.
// - [start] https://docs.kie.ai (Getting started): `Authorization: Bearer <key>`, else
//   `{"code":401,"msg":"You do not have access permissions"}`; rate limits per key (no Retry-After documented).
// - [upload] https://docs.kie.ai/file-upload-api/upload-file-stream: POST /api/file-stream-upload, multipart `file`,
//   `uploadPath`, `fileName` → `{success, code: 200, msg, data: {fileName, filePath, downloadUrl, fileSize, mimeType,
//   uploadedAt}}`; 400 / 401 / 500 on failure.
// - [limits] kie, "GPT Image-1.5 - Image to Image" (https://docs.kie.ai/market/gpt-image/1.5-image-to-image): input
//   images JPEG, PNG or WebP, at most 10 MB each (not restated on the GPT Image-2 page).
// - [public] an unknown taskId answers body code 422 "recordInfo is null" (seen by public kie clients, not on kie's
//   pages).
// Not documented by kie, chosen here: the pixel sizes of a ratio × resolution (see SIZES), that every answer is HTTP
// 200 with the code in the body (kie's pages list every code under the 200 response; `httpStatusMirrorsCode` sends it
// as the HTTP status too), and `failCode` values.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export const MODELS = { text: 'gpt-image-2-text-to-image', image: 'gpt-image-2-image-to-image' } as const;
/** [t2i] prompt: "Required, maximum 20,000 characters". */
export const PROMPT_MAX_CHARS = 20_000;
/** [i2i] input_urls: maxItems 16. */
export const MAX_INPUT_URLS = 16;
/** [limits] 10 MB per input image. */
export const INPUT_MAX_BYTES = 10 * 1024 * 1024;
const RATIOS = [
  'auto',
  '1:1',
  '3:2',
  '2:3',
  '4:3',
  '3:4',
  '5:4',
  '4:5',
  '16:9',
  '9:16',
  '2:1',
  '1:2',
  '3:1',
  '1:3',
  '21:9',
  '9:21',
];
const RESOLUTIONS = ['1K', '2K', '4K'];
/** [t2i] ratios a resolution does not have (1:1 at 4K and auto above 1K are checked on their own). */
const MISSING_T2I: Record<string, string[]> = {
  '2K': ['5:4', '4:5', '3:1', '1:3', '9:21'],
  '4K': ['3:1', '1:3', '9:21'],
};
/** [i2i] "5:4 and 4:5 aspect ratios only support 1K images". */
const MISSING_I2I: Record<string, string[]> = { '2K': ['5:4', '4:5'], '4K': ['5:4', '4:5'] };
const T2I_INPUT_KEYS = new Set(['prompt', 'aspect_ratio', 'resolution', 'background']);
const I2I_INPUT_KEYS = new Set(['prompt', 'input_urls', 'aspect_ratio', 'resolution']);

/**
 * What the stand-in makes for a ratio × resolution. kie publishes no pixel sizes, so these are this stand-in's own:
 * most are exact, some are the same ratio off by rounding (as a service on another grid would make), so that a client
 * must read the size from the image. `auto` makes a 1254 × 1254 square.
 */
export const SIZES: Record<string, Record<string, { width: number; height: number }>> = {
  auto: { '1K': { width: 1254, height: 1254 } },
  '1:1': { '1K': { width: 1024, height: 1024 }, '2K': { width: 2048, height: 2048 } },
  '16:9': {
    '1K': { width: 1360, height: 768 },
    '2K': { width: 2560, height: 1440 },
    '4K': { width: 3840, height: 2160 },
  },
  '9:16': {
    '1K': { width: 768, height: 1360 },
    '2K': { width: 1440, height: 2560 },
    '4K': { width: 2160, height: 3840 },
  },
  '4:3': {
    '1K': { width: 1024, height: 768 },
    '2K': { width: 2048, height: 1536 },
    '4K': { width: 3264, height: 2448 },
  },
  '3:4': {
    '1K': { width: 768, height: 1024 },
    '2K': { width: 1536, height: 2048 },
    '4K': { width: 2448, height: 3264 },
  },
};

export type TaskState = 'waiting' | 'queuing' | 'generating' | 'success' | 'fail';

/** How one task goes, set before it is created (`planNext`) or for all (`defaultPlan`). */
export interface TaskPlan {
  /** End in `fail` with these. */
  fail?: { failCode: string; failMsg: string };
  /** Make an image of this size instead of SIZES'. */
  size?: { width: number; height: number };
  /** Serve these bytes as the result instead of an image. */
  resultBytes?: Buffer;
  /** Time spent in each state before the next, in ms. */
  delays?: Partial<Record<'waiting' | 'queuing' | 'generating', number>>;
}

/** A refusal of createTask (or upload), as the next `times` calls answer it. */
export interface Refusal {
  code: number;
  msg: string;
  /** Seconds, sent as Retry-After (kie documents none; off by default). */
  retryAfter?: number;
  times?: number;
}

export interface FakeTask {
  taskId: string;
  model: string;
  input: Record<string, unknown>;
  callBackUrl: string | undefined;
  createdAt: number;
  plan: TaskPlan;
  /** When each recordInfo call for it arrived. */
  polls: number[];
  resultFile?: string;
}

export interface FakeTaskApiOptions {
  apiKey?: string;
  /** Send the body's code as the HTTP status as well (kie's pages answer 200 with the code in the body). */
  httpStatusMirrorsCode?: boolean;
  defaultPlan?: TaskPlan;
}

export interface FakeTaskApi {
  url: string;
  tasks: FakeTask[];
  uploads: Array<{ fileName: string; uploadPath: string; mime: string; bytes: Buffer; downloadUrl: string }>;
  /** Every request, in order (method, path, whether it carried the right key). */
  requests: Array<{ method: string; path: string; authorized: boolean }>;
  /** The plan of the next task created (then `defaultPlan`). */
  planNext(plan: TaskPlan): void;
  /** createTask answers this refusal the next `times` (1) times. */
  refuseCreate(refusal: Refusal): void;
  refuseUpload(refusal: Refusal): void;
  /** recordInfo answers this refusal the next `times` (1) times (the task goes on). */
  refusePoll(refusal: Refusal): void;
  stateOf(task: FakeTask, now?: number): TaskState;
  close(): Promise<void>;
}

export async function startFakeTaskApi(options: FakeTaskApiOptions = {}): Promise<FakeTaskApi> {
  const apiKey = options.apiKey ?? 'task-key';
  const tasks: FakeTask[] = [];
  const uploads: FakeTaskApi['uploads'] = [];
  const requests: FakeTaskApi['requests'] = [];
  const plans: TaskPlan[] = [];
  const refusals: Record<'create' | 'upload' | 'poll', Refusal[]> = { create: [], upload: [], poll: [] };
  const files = new Map<string, { mime: string; bytes: Buffer }>();
  const defaultPlan = options.defaultPlan ?? { delays: { waiting: 5, queuing: 5, generating: 10 } };
  let base = '';

  const stateOf = (task: FakeTask, now = Date.now()): TaskState => {
    const delays = { ...defaultPlan.delays, ...task.plan.delays };
    let at = task.createdAt;
    for (const state of ['waiting', 'queuing', 'generating'] as const) {
      at += delays[state] ?? 0;
      if (now < at) return state;
    }
    return task.plan.fail ? 'fail' : 'success';
  };

  const send = (res: ServerResponse, code: number, msg: string, data: unknown = null, retryAfter?: number) => {
    const status = options.httpStatusMirrorsCode ? code : 200;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      ...(retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : {}),
    });
    res.end(JSON.stringify({ code, msg, data }));
  };
  const takeRefusal = (list: Refusal[]): Refusal | undefined => {
    const first = list[0];
    if (!first) return undefined;
    first.times = (first.times ?? 1) - 1;
    if (first.times <= 0) list.shift();
    return first;
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, `stand-in error: ${String(error)}`);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    const authorized = req.headers.authorization === `Bearer ${apiKey}`;
    requests.push({ method: req.method ?? '', path: url.pathname, authorized });

    // Uploaded files and results are public, temporary URLs ([upload], [detail]): no key needed.
    if (req.method === 'GET' && url.pathname.startsWith('/files/')) {
      const file = files.get(url.pathname);
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': file.mime, 'Content-Length': file.bytes.length }).end(file.bytes);
      return;
    }
    // [start] every API call needs the key.
    if (!authorized) return send(res, 401, 'You do not have access permissions');

    if (req.method === 'POST' && url.pathname === '/api/file-stream-upload') return upload(req, res, url);
    if (req.method === 'POST' && url.pathname === '/api/v1/jobs/createTask') return createTask(req, res);
    if (req.method === 'GET' && url.pathname === '/api/v1/jobs/recordInfo') return recordInfo(res, url);
    return send(res, 404, 'Not Found');
  }

  async function upload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const refusal = takeRefusal(refusals.upload);
    if (refusal) return send(res, refusal.code, refusal.msg, null, refusal.retryAfter);
    let form: FormData;
    try {
      form = await new Request(url, {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? '' },
        body: req as unknown as ReadableStream, // Node's Request takes a readable stream as a body (duplex: half).
        duplex: 'half',
      } as RequestInit).formData();
    } catch {
      return send(res, 400, 'multipart/form-data expected');
    }
    const file = form.get('file');
    if (!(file instanceof Blob)) return send(res, 400, 'file is required');
    const uploadPath = String(form.get('uploadPath') ?? '');
    if (!uploadPath) return send(res, 400, 'uploadPath is required');
    const bytes = Buffer.from(await file.arrayBuffer());
    // "identical filenames will overwrite old files" [upload]; a missing name gets a random one.
    const fileName = String(form.get('fileName') ?? '') || `${randomUUID()}`;
    const filePath = `${uploadPath}/${fileName}`;
    const path = `/files/${randomBytes(6).toString('hex')}/${filePath}`;
    const mime = file.type || 'application/octet-stream';
    files.set(path, { mime, bytes });
    const downloadUrl = `${base}${path}`;
    uploads.push({ fileName, uploadPath, mime, bytes, downloadUrl });
    return send(res, 200, 'File uploaded successfully', {
      fileName,
      filePath,
      downloadUrl,
      fileSize: bytes.length,
      mimeType: mime,
      uploadedAt: new Date().toISOString(),
    });
  }

  async function createTask(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = takeRefusal(refusals.create);
    if (refusal) return send(res, refusal.code, refusal.msg, null, refusal.retryAfter);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(await text(req)) as Record<string, unknown>;
    } catch {
      return send(res, 422, 'request body is not JSON');
    }
    const invalid = validate(body);
    if (invalid) return send(res, 422, invalid);
    const input = body.input as Record<string, unknown>;
    // Input URLs must be reachable images [i2i], [limits]: the stand-in fetches each, as the reseller would.
    for (const url of (input.input_urls as string[] | undefined) ?? []) {
      const problem = await fetchProblem(url);
      if (problem) return send(res, 422, `input_urls: ${problem}`);
    }
    const taskId = randomBytes(16).toString('hex');
    tasks.push({
      taskId,
      model: body.model as string,
      input,
      callBackUrl: body.callBackUrl as string | undefined,
      createdAt: Date.now(),
      plan: plans.shift() ?? defaultPlan,
      polls: [],
    });
    return send(res, 200, 'success', { taskId });
  }

  async function recordInfo(res: ServerResponse, url: URL): Promise<void> {
    const taskId = url.searchParams.get('taskId') ?? '';
    const task = tasks.find((t) => t.taskId === taskId);
    task?.polls.push(Date.now());
    const refusal = takeRefusal(refusals.poll);
    if (refusal) return send(res, refusal.code, refusal.msg, null, refusal.retryAfter);
    if (!taskId) return send(res, 422, 'taskId is required');
    if (!task) return send(res, 422, 'recordInfo is null');
    const state = stateOf(task);
    if (state === 'success' && !task.resultFile) task.resultFile = await makeResult(task);
    return send(res, 200, 'success', {
      taskId,
      model: task.model,
      state,
      param: JSON.stringify({ model: task.model, callBackUrl: task.callBackUrl, input: task.input }),
      resultJson: state === 'success' ? JSON.stringify({ resultUrls: [`${base}${task.resultFile}`] }) : '',
      failCode: state === 'fail' ? (task.plan.fail?.failCode ?? '') : '',
      failMsg: state === 'fail' ? (task.plan.fail?.failMsg ?? '') : '',
      completeTime: state === 'success' || state === 'fail' ? Date.now() : null,
      createTime: task.createdAt,
      updateTime: Date.now(),
    });
  }

  async function makeResult(task: FakeTask): Promise<string> {
    const path = `/files/results/${task.taskId}.png`;
    if (task.plan.resultBytes) {
      files.set(path, { mime: 'image/png', bytes: task.plan.resultBytes });
      return path;
    }
    const ratio = String(task.input.aspect_ratio ?? 'auto');
    const resolution = String(task.input.resolution ?? '1K');
    const size = task.plan.size ?? SIZES[ratio]?.[resolution] ?? { width: 1024, height: 1024 };
    const bytes = await sharp({
      create: { width: size.width, height: size.height, channels: 3, background: { r: 40, g: 120, b: 200 } },
    })
      .png({ compressionLevel: 1 })
      .toBuffer();
    files.set(path, { mime: 'image/png', bytes });
    return path;
  }

  async function fetchProblem(url: string): Promise<string | undefined> {
    let response: Response;
    try {
      response = await fetch(url);
    } catch {
      return `${url} could not be fetched`;
    }
    if (!response.ok) return `${url} answered ${response.status}`;
    const bytes = Buffer.from(await response.arrayBuffer());
    if (bytes.length > INPUT_MAX_BYTES) return `${url} is over 10 MB`;
    const format = (
      await sharp(bytes)
        .metadata()
        .catch(() => undefined)
    )?.format;
    if (!format || !['png', 'jpeg', 'webp'].includes(format)) return `${url} is not a JPEG, PNG or WebP image`;
    return undefined;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    tasks,
    uploads,
    requests,
    planNext: (plan) => plans.push(plan),
    refuseCreate: (refusal) => refusals.create.push({ ...refusal }),
    refuseUpload: (refusal) => refusals.upload.push({ ...refusal }),
    refusePoll: (refusal) => refusals.poll.push({ ...refusal }),
    stateOf,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The first rule of [t2i] / [i2i] a createTask body breaks, as kie's 422 "Validation Error" would say it. */
export function validate(body: Record<string, unknown>): string | undefined {
  const model = body.model;
  if (model !== MODELS.text && model !== MODELS.image) return `model is not supported: ${String(model)}`;
  if (body.callBackUrl !== undefined && !isHttpUrl(body.callBackUrl)) return 'callBackUrl must be a URI';
  const input = body.input;
  if (typeof input !== 'object' || input === null) return 'input is required';
  const fields = input as Record<string, unknown>;
  const known = model === MODELS.text ? T2I_INPUT_KEYS : I2I_INPUT_KEYS;
  const unknown = Object.keys(fields).find((key) => !known.has(key));
  if (unknown) return `input.${unknown} is not a parameter of ${model}`;
  const prompt = fields.prompt;
  if (typeof prompt !== 'string' || prompt.length === 0) return 'input.prompt is required';
  // "maximum 20,000 characters": counted as code points, like the product's own limit.
  if ([...prompt].length > PROMPT_MAX_CHARS) return `input.prompt is longer than ${PROMPT_MAX_CHARS} characters`;
  const ratio = fields.aspect_ratio ?? 'auto';
  if (typeof ratio !== 'string' || !RATIOS.includes(ratio))
    return `input.aspect_ratio is not supported: ${String(ratio)}`;
  const resolution = fields.resolution;
  if (resolution !== undefined && (typeof resolution !== 'string' || !RESOLUTIONS.includes(resolution))) {
    return `input.resolution is not supported: ${String(resolution)}`;
  }
  const tier = (resolution as string | undefined) ?? '1K';
  if (ratio === 'auto' && tier !== '1K') return 'aspect_ratio auto only supports 1K';
  if (ratio === '1:1' && tier === '4K') return '1:1 images cannot be 4K';
  const missing = (model === MODELS.text ? MISSING_T2I : MISSING_I2I)[tier] ?? [];
  if (missing.includes(ratio)) return `aspect_ratio ${ratio} is not supported at ${tier}`;
  if (fields.background !== undefined) {
    if (!['transparent', 'opaque', 'auto'].includes(String(fields.background)))
      return 'input.background is not supported';
    if (tier !== '1K') return 'input.background is only supported at 1K';
  }
  if (model === MODELS.image) {
    const urls = fields.input_urls;
    if (!Array.isArray(urls) || urls.length === 0) return 'input.input_urls is required';
    if (urls.length > MAX_INPUT_URLS) return `input.input_urls has more than ${MAX_INPUT_URLS} items`;
    if (!urls.every(isHttpUrl)) return 'input.input_urls must be URIs';
  }
  return undefined;
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

async function text(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
