// The whole proxy with FRAMEFILL_PROVIDER=openai against the local Images API stand-in, over real HTTP: what the
// panel sees (job, events, image, account) for every size, references, partials, each upstream fault and a cancel.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AccountSchema, HealthSchema, JobSchema } from '../../core/api';
import { sizeParam } from '../../core/formats';
import { LOCAL_ACCOUNT_CREDITS } from '../../proxy/ledger';
import type { Fault } from '../fakes/openai-upstream';
import {
  api,
  generateAndWait,
  type ReferenceFile,
  readEvents,
  type SseEvent,
  submitGeneration,
} from '../helpers/proxy';
import { ALL_PAIRS, references, useProxyOnFakeOpenAI } from './fixtures';

const setUp = useProxyOnFakeOpenAI();

async function job(url: string, id: string) {
  return JobSchema.parse(await (await api(`${url}/v1/generations/${id}`)).json());
}

async function account(url: string) {
  return AccountSchema.parse(await (await api(`${url}/v1/account`)).json());
}

const fields = (ratio: string, tier: string) => ({
  prompt: `A lighthouse at dusk, ${ratio}`,
  aspect_ratio: ratio,
  resolution: tier,
  quality: 'low',
});

async function panelReferences(count: number): Promise<ReferenceFile[]> {
  return (await references(count)).map((ref, index) => ({ bytes: ref.bytes, type: ref.mime, name: `frame-${index}` }));
}

describe('the proxy on the OpenAI provider', () => {
  it('reports the openai provider and the configured model', async () => {
    const { proxy } = await setUp({ OPENAI_IMAGE_MODEL: 'gpt-image-2' });
    const health = HealthSchema.parse(await (await api(`${proxy.url}/v1/health`)).json());
    expect(health).toMatchObject({ provider: 'openai', model: 'gpt-image-2' });
  });

  it('runs every (ratio, tier): OpenAI gets the exact size and model, the job gets an image of that size', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_UPSTREAM_CONCURRENCY: '2' });
    for (const { ratio, tier, size } of ALL_PAIRS) {
      const { id, events } = await generateAndWait(proxy.url, fields(ratio, tier));
      expect(events.at(-1)?.event, `${ratio} ${tier}`).toBe('completed');
      const sent = fake.requests.at(-1);
      expect(sent?.json, `${ratio} ${tier}`).toMatchObject({ model: 'gpt-image-2', size: sizeParam(size), n: 1 });
      const expected = size === 'auto' ? { width: 1024, height: 1024 } : size;
      const image = await api(`${proxy.url}/v1/generations/${id}/image`);
      const meta = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
      expect({ width: meta.width, height: meta.height }, `${ratio} ${tier}`).toEqual(expected);
      expect(await job(proxy.url, id)).toMatchObject({ status: 'completed', ...expected });
    }
    expect(fake.requests).toHaveLength(ALL_PAIRS.length);
  });

  it("keeps OpenAI's x-request-id and usage on the job", async () => {
    const { fake, proxy } = await setUp();
    const { id } = await generateAndWait(proxy.url, fields('16:9', '1K'));
    const row = proxy.store.get(id);
    expect(row?.upstream_request_id).toBe(fake.requests[0]?.requestId);
    expect(JSON.parse(row?.usage_json ?? 'null')).toMatchObject({ total_tokens: expect.any(Number) });
  });

  it('asks OpenAI for a JPEG when the panel asks for one', async () => {
    const { fake, proxy } = await setUp();
    const { id } = await generateAndWait(proxy.url, { ...fields('4:3', '1K'), output_format: 'jpeg' });
    expect(fake.requests[0]?.json).toMatchObject({ output_format: 'jpeg' });
    const image = await api(`${proxy.url}/v1/generations/${id}/image`);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
  });

  it.each([1, 16])('sends %i references as that many image[] parts, in order, byte-identical, typed', async (count) => {
    const { fake, proxy } = await setUp();
    const refs = await panelReferences(count);
    const { events } = await generateAndWait(proxy.url, fields('3:4', '1K'), { references: refs });
    expect(events.at(-1)?.event).toBe('completed');
    const sent = fake.requests[0];
    expect(sent?.path).toBe('/v1/images/edits');
    expect(sent?.images).toHaveLength(count);
    sent?.images.forEach((part, index) => {
      expect(part.name).toBe('image[]');
      expect(part.contentType).toBe(refs[index]?.type);
      expect(part.bytes?.equals(Buffer.from(refs[index]?.bytes ?? []))).toBe(true);
    });
    expect(sent?.params).toMatchObject({ model: 'gpt-image-2', size: '768x1024' });
    expect(sent?.params).not.toHaveProperty('input_fidelity');
  });

  it('streams partial previews on the SSE stream before completed', async () => {
    const { fake, proxy } = await setUp();
    let release: () => void = () => {};
    fake.failNext({ kind: 'hold', until: new Promise<void>((resolve) => (release = resolve)) });
    const response = await submitGeneration(proxy.url, fields('16:9', '2K'));
    const { id } = (await response.json()) as { id: string };
    const { events } = await readEvents(proxy.url, id, {
      onEvent: () => release(),
      until: (e) => e.event === 'completed' || e.event === 'failed',
    });
    const names = events.map((e) => e.event).filter((name) => name !== 'status');
    expect(names).toEqual(['partial', 'partial', 'completed']);
    const partials = events.filter((e) => e.event === 'partial').map((e) => e.data);
    expect(partials).toEqual([
      expect.objectContaining({ id, index: 0, mime: 'image/png', width: 2560, height: 1440, b64: expect.any(String) }),
      expect.objectContaining({ id, index: 1, mime: 'image/png', width: 2560, height: 1440 }),
    ]);
  });

  it('falls back to a plain request when OpenAI refuses streaming, and the job still completes', async () => {
    const { fake, proxy } = await setUp({}, { refuseStreaming: true });
    const { events } = await generateAndWait(proxy.url, fields('1:1', '1K'));
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.requests.map((r) => r.json?.stream)).toEqual([true, undefined]);
  });
});

