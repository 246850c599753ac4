// The OpenAI provider against the local Images API stand-in: what reaches "OpenAI", what comes back, and what
// every failure becomes for the user.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sizeParam } from '../../core/formats';
import { FramefillError } from '../../proxy/errors';
import { createOpenAIProvider, endUserId, isSafeToRetry, JPEG_COMPRESSION } from '../../proxy/providers/openai';
import type { PartialImage, Provider } from '../../proxy/providers/types';
import {
  AUTO_SIZE,
  type ErrorEventShape,
  type FakeOpenAI,
  type FakeOpenAIOptions,
  type Fault,
  startFakeOpenAI,
} from '../fakes/openai-upstream';
import { ALL_PAIRS, generation, references } from './fixtures';

let fake: FakeOpenAI;
let provider: Provider;

async function setUp(options: FakeOpenAIOptions = {}, { model = 'gpt-image-2', partialImages = 1 } = {}) {
  fake = await startFakeOpenAI({ apiKey: 'test-key', ...options });
  provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: fake.url, model, timeoutMs: 30_000, partialImages });
}

async function reset(options: FakeOpenAIOptions = {}, settings: { model?: string; partialImages?: number } = {}) {
  await fake.close();
  await setUp(options, settings);
}

beforeEach(async () => {
  await setUp();
});
afterEach(async () => {
  await fake.close();
});

const never = () => new AbortController().signal;

async function run(request = generation(), signal = never()) {
  const partials: PartialImage[] = [];
  const result = await provider.generate(request, signal, (partial) => partials.push(partial));
  return { result, partials };
}

async function failure(request = generation(), signal = never()): Promise<FramefillError> {
  const error = await provider
    .generate(request, signal, () => {})
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(FramefillError);
  return error as FramefillError;
}

