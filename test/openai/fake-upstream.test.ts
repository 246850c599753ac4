// The local Images API stand-in, held to what OpenAI's spec documents: if it accepted what OpenAI refuses, the
// provider tests built on it would prove nothing.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sizeParam } from '../../core/formats';
import {
  AUTO_SIZE,
  type ErrorEventShape,
  type FakeOpenAI,
  RETIRED_MODELS,
  startFakeOpenAI,
} from '../fakes/openai-upstream';
import { ALL_PAIRS, image, png } from './fixtures';

let fake: FakeOpenAI;
beforeEach(async () => {
  fake = await startFakeOpenAI({ apiKey: 'test-key' });
});
afterEach(async () => {
  await fake.close();
});

const auth = { authorization: 'Bearer test-key' };

function generate(body: Record<string, unknown>, headers: Record<string, string> = auth): Promise<Response> {
  return fetch(`${fake.url}/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-image-2', prompt: 'a cat', quality: 'low', ...body }),
  });
}

interface Upload {
  name?: string;
  bytes: Buffer;
  type: string;
}

function edit(fields: Record<string, string>, uploads: Upload[]): Promise<Response> {
  const form = new FormData();
  for (const [key, value] of Object.entries({ model: 'gpt-image-2', prompt: 'a cat', quality: 'low', ...fields })) {
    form.append(key, value);
  }
  uploads.forEach((upload, index) => {
    form.append(
      upload.name ?? 'image[]',
      new File([new Uint8Array(upload.bytes)], `ref-${index}.bin`, { type: upload.type }),
    );
  });
  return fetch(`${fake.url}/images/edits`, { method: 'POST', headers: auth, body: form });
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function expectRefusal(response: Response, status: number, param: string | null): Promise<ErrorBody> {
  expect(response.status).toBe(status);
  const body = (await response.json()) as ErrorBody;
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.param).toBe(param);
  return body;
}

async function events(response: Response): Promise<EventSourceMessage[]> {
  const seen: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => seen.push(event) });
  parser.feed(await response.text());
  return seen;
}

describe('the fake OpenAI Images API refuses what OpenAI refuses', () => {
  it('an unknown model is refused on model', async () => {
    await expectRefusal(await generate({ model: 'gpt-image-9' }), 400, 'model');
    await expectRefusal(await generate({ model: 'dall-e-9' }), 400, 'model');
  });

  it('a generation without a model is refused, since the default is not a GPT image model', async () => {
    const response = await fetch(`${fake.url}/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ prompt: 'a cat' }),
    });
    await expectRefusal(response, 400, 'model');
  });

  it('a prompt over 32,000 characters is refused; exactly 32,000 is accepted', async () => {
    const body = await expectRefusal(await generate({ prompt: 'a'.repeat(32_001) }), 400, 'prompt');
    expect(body.error.code).toBe('string_above_max_length');
    expect((await generate({ prompt: 'a'.repeat(32_000) })).status).toBe(200);
  });

  it('a 17th image is refused; 16 are accepted', async () => {
    const one = await png(16, 16);
    const upload = { bytes: one, type: 'image/png' };
    await expectRefusal(await edit({}, Array(17).fill(upload)), 400, 'image');
    expect((await edit({}, Array(16).fill(upload))).status).toBe(200);
  });

  it('images that are not PNG, JPEG or WebP are refused, by declared type and by content', async () => {
    const bytes = await png(16, 16);
    await expectRefusal(await edit({}, [{ bytes, type: 'application/octet-stream' }]), 400, 'image');
    await expectRefusal(await edit({}, [{ bytes, type: 'image/gif' }]), 400, 'image');
    await expectRefusal(await edit({}, [{ bytes: Buffer.from('GIF89a not really'), type: 'image/png' }]), 400, 'image');
    for (const mime of ['image/png', 'image/jpeg', 'image/webp'] as const) {
      expect((await edit({}, [{ bytes: await image(16, 16, mime), type: mime }])).status).toBe(200);
    }
  });

  it('several images sent as a repeated plain `image` field are refused; `image[]` is the array syntax', async () => {
    const bytes = await png(16, 16);
    const body = await expectRefusal(
      await edit({}, [
        { name: 'image', bytes, type: 'image/png' },
        { name: 'image', bytes, type: 'image/png' },
      ]),
      400,
      'image',
    );
    expect(body.error.message).toContain('image[]');
  });

  it.each([
    ['1000x1000', 'edges not multiples of 16'],
    ['4096x2304', 'long edge over 3840'],
    ['3840x1264', 'ratio over 3:1'],
    ['768x768', 'fewer than 655,360 pixels'],
    ['3840x2176', 'more than 8,294,400 pixels'],
    ['1280', 'not WIDTHxHEIGHT'],
  ])('GPT Image 2 refuses size %s (%s)', async (size) => {
    await expectRefusal(await generate({ size }), 400, 'size');
  });

  it('GPT Image 2 takes sizes on the 16-px grid up to 3840×2160, including the experimental ones', async () => {
    for (const size of ['1536x864', '1024x1024', '3840x2160', '2160x3840', '2048x2048', '3264x2448']) {
      expect((await generate({ size })).status, size).toBe(200);
    }
  });

  it.each(RETIRED_MODELS)('the retired model %s is refused 404 model_not_found (deprecations page)', async (model) => {
    const body = await expectRefusal(await generate({ model, size: '1024x1024' }), 404, null);
    expect(body.error.code).toBe('model_not_found');
  });

  it("an unknown parameter is refused 400 unknown_parameter naming it, on both endpoints (OpenAI's shape)", async () => {
    const body = await expectRefusal(await generate({ seed: 7 }), 400, 'seed');
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'unknown_parameter' });
    expect(body.error.message).toContain("'seed'");
    const bytes = await png(16, 16);
    const edit400 = await expectRefusal(
      await edit({ strength: '0.5' }, [{ bytes, type: 'image/png' }]),
      400,
      'strength',
    );
    expect(edit400.error.code).toBe('unknown_parameter');
  });

  it('a transparent background is refused for gpt-image-2; opaque is accepted', async () => {
    await expectRefusal(await generate({ background: 'transparent', output_format: 'png' }), 400, 'background');
    expect((await generate({ background: 'opaque' })).status).toBe(200);
  });

  it('response_format and style, which GPT image models do not take, are refused', async () => {
    await expectRefusal(await generate({ response_format: 'url' }), 400, 'response_format');
    await expectRefusal(await generate({ style: 'vivid' }), 400, 'style');
  });

  it('output_compression outside 0–100 is refused; user must be a string', async () => {
    await expectRefusal(await generate({ output_format: 'jpeg', output_compression: 101 }), 400, 'output_compression');
    await expectRefusal(await generate({ user: 42 }), 400, 'user');
    expect((await generate({ output_format: 'jpeg', output_compression: 95, user: 'framefill-x' })).status).toBe(200);
  });

  it('quality, n, partial_images and output_format outside their documented values are refused', async () => {
    await expectRefusal(await generate({ quality: 'hd' }), 400, 'quality');
    await expectRefusal(await generate({ n: 0 }), 400, 'n');
    await expectRefusal(await generate({ n: 11 }), 400, 'n');
    await expectRefusal(await generate({ stream: true, partial_images: 4 }), 400, 'partial_images');
    await expectRefusal(await generate({ output_format: 'gif' }), 400, 'output_format');
  });

  it('input_fidelity is refused for gpt-image-2', async () => {
    const bytes = await png(16, 16);
    await expectRefusal(await edit({ input_fidelity: 'high' }, [{ bytes, type: 'image/png' }]), 400, 'input_fidelity');
  });

  it('a missing or wrong API key is refused 401', async () => {
    await expectRefusal(await generate({}, {}), 401, null);
    const wrong = await expectRefusal(await generate({}, { authorization: 'Bearer sk-wrong' }), 401, null);
    expect(wrong.error.code).toBe('invalid_api_key');
  });

  it('an unknown route is 404 with the OpenAI error shape', async () => {
    const response = await fetch(`${fake.url}/images/upscale`, { method: 'POST', headers: auth });
    await expectRefusal(response, 404, null);
  });
});