const faults: Array<[string, string, Fault | (() => Fault), string?]> = [
  ['a moderation refusal', 'content_policy', { kind: 'moderation' }, 'safety system'],
  ['a refusal of the finished image', 'content_policy', { kind: 'moderation-mid-stream' }],
  ['a rate limit', 'rate_limited', { kind: 'rate-limited', retryAfter: 30 }],
  ['a wrong OpenAI key', 'upstream_error', { kind: 'unauthorized' }, 'OPENAI_API_KEY'],
  ['a 400 OpenAI does not explain', 'upstream_error', { kind: 'status', status: 400 }],
  ['repeated 5xx', 'upstream_error', () => ({ kind: 'status', status: 502 })],
  ['repeated dropped connections', 'upstream_error', () => ({ kind: 'drop-before-headers' })],
  ['a connection dropped after the headers', 'upstream_error', { kind: 'drop-after-headers' }],
  ['a truncated stream', 'upstream_error', { kind: 'truncated' }],
  ['malformed JSON', 'upstream_error', { kind: 'malformed-json' }],
  ['an image that is not an image', 'upstream_error', { kind: 'not-an-image' }],
  ['no answer within FRAMEFILL_UPSTREAM_TIMEOUT_S', 'upstream_timeout', { kind: 'hang' }],
  ['a stream that stalls after its partials', 'upstream_timeout', { kind: 'stall-after-partials' }],
];

describe('each upstream fault ends the job failed with its code, credits released, nothing left running', () => {
  it.each(faults)('%s → %s', async (_, code, fault, mentions) => {
    // A short timeout only where the timeout is the point, so retries elsewhere never race it.
    const { fake, proxy } = await setUp({ FRAMEFILL_UPSTREAM_TIMEOUT_S: code === 'upstream_timeout' ? '1' : '60' });
    if (typeof fault === 'function') fake.setFault(fault);
    else fake.failNext(fault);
    const { id, events } = await generateAndWait(proxy.url, fields('9:16', '1K'));
    const last = events.at(-1) as SseEvent;
    expect(last.event).toBe('failed');
    expect(last.data).toMatchObject({ id, error: { code } });
    const after = await job(proxy.url, id);
    expect(after).toMatchObject({ status: 'failed', error: { code } });
    expect(after.error?.message.length).toBeGreaterThan(0);
    expect(await account(proxy.url)).toEqual({
      name: 'local',
      balance_credits: LOCAL_ACCOUNT_CREDITS,
      spent_credits: 0,
      jobs_in_flight: 0,
    });
    if (mentions) expect(after.error?.message).toContain(mentions);
  });

  it('after a failure the next job succeeds', async () => {
    const { fake, proxy } = await setUp();
    fake.failNext({ kind: 'moderation' });
    expect((await generateAndWait(proxy.url, fields('1:1', '1K'))).events.at(-1)?.event).toBe('failed');
    expect((await generateAndWait(proxy.url, fields('1:1', '1K'))).events.at(-1)?.event).toBe('completed');
    expect((await account(proxy.url)).spent_credits).toBe(6);
  });
});

describe('cancelling through the proxy', () => {
  it('DELETE aborts the OpenAI call, ends the job canceled and releases its credits', async () => {
    const { fake, proxy } = await setUp();
    fake.failNext({ kind: 'hang' });
    const response = await submitGeneration(proxy.url, fields('16:9', '4K'));
    const { id } = (await response.json()) as { id: string };
    await fake.received(1);
    expect((await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' })).status).toBeLessThan(300);
    const { events } = await readEvents(proxy.url, id);
    expect(events.at(-1)?.event).toBe('canceled');
    await expect.poll(() => fake?.requests[0]?.closedByClient).toBe(true);
    expect(await job(proxy.url, id)).toMatchObject({ status: 'canceled' });
    expect(await account(proxy.url)).toMatchObject({ balance_credits: LOCAL_ACCOUNT_CREDITS, jobs_in_flight: 0 });
    expect(fake.requests).toHaveLength(1);
  });
});