describe('what OpenAI receives', () => {
  it.each(ALL_PAIRS)(
    '$ratio $tier sends its exact size and the model, and returns that many pixels',
    async ({ ratio, tier, size }) => {
      const { result } = await run(generation({ aspectRatio: ratio, resolution: tier, size }));
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]?.path).toBe('/v1/images/generations');
      expect(fake.requests[0]?.json).toMatchObject({ model: 'gpt-image-2', size: sizeParam(size) });
      const meta = await sharp(result.bytes).metadata();
      const expected = size === 'auto' ? AUTO_SIZE : size;
      expect({ width: meta.width, height: meta.height }).toEqual(expected);
    },
  );

  it('Auto sends size "auto"', async () => {
    await run(generation({ aspectRatio: 'auto', resolution: '1K', size: 'auto' }));
    expect(fake.requests[0]?.json?.size).toBe('auto');
  });

  it('sends the prompt unchanged with quality, output_format and n: 1, and never input_fidelity nor background', async () => {
    const prompt = '  Ein Leuchtturm 🌅 at dusk\n— "flat" illustration  ';
    const { result } = await run(generation({ prompt, quality: 'high', outputFormat: 'jpeg' }));
    const body = fake.requests[0]?.json ?? {};
    expect(body).toMatchObject({ prompt, quality: 'high', output_format: 'jpeg', n: 1, model: 'gpt-image-2' });
    expect(body).not.toHaveProperty('input_fidelity');
    expect(body).not.toHaveProperty('background');
    expect((await sharp(result.bytes).metadata()).format).toBe('jpeg');
  });

  it('sends the configured model, a dated snapshot included', async () => {
    await reset({}, { model: 'gpt-image-2-2026-04-21' });
    await run(generation({ size: { width: 1024, height: 1024 }, aspectRatio: '1:1' }));
    expect(fake.requests[0]?.json?.model).toBe('gpt-image-2-2026-04-21');
  });

  it('a JPEG is asked with output_compression; a PNG without (spec: output_compression, jpeg/webp only)', async () => {
    await run(generation({ outputFormat: 'jpeg' }));
    await run(generation({ outputFormat: 'png' }));
    expect(fake.requests[0]?.json).toMatchObject({ output_format: 'jpeg', output_compression: JPEG_COMPRESSION });
    expect(fake.requests[1]?.json).not.toHaveProperty('output_compression');
  });

  it('sends `user` as a stable hash of the account, never the account id (spec: CreateImageRequest.user)', async () => {
    const account = '7d0e4a51-5d2c-4c8e-9a49-2d3a1f0b6c11';
    await run(generation({ accountId: account }));
    await run(generation({ accountId: account, references: await references(1) }));
    await run(generation({ accountId: 'another-account' }));
    const users = fake.requests.map((r) => r.params.user);
    expect(users[0]).toBe(endUserId(account));
    expect(users[1]).toBe(users[0]);
    expect(users[2]).not.toBe(users[0]);
    for (const user of users) {
      expect(user).toMatch(/^framefill-[0-9a-f]{32}$/);
      expect(String(user)).not.toContain(account.slice(0, 8));
    }
  });

  it.each([1, 16])(
    'image-to-image with %i references sends that many image[] parts, in order, byte-identical',
    async (count) => {
      const refs = await references(count);
      await run(generation({ references: refs }));
      const sent = fake.requests[0];
      expect(sent?.path).toBe('/v1/images/edits');
      expect(sent?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
      expect(sent?.images).toHaveLength(count);
      sent?.images.forEach((part, index) => {
        const ref = refs[index];
        expect(part.name).toBe('image[]');
        expect(part.contentType).toBe(ref?.mime);
        expect(part.filename).toMatch(/^reference-\d+\.(png|jpg|webp)$/);
        expect(part.bytes?.equals(Buffer.from(ref?.bytes ?? []))).toBe(true);
      });
      expect(sent?.params).toMatchObject({ model: 'gpt-image-2', size: '1280x720', quality: 'low', n: 1 });
      expect(sent?.params).not.toHaveProperty('input_fidelity');
      expect(sent?.params).not.toHaveProperty('background');
      expect(sent?.parts?.some((p) => p.name === 'image')).toBe(false);
    },
  );

  it('asks for FRAMEFILL_PARTIAL_IMAGES previews: 1 by default, as configured, and no stream for 0', async () => {
    await run();
    expect(fake.requests[0]?.json).toMatchObject({ stream: true, partial_images: 1 });
    await reset({}, { partialImages: 3 });
    await run();
    expect(fake.requests[0]?.json).toMatchObject({ stream: true, partial_images: 3 });
    await reset({}, { partialImages: 0 });
    const { partials } = await run();
    expect(fake.requests[0]?.json).not.toHaveProperty('stream');
    expect(fake.requests[0]?.json).not.toHaveProperty('partial_images');
    expect(partials).toEqual([]);
  });
});