describe('the fake OpenAI Images API answers as documented', () => {
  it.each(ALL_PAIRS)('size for $ratio $tier returns a real image of exactly that size', async ({ size }) => {
    const response = await generate({ size: sizeParam(size) });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    const body = (await response.json()) as { created: number; data: Array<{ b64_json: string }>; usage: unknown };
    expect(body.data).toHaveLength(1);
    const meta = await sharp(Buffer.from(body.data[0]?.b64_json ?? '', 'base64')).metadata();
    const expected = size === 'auto' ? AUTO_SIZE : size;
    expect({ width: meta.width, height: meta.height, format: meta.format }).toEqual({ ...expected, format: 'png' });
    expect(body.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
  });

  it('n images asked are n different images in data (spec: CreateImageRequest.n, ImagesResponse.data)', async () => {
    const response = await generate({ size: '1024x1024', n: 3 });
    const body = (await response.json()) as { data: Array<{ b64_json: string }> };
    expect(body.data).toHaveLength(3);
    expect(new Set(body.data.map((image) => image.b64_json)).size).toBe(3);
  });

  it('can be told to return fewer images than asked, as nothing in the spec promises all n', async () => {
    const fewer = await startFakeOpenAI({ apiKey: 'test-key', returned: (asked) => asked - 1 });
    try {
      const response = await fetch(`${fewer.url}/images/generations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ model: 'gpt-image-2', prompt: 'a cat', quality: 'low', n: 3 }),
      });
      expect(((await response.json()) as { data: unknown[] }).data).toHaveLength(2);
    } finally {
      await fewer.close();
    }
  });

  it('auto is answered with a size off the 16-px grid, as Azure documents (1254 × 1254)', async () => {
    const body = (await (await generate({ size: 'auto' })).json()) as { data: Array<{ b64_json: string }> };
    const meta = await sharp(Buffer.from(body.data[0]?.b64_json ?? '', 'base64')).metadata();
    expect([meta.width, meta.height]).toEqual([1254, 1254]);
    expect((meta.width ?? 0) % 16).not.toBe(0);
  });

  it('jpeg output is a JPEG', async () => {
    const response = await generate({ size: '1024x768', output_format: 'jpeg' });
    const body = (await response.json()) as { data: Array<{ b64_json: string }> };
    expect((await sharp(Buffer.from(body.data[0]?.b64_json ?? '', 'base64')).metadata()).format).toBe('jpeg');
  });

  it('a streamed generation sends partial_images partial events, then completed, with the spec fields', async () => {
    const response = await generate({ size: '1280x720', stream: true, partial_images: 2 });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const seen = await events(response);
    expect(seen.map((e) => e.event)).toEqual([
      'image_generation.partial_image',
      'image_generation.partial_image',
      'image_generation.completed',
    ]);
    const [first, second, completed] = seen.map((e) => JSON.parse(e.data) as Record<string, unknown>);
    for (const event of [first, second, completed]) {
      expect(event).toMatchObject({
        b64_json: expect.any(String),
        created_at: expect.any(Number),
        size: '1280x720',
        quality: 'low',
        background: expect.any(String),
        output_format: 'png',
      });
    }
    expect(first).toMatchObject({ type: 'image_generation.partial_image', partial_image_index: 0 });
    expect(second).toMatchObject({ type: 'image_generation.partial_image', partial_image_index: 1 });
    expect(completed).toMatchObject({ type: 'image_generation.completed', usage: expect.any(Object) });
    expect(completed?.b64_json).not.toBe(first?.b64_json);
    // Previews come at reduced size; the final at the size asked.
    const sizeOf = async (b64: unknown) => {
      const meta = await sharp(Buffer.from(String(b64), 'base64')).metadata();
      return [meta.width, meta.height];
    };
    expect(await sizeOf(first?.b64_json)).toEqual([640, 360]);
    expect(await sizeOf(completed?.b64_json)).toEqual([1280, 720]);
  });

  it('may send fewer partials than asked, spread over the time the image takes (spec: PartialImages)', async () => {
    const sparse = await startFakeOpenAI({ partials: { sent: (asked) => asked - 2, spreadMs: 300 } });
    try {
      const response = await fetch(`${sparse.url}/images/generations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
        body: JSON.stringify({ model: 'gpt-image-2', prompt: 'x', size: '1024x1024', stream: true, partial_images: 3 }),
      });
      const arrived: number[] = [];
      const seen: EventSourceMessage[] = [];
      const parser = createParser({
        onEvent: (event) => {
          seen.push(event);
          arrived.push(Date.now());
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
      }
      expect(seen.map((e) => e.event)).toEqual(['image_generation.partial_image', 'image_generation.completed']);
      // Spread, not sent at once: the final comes after the partial, at least one gap (300 / 2 ms) later.
      expect((arrived[1] ?? 0) - (arrived[0] ?? 0)).toBeGreaterThanOrEqual(140);
    } finally {
      await sparse.close();
    }
  });

  it('a streamed edit uses the image_edit event names', async () => {
    const bytes = await png(16, 16);
    const response = await edit({ stream: 'true', partial_images: '1', size: '1024x1024' }, [
      { bytes, type: 'image/png' },
    ]);
    expect((await events(response)).map((e) => e.event)).toEqual(['image_edit.partial_image', 'image_edit.completed']);
  });

  it('records every request: JSON bodies, and multipart parts with their bytes and content types in order', async () => {
    const a = await png(16, 16, 10);
    const b = await image(16, 16, 'image/jpeg', 200);
    await generate({ size: 'auto' });
    await edit({ size: '1024x1024' }, [
      { bytes: a, type: 'image/png' },
      { bytes: b, type: 'image/jpeg' },
    ]);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[0]?.json).toMatchObject({ model: 'gpt-image-2', size: 'auto' });
    const editRequest = fake.requests[1];
    expect(editRequest?.params).toMatchObject({ model: 'gpt-image-2', prompt: 'a cat', size: '1024x1024' });
    expect(editRequest?.images.map((p) => [p.name, p.contentType])).toEqual([
      ['image[]', 'image/png'],
      ['image[]', 'image/jpeg'],
    ]);
    expect(editRequest?.images[0]?.bytes?.equals(a)).toBe(true);
    expect(editRequest?.images[1]?.bytes?.equals(b)).toBe(true);
  });

  it('refuses streaming like an unverified organisation when told to', async () => {
    const strict = await startFakeOpenAI({ refuseStreaming: true });
    try {
      const response = await fetch(`${strict.url}/images/generations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
        body: JSON.stringify({ model: 'gpt-image-2', prompt: 'x', stream: true }),
      });
      await expectRefusal(response, 400, 'stream');
    } finally {
      await strict.close();
    }
  });
});

describe('the fake OpenAI Images API limits and refuses accounts as OpenAI does', () => {
  it('an unverified organisation is refused 403 after its parameters were checked', async () => {
    const unverified = await startFakeOpenAI({ unverifiedOrganization: true });
    try {
      const call = (body: Record<string, unknown>) =>
        fetch(`${unverified.url}/images/generations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
          body: JSON.stringify({ model: 'gpt-image-2', prompt: 'x', ...body }),
        });
      await expectRefusal(await call({ size: '1000x1000' }), 400, 'size');
      const body = await expectRefusal(await call({ size: '1024x1024' }), 403, null);
      expect(body.error.message).toContain('must be verified to use the model `gpt-image-2`');
      expect(body.error.message).toContain('https://platform.openai.com/settings/organization/general');
    } finally {
      await unverified.close();
    }
  });

  it('images per window: past the limit a 429 rate_limit_exceeded with retry-after and retry-after-ms, then room again', async () => {
    // A usage tier's images per minute, on a 400 ms window for the test (OpenAI's window is a minute).
    const limited = await startFakeOpenAI({ imagesPerMinute: 2, rateWindowMs: 400 });
    try {
      const call = () =>
        fetch(`${limited.url}/images/generations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
          body: JSON.stringify({ model: 'gpt-image-2', prompt: 'x', size: '1024x1024', quality: 'low' }),
        });
      expect((await call()).status).toBe(200);
      expect((await call()).status).toBe(200);
      const refused = await call();
      const waitMs = Number(refused.headers.get('retry-after-ms'));
      expect(waitMs).toBeGreaterThan(0);
      expect(waitMs).toBeLessThanOrEqual(400);
      expect(Number(refused.headers.get('retry-after'))).toBe(Math.ceil(waitMs / 1000));
      expect((await expectRefusal(refused, 429, null)).error).toMatchObject({
        type: 'requests',
        code: 'rate_limit_exceeded',
      });
      await new Promise((resolve) => setTimeout(resolve, waitMs + 20));
      expect((await call()).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('the fake OpenAI Images API fails on demand', () => {
  it('a moderation refusal is a 400 with code moderation_blocked', async () => {
    fake.failNext({ kind: 'moderation' });
    const body = await expectRefusal(await generate({}), 400, null);
    expect(body.error.code).toBe('moderation_blocked');
    expect(body.error.message).toContain('safety system');
  });

  it('a rate limit is a 429 with Retry-After, and retry-after-ms when asked', async () => {
    fake.failNext({ kind: 'rate-limited', retryAfter: 7 });
    const response = await generate({});
    expect(response.headers.get('retry-after')).toBe('7');
    expect(response.headers.get('retry-after-ms')).toBeNull();
    expect((await expectRefusal(response, 429, null)).error.code).toBe('rate_limit_exceeded');
    fake.failNext({ kind: 'rate-limited', retryAfter: 2, retryAfterMs: 1500 });
    const precise = await generate({});
    expect([precise.headers.get('retry-after'), precise.headers.get('retry-after-ms')]).toEqual(['2', '1500']);
  });

  it('an exhausted quota is a 429 insufficient_quota without any wait', async () => {
    fake.failNext({ kind: 'insufficient-quota' });
    const response = await generate({});
    expect(response.headers.get('retry-after')).toBeNull();
    const body = await expectRefusal(response, 429, null);
    expect(body.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
  });

  it.each<ErrorEventShape>(['nested', 'responses', 'data-error', 'bare'])(
    'a mid-stream error event can be written in the %s shape',
    async (shape) => {
      fake.failNext({ kind: 'error-event', shape });
      const seen = await events(await generate({ stream: true, partial_images: 1 }));
      expect(seen).toHaveLength(2);
      const last = seen[1] as EventSourceMessage;
      const data = JSON.parse(last.data) as Record<string, unknown>;
      expect(last.event).toBe(shape === 'data-error' ? undefined : 'error');
      const code = shape === 'nested' || shape === 'data-error' ? (data.error as { code: string }).code : data.code;
      expect(code).toBe('moderation_blocked');
    },
  );

  it('a fault applies to the next request only; setFault applies until cleared', async () => {
    fake.failNext({ kind: 'status', status: 503 });
    expect((await generate({})).status).toBe(503);
    expect((await generate({})).status).toBe(200);
    fake.setFault(() => ({ kind: 'status', status: 500 }));
    expect((await generate({})).status).toBe(500);
    expect((await generate({})).status).toBe(500);
    fake.setFault(undefined);
    expect((await generate({})).status).toBe(200);
  });

  it('dropped connections, malformed JSON and truncated bodies fail for a plain client too', async () => {
    fake.failNext({ kind: 'drop-before-headers' });
    await expect(generate({})).rejects.toThrow();
    fake.failNext({ kind: 'drop-after-headers' });
    await expect(generate({}).then((r) => r.text())).rejects.toThrow();
    fake.failNext({ kind: 'malformed-json' });
    await expect(generate({}).then((r) => r.json())).rejects.toThrow(SyntaxError);
    fake.failNext({ kind: 'truncated' });
    const truncated = await generate({ stream: true, partial_images: 1 });
    expect((await events(truncated)).map((e) => e.event)).toEqual(['image_generation.partial_image']);
  });
});
