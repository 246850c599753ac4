// The local Images API stand-in, held to what OpenAI's spec documents: if it accepted what OpenAI refuses, the
// provider tests built on it would prove nothing.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sizeParam } from '../../core/formats';
import { type FakeOpenAI, startFakeOpenAI } from '../fakes/openai-upstream';
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

  it('gpt-image-1 takes only its fixed sizes or auto', async () => {
    await expectRefusal(await generate({ model: 'gpt-image-1', size: '1280x720' }), 400, 'size');
    expect((await generate({ model: 'gpt-image-1', size: '1536x1024' })).status).toBe(200);
    expect((await generate({ model: 'gpt-image-1-mini', size: 'auto' })).status).toBe(200);
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
    const expected = size === 'auto' ? { width: 1024, height: 1024 } : size;
    expect({ width: meta.width, height: meta.height, format: meta.format }).toEqual({ ...expected, format: 'png' });
    expect(body.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
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

describe('the fake OpenAI Images API fails on demand', () => {
  it('a moderation refusal is a 400 with code moderation_blocked', async () => {
    fake.failNext({ kind: 'moderation' });
    const body = await expectRefusal(await generate({}), 400, null);
    expect(body.error.code).toBe('moderation_blocked');
    expect(body.error.message).toContain('safety system');
  });

  it('a rate limit is a 429 with Retry-After', async () => {
    fake.failNext({ kind: 'rate-limited', retryAfter: 7 });
    const response = await generate({});
    expect(response.headers.get('retry-after')).toBe('7');
    await expectRefusal(response, 429, null);
  });

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