describe('what the provider returns', () => {
  it('delivers partial previews, with their real (reduced) size and type, before the result', async () => {
    await reset({}, { partialImages: 2 });
    const order: string[] = [];
    const partials: PartialImage[] = [];
    const result = await provider.generate(generation(), never(), (partial) => {
      order.push(`partial ${partial.index}`);
      partials.push(partial);
    });
    order.push('result');
    expect(order).toEqual(['partial 0', 'partial 1', 'result']);
    for (const partial of partials) {
      expect(partial).toMatchObject({ mime: 'image/png', width: 640, height: 360 });
      const meta = await sharp(Buffer.from(partial.b64, 'base64')).metadata();
      expect([meta.width, meta.height]).toEqual([partial.width, partial.height]);
    }
    expect(result.bytes.equals(Buffer.from(partials[0]?.b64 ?? '', 'base64'))).toBe(false);
  });

  it('passes on fewer previews than asked when OpenAI sends fewer (spec: PartialImages)', async () => {
    await reset({ partials: { sent: () => 1 } }, { partialImages: 3 });
    const { partials, result } = await run();
    expect(partials.map((p) => p.index)).toEqual([0]);
    expect((await sharp(result.bytes).metadata()).width).toBe(1280);
  });

  it('describes JPEG previews from their header too', async () => {
    await reset({}, { partialImages: 2 });
    const partials: PartialImage[] = [];
    await provider.generate(generation({ outputFormat: 'jpeg' }), never(), (partial) => partials.push(partial));
    expect(partials).toHaveLength(2);
    for (const partial of partials) expect(partial).toMatchObject({ mime: 'image/jpeg', width: 640, height: 360 });
  });

  it("records OpenAI's usage and x-request-id", async () => {
    const { result } = await run();
    expect(result.usage).toMatchObject({ total_tokens: expect.any(Number), input_tokens_details: expect.any(Object) });
    expect(result.upstreamRequestId).toMatch(/^req_[0-9a-f]{32}$/);
  });

  it('falls back to a plain request when streaming is refused, and stops asking for it', async () => {
    await reset({ refuseStreaming: true });
    const first = await run();
    expect(fake.requests.map((r) => r.json?.stream)).toEqual([true, undefined]);
    expect(fake.requests[1]?.json).not.toHaveProperty('partial_images');
    expect(first.partials).toEqual([]);
    expect((await sharp(first.result.bytes).metadata()).width).toBe(1280);
    await run(generation({ references: await references(2) }));
    expect(fake.requests).toHaveLength(3);
    expect(fake.requests[2]?.params).not.toHaveProperty('stream');
  });
});

