// The OpenAI provider against the local Images API stand-in: what reaches "OpenAI", what comes back, and what
// every failure becomes for the user.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sizeParam } from '../../core/formats';
import { FramefillError } from '../../proxy/errors';
import { createOpenAIProvider } from '../../proxy/providers/openai';
import type { PartialImage, Provider } from '../../proxy/providers/types';
import { type FakeOpenAI, type FakeOpenAIOptions, type Fault, startFakeOpenAI } from '../fakes/openai-upstream';
import { ALL_PAIRS, generation, references } from './fixtures';

let fake: FakeOpenAI;
let provider: Provider;

async function setUp(options: FakeOpenAIOptions = {}, timeoutMs = 30_000, model = 'gpt-image-2') {
  fake = await startFakeOpenAI({ apiKey: 'test-key', ...options });
  provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: fake.url, model, timeoutMs });
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
      const expected = size === 'auto' ? { width: 1024, height: 1024 } : size;
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

  it('sends the configured model', async () => {
    await fake.close();
    await setUp({}, 30_000, 'gpt-image-1.5');
    await run(generation({ size: { width: 1024, height: 1024 }, aspectRatio: '1:1' }));
    expect(fake.requests[0]?.json?.model).toBe('gpt-image-1.5');
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

  it('asks for streamed partial images', async () => {
    await run();
    expect(fake.requests[0]?.json).toMatchObject({ stream: true, partial_images: 2 });
  });
});

describe('what the provider returns', () => {
  it('delivers partial previews, with their real size and type, before the result', async () => {
    const order: string[] = [];
    const partials: PartialImage[] = [];
    const result = await provider.generate(generation(), never(), (partial) => {
      order.push(`partial ${partial.index}`);
      partials.push(partial);
    });
    order.push('result');
    expect(order).toEqual(['partial 0', 'partial 1', 'result']);
    for (const partial of partials) {
      expect(partial).toMatchObject({ mime: 'image/png', width: 1280, height: 720 });
      const meta = await sharp(Buffer.from(partial.b64, 'base64')).metadata();
      expect([meta.width, meta.height]).toEqual([partial.width, partial.height]);
    }
    expect(result.bytes.equals(Buffer.from(partials[0]?.b64 ?? '', 'base64'))).toBe(false);
  });

  it('describes JPEG previews from their header too', async () => {
    const partials: PartialImage[] = [];
    await provider.generate(generation({ outputFormat: 'jpeg' }), never(), (partial) => partials.push(partial));
    expect(partials).toHaveLength(2);
    for (const partial of partials) expect(partial).toMatchObject({ mime: 'image/jpeg', width: 1280, height: 720 });
  });

  it("records OpenAI's usage and x-request-id", async () => {
    const { result } = await run();
    expect(result.usage).toMatchObject({ total_tokens: expect.any(Number), input_tokens_details: expect.any(Object) });
    expect(result.upstreamRequestId).toMatch(/^req_[0-9a-f]{32}$/);
  });

  it('falls back to a plain request when streaming is refused, and stops asking for it', async () => {
    await fake.close();
    await setUp({ refuseStreaming: true });
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
  it("a moderation refusal is content_policy with OpenAI's own message", async () => {
    fake.failNext({
      kind: 'moderation',
      message: 'Your request was rejected by the safety system. safety_violations=[x].',
    });
    const error = await failure();
    expect(error.code).toBe('content_policy');
    expect(error.message).toBe('Your request was rejected by the safety system. safety_violations=[x].');
  });

  it('a refusal of the finished image mid-stream is content_policy', async () => {
    fake.failNext({ kind: 'moderation-mid-stream' });
    const error = await failure();
    expect(error.code).toBe('content_policy');
    expect(error.message).toContain('safety system');
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

  it('a 429 is rate_limited with its Retry-After, and is not retried', async () => {
    fake.failNext({ kind: 'rate-limited', retryAfter: 7 });
    const error = await failure();
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfter).toBe(7);
    expect(fake.requests).toHaveLength(1);
  });

  it('a 429 for an exhausted quota is the operator’s upstream_error, not a wait', async () => {
    fake.failNext({
      kind: 'status',
      status: 429,
      body: {
        error: {
          message: 'You exceeded your current quota.',
          type: 'insufficient_quota',
          param: null,
          code: 'insufficient_quota',
        },
      },
    });
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('OPENAI_API_KEY');
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

  it('another 400 is upstream_error carrying OpenAI’s message', async () => {
    fake.failNext({
      kind: 'status',
      status: 400,
      body: {
        error: { message: "Invalid value: 'x'.", type: 'invalid_request_error', param: 'size', code: 'invalid_value' },
      },
    });
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain("Invalid value: 'x'.");
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

  it('a connection dropped before any answer is retried once, then upstream_error', async () => {
    fake.setFault(() => ({ kind: 'drop-before-headers' }));
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(fake.requests).toHaveLength(2);
  });

  const afterAnswer: Array<[string, Fault]> = [
    ['a connection dropped after the headers', { kind: 'drop-after-headers' }],
    ['a stream cut inside the completed event', { kind: 'truncated' }],
    ['an event that is not JSON', { kind: 'malformed-json' }],
    ['an image that is not an image', { kind: 'not-an-image' }],
  ];

  it.each(afterAnswer)('%s (streaming) is upstream_error, never retried', async (_, fault) => {
    fake.failNext(fault);
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(fake.requests).toHaveLength(1);
  });

  it.each(afterAnswer)('%s (plain request) is upstream_error, never retried', async (_, fault) => {
    await fake.close();
    await setUp({ refuseStreaming: true });
    fake.setFault((request) => (request.params.stream ? undefined : fault));
    const error = await failure();
    expect(error.code).toBe('upstream_error');
    expect(fake.requests).toHaveLength(2);
  });

  it('no headers within the timeout is upstream_timeout', async () => {
    await fake.close();
    await setUp({}, 400);
    fake.failNext({ kind: 'hang' });
    const error = await failure();
    expect(error.code).toBe('upstream_timeout');
    expect(fake.requests).toHaveLength(1);
  });

  it('a stream that stalls after its partials is upstream_timeout, the partials already delivered', async () => {
    await fake.close();
    await setUp({}, 1500);
    fake.failNext({ kind: 'stall-after-partials' });
    const partials: PartialImage[] = [];
    const error = await provider.generate(generation(), never(), (p) => partials.push(p)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'upstream_timeout' });
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