describe('upstream failures become §6 codes', () => {
  // https://platform.openai.com/docs/guides/error-codes: refused prompts and images carry moderation_blocked.
  it("a moderation refusal is content_policy: what to do for the designer, OpenAI's details only in the cause (logged)", async () => {
    fake.failNext({
      kind: 'moderation',
      message: 'Your request was rejected by the safety system. safety_violations=[x].',
      details: { categories: ['x'] },
    });
    const error = await failure();
    expect(error.code).toBe('content_policy');
    expect(error.message).toContain('Rephrase the prompt');
    expect(error.message).not.toContain('safety_violations');
    expect(error.message).not.toContain('categories');
    expect(error.upstreamRequestId).toBe(fake.requests[0]?.requestId);
    const cause = error.cause as Error;
    expect(cause.message).toContain('safety_violations=[x]');
    expect(cause.message).toContain('moderation_details={"categories":["x"]}');
  });

  // None of these shapes is documented for the Images API (spec: ImageGenStreamEvent lists partial and completed
  // only); the Responses API documents `event: error` with a top-level code
  // (https://platform.openai.com/docs/api-reference/responses-streaming/error), and the SDK throws on `data.error`.
  it.each<ErrorEventShape>(['nested', 'responses', 'data-error', 'bare'])(
    'a mid-stream error event in the %s shape carrying moderation_blocked is content_policy, with the request id',
    async (shape) => {
      fake.failNext({ kind: 'error-event', shape });
      const error = await failure();
      expect(error.code).toBe('content_policy');
      expect(error.message).not.toContain('safety_violations');
      expect(error.upstreamRequestId).toBe(fake.requests[0]?.requestId);
      expect(fake.requests).toHaveLength(1);
    },
  );

  it('a mid-stream error event with another code is upstream_error carrying its message', async () => {
    fake.failNext({ kind: 'error-event', shape: 'responses', code: 'server_error', message: 'The render failed.' });
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('The render failed.');
  });

  it('a 400 with code content_policy_violation, or a safety message, is content_policy', async () => {
    fake.failNext({
      kind: 'status',
      status: 400,
      body: {
        error: {
          message: 'This prompt breaks our content policy.',
          type: 'invalid_request_error',
          param: 'prompt',
          code: 'content_policy_violation',
        },
      },
    });
    expect((await failure()).code).toBe('content_policy');
    fake.failNext({
      kind: 'status',
      status: 400,
      body: {
        error: {
          message: 'Image rejected by the safety system.',
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      },
    });
    expect((await failure(generation({ references: await references(1) }))).code).toBe('content_policy');
  });

  // The error-codes guide: a 429 is a rate limit (wait and retry) unless its code is insufficient_quota.
  it("a 429 is rate_limited with OpenAI's wait and request id, for the runner to requeue; never retried here", async () => {
    fake.failNext({ kind: 'rate-limited', retryAfter: 7 });
    const error = await failure();
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfter).toBe(7);
    expect(error.upstreamRequestId).toBe(fake.requests[0]?.requestId);
    expect(fake.requests).toHaveLength(1);
  });

  it('retry-after-ms wins over retry-after, rounded up to whole seconds', async () => {
    fake.failNext({ kind: 'rate-limited', retryAfter: 9, retryAfterMs: 1200 });
    expect((await failure()).retryAfter).toBe(2);
  });

  it('a 429 naming no wait is rate_limited without a wait of its own (the runner backs off)', async () => {
    fake.failNext({
      kind: 'status',
      status: 429,
      body: { error: { message: 'Rate limit reached.', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
    });
    const error = await failure();
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfter).toBeUndefined();
    expect(fake.requests).toHaveLength(1);
  });

  it('a 429 insufficient_quota is upstream_error addressed to the operator, not a wait, and not retried', async () => {
    fake.failNext({ kind: 'insufficient-quota' });
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.retryAfter).toBeUndefined();
    expect(error.message).toContain('whoever runs the proxy');
    expect(error.message).toContain('billing');
    expect(fake.requests).toHaveLength(1);
  });

  it('a 403 for an unverified organisation is upstream_error telling the operator how to verify', async () => {
    // "Your organization must be verified to use the model …" (https://github.com/openai-php/client/issues/565).
    await reset({ unverifiedOrganization: true });
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('whoever runs the proxy must verify the organization');
    expect(error.message).toContain('https://platform.openai.com/settings/organization/general');
    expect(error.upstreamRequestId).toBe(fake.requests[0]?.requestId);
    expect(fake.requests).toHaveLength(1);
  });

  it('another 403 is upstream_error about the key’s project and permissions', async () => {
    fake.failNext({
      kind: 'status',
      status: 403,
      body: {
        error: {
          message: 'You have insufficient permissions for this operation.',
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      },
    });
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('OPENAI_API_KEY');
  });

  it('a retired model answered 404 model_not_found is upstream_error naming OPENAI_IMAGE_MODEL', async () => {
    await reset({}, { model: 'gpt-image-1' });
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('OPENAI_IMAGE_MODEL=gpt-image-1');
  });

  it('a 401 is upstream_error telling the operator to check OPENAI_API_KEY, never unauthorized', async () => {
    fake.failNext({ kind: 'unauthorized' });
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('OPENAI_API_KEY');
    expect(error.message).not.toContain('sk-');
  });

  it('a wrong key really sent to the upstream is refused the same way', async () => {
    const wrong = createOpenAIProvider({
      apiKey: 'sk-wrong',
      baseURL: fake.url,
      model: 'gpt-image-2',
      timeoutMs: 30_000,
    });
    const error = await wrong.generate(generation(), never(), () => {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'upstream_error' });
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer sk-wrong');
  });

  // The stand-in refuses unknown parameters as OpenAI does (spec: CreateImageRequest lists the parameters; the
  // refusal's shape is the spec's Error), so every passing test above also proves none is sent.
  it("an unknown_parameter refusal is upstream_error carrying OpenAI's message and request id", async () => {
    fake.failNext({
      kind: 'status',
      status: 400,
      body: {
        error: {
          message: "Unknown parameter: 'seed'.",
          type: 'invalid_request_error',
          param: 'seed',
          code: 'unknown_parameter',
        },
      },
    });
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain("Unknown parameter: 'seed'.");
    expect(error.message).toContain(fake.requests[0]?.requestId ?? 'no request');
  });

  it('a 5xx is retried once; a second 5xx is upstream_error', async () => {
    fake.failNext({ kind: 'status', status: 503 });
    await run();
    expect(fake.requests).toHaveLength(2);

    fake.setFault(() => ({ kind: 'status', status: 500 }));
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('500');
    expect(fake.requests).toHaveLength(4);
  });

  // The error-codes guide recommends retrying 429 and 5xx only (https://platform.openai.com/docs/guides/error-codes);
  // the SDK would retry any connection error (openai/client.mjs shouldRetry), even one after the body was sent.
  it('a connection dropped after the whole request was sent is upstream_error and never retried (OpenAI may bill it)', async () => {
    fake.setFault(() => ({ kind: 'drop-before-headers' }));
    const error = await failure(generation({ references: await references(2) }));
    expect(error.code).toBe('upstream_error');
    expect(fake.requests).toHaveLength(1);
  });

  it('a connection OpenAI never accepted (ECONNREFUSED) is upstream_error saying so', async () => {
    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port: free } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = createOpenAIProvider({
      apiKey: 'test-key',
      baseURL: `http://127.0.0.1:${free}/v1`,
      model: 'gpt-image-2',
      timeoutMs: 30_000,
    });
    const error = await unreachable.generate(generation(), never(), () => {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'upstream_error' });
    expect((error as Error).message).toMatch(/Could not reach OpenAI.*ECONNREFUSED/);
    // The SDK's real error for it is one the provider retries.
    const sdk = new OpenAI({ apiKey: 'k', baseURL: `http://127.0.0.1:${free}/v1`, maxRetries: 0 });
    const real = await sdk.images.generate({ model: 'gpt-image-2', prompt: 'x' }).catch((e: unknown) => e);
    expect(isSafeToRetry(real)).toBe(true);
  });

  it("the SDK's real error for a connection closed after the request was sent is not retried", async () => {
    fake.failNext({ kind: 'drop-before-headers' });
    const sdk = new OpenAI({ apiKey: 'test-key', baseURL: fake.url, maxRetries: 0 });
    const real = await sdk.images.generate({ model: 'gpt-image-2', prompt: 'x' }).catch((e: unknown) => e);
    expect(real).toBeInstanceOf(APIConnectionError);
    expect(isSafeToRetry(real)).toBe(false);
  });

  it('a 401 never puts any part of a key in the log', async () => {
    fake.failNext({ kind: 'unauthorized' });
    const error = await failure();
    expect((error.cause as Error).message).toContain('401');
    expect((error.cause as Error).message).not.toMatch(/sk-te/);
  });

  it('only failures before anything reached OpenAI are safe to retry', () => {
    const socketError = (code: string) => Object.assign(new Error(code), { code });
    const fetchFailed = (cause: unknown) => new APIConnectionError({ cause: new TypeError('fetch failed', { cause }) });
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']) {
      expect(isSafeToRetry(fetchFailed(socketError(code))), code).toBe(true);
    }
    // Happy eyeballs: every address refused.
    expect(
      isSafeToRetry(fetchFailed(new AggregateError([socketError('ECONNREFUSED'), socketError('ECONNREFUSED')]))),
    ).toBe(true);
    for (const code of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT']) {
      expect(isSafeToRetry(fetchFailed(socketError(code))), code).toBe(false);
    }
    expect(isSafeToRetry(fetchFailed(new Error('other side closed')))).toBe(false);
    // The SDK's cause-less timeout error: only a connect timeout can reach it before the job's deadline.
    expect(isSafeToRetry(new APIConnectionTimeoutError())).toBe(true);
    expect(isSafeToRetry(new APIError(429, { message: 'slow down' }, undefined, new Headers()))).toBe(false);
    expect(isSafeToRetry(new APIError(502, { message: 'bad gateway' }, undefined, new Headers()))).toBe(true);
  });

  const afterAnswer: Array<[string, Fault]> = [
    ['a connection dropped after the headers', { kind: 'drop-after-headers' }],
    ['a stream cut inside the completed event', { kind: 'truncated' }],
    ['an event that is not JSON', { kind: 'malformed-json' }],
    ['an image that is not an image', { kind: 'not-an-image' }],
  ];

  it.each(afterAnswer)('%s (streaming) is upstream_error with the request id, never retried', async (_, fault) => {
    fake.failNext(fault);
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.upstreamRequestId).toBe(fake.requests[0]?.requestId);
    expect(fake.requests).toHaveLength(1);
  });

  it.each(afterAnswer)('%s (plain request) is upstream_error, never retried', async (_, fault) => {
    await reset({ refuseStreaming: true });
    fake.setFault((request) => (request.params.stream ? undefined : fault));
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(fake.requests).toHaveLength(2);
  });
});

describe("the job's deadline (the runner's signal) stops the call", () => {
  it("no headers before the job's deadline: the call stops with the signal's TimeoutError and closes the connection", async () => {
    fake.failNext({ kind: 'hang' });
    const error = await provider.generate(generation(), AbortSignal.timeout(200), () => {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe('TimeoutError');
    await expect.poll(() => fake.requests[0]?.closedByClient).toBe(true);
    expect(fake.requests).toHaveLength(1);
  });

  it('a stream that stalls after its partials stops at the deadline, the partials already delivered', async () => {
    await reset({}, { partialImages: 2 });
    fake.failNext({ kind: 'stall-after-partials' });
    const partials: PartialImage[] = [];
    const signal = AbortSignal.timeout(1000);
    const error = await provider.generate(generation(), signal, (p) => partials.push(p)).catch((e: unknown) => e);
    expect((error as DOMException).name).toBe('TimeoutError');
    expect(error).toBe(signal.reason);
    expect(partials).toHaveLength(2);
  });
});

describe('cancelling', () => {
  it('an abort while OpenAI is thinking stops the call and closes the upstream connection', async () => {
    fake.failNext({ kind: 'hang' });
    const controller = new AbortController();
    const pending = provider.generate(generation(), controller.signal, () => {});
    await fake.received(1);
    const reason = new Error('canceled by the user');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await expect.poll(() => fake.requests[0]?.closedByClient).toBe(true);
    expect(fake.requests).toHaveLength(1);
  });

  it('an abort mid-stream stops the call after the partials it had', async () => {
    await reset({}, { partialImages: 2 });
    fake.failNext({ kind: 'stall-after-partials' });
    const controller = new AbortController();
    const partials: PartialImage[] = [];
    const pending = provider.generate(generation(), controller.signal, (p) => {
      partials.push(p);
      if (partials.length === 2) controller.abort();
    });
    const error = await pending.catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(FramefillError);
    expect((error as Error).name).toBe('AbortError');
    await expect.poll(() => fake.requests[0]?.closedByClient).toBe(true);
    expect(fake.requests).toHaveLength(1);
  });

  it('an already-aborted signal sends nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(provider.generate(generation(), controller.signal, () => {})).rejects.toThrow();
    expect(fake.requests).toHaveLength(0);
  });
});

describe('the upload path', () => {
  it('never follows a redirect: fetch may then send the request body without keeping a copy of it', async () => {
    // Node 20's fetch keeps a second copy of a streamed body (for replay on redirect) unless redirects are
    // refused; a 307 must end the job as upstream_error, and the redirect target must never see the upload.
    let followed = 0;
    const target = createServer((_req, res) => {
      followed++;
      res.writeHead(500).end();
    });
    const redirector = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(307, { Location: `http://127.0.0.1:${port(target)}${req.url}` }).end());
    });
    await Promise.all([listen(target), listen(redirector)]);
    try {
      const viaRedirect = createOpenAIProvider({
        apiKey: 'test-key',
        baseURL: `http://127.0.0.1:${port(redirector)}/v1`,
        model: 'gpt-image-2',
        timeoutMs: 30_000,
      });
      const error = await viaRedirect
        .generate(generation({ references: await references(2) }), never(), () => {})
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(FramefillError);
      expect((error as FramefillError).code).toBe('upstream_error');
      expect(followed).toBe(0);
    } finally {
      target.close();
      redirector.close();
    }
  });
});

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

function port(server: Server): number {
  return (server.address() as AddressInfo).port;
}
