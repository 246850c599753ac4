// The whole proxy with FRAMEFILL_PROVIDER=openai against the local Images API stand-in, over real HTTP: what the
// panel sees (job, events, image, account) for every size, references, partials, prices, each upstream fault, the
// upstream's rate limit and a cancel.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AccountSchema, CapabilitiesSchema, HealthSchema, JobSchema } from '../../core/api';
import { QUALITIES, sizeParam, TIERS } from '../../core/formats';
import { LOCAL_ACCOUNT_CREDITS } from '../../proxy/ledger';
import { AUTO_SIZE, type Fault } from '../fakes/openai-upstream';
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
      const expected = size === 'auto' ? AUTO_SIZE : size;
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
    const row = await proxy.store.get(id);
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

  it('streams FRAMEFILL_PARTIAL_IMAGES previews on the SSE stream before completed, each at most 512 px', async () => {
    // The stand-in spreads its events over 600 ms, as a render takes its time: proxy/runner.ts publishes a preview
    // once it is downsized, so in a burst of events `completed` can overtake it.
    const { fake, proxy } = await setUp({ FRAMEFILL_PARTIAL_IMAGES: '2' }, { partials: { spreadMs: 600 } });
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
    expect(fake.requests[0]?.json).toMatchObject({ stream: true, partial_images: 2 });
    // The stand-in's previews are 1280 × 720; the runner sends them on at ≤ 512 px (DESIGN.md §5).
    expect(partials).toEqual([
      expect.objectContaining({ id, index: 0, mime: 'image/jpeg', width: 512, height: 288, b64: expect.any(String) }),
      expect.objectContaining({ id, index: 1, mime: 'image/jpeg', width: 512, height: 288 }),
    ]);
  });

  it('asks for one preview by default, and none with FRAMEFILL_PARTIAL_IMAGES=0', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_PARTIAL_IMAGES: '0' });
    const { events } = await generateAndWait(proxy.url, fields('1:1', '1K'));
    expect(events.map((e) => e.event).filter((name) => name !== 'status')).toEqual(['completed']);
    expect(fake.requests[0]?.json).not.toHaveProperty('partial_images');
    const byDefault = await setUp();
    await generateAndWait(byDefault.proxy.url, fields('1:1', '1K'));
    expect(byDefault.fake.requests[0]?.json).toMatchObject({ stream: true, partial_images: 1 });
  });

  it('asks for a JPEG when the request names no format, with output_compression (README, "Output format")', async () => {
    const { fake, proxy } = await setUp();
    const { id } = await generateAndWait(proxy.url, fields('16:9', '1K'));
    expect(fake.requests[0]?.json).toMatchObject({ output_format: 'jpeg', output_compression: 95 });
    expect((await api(`${proxy.url}/v1/generations/${id}/image`)).headers.get('content-type')).toBe('image/jpeg');
  });

  it('sends a hash of the account as `user`, the same for every job of the account', async () => {
    const { fake, proxy } = await setUp();
    await generateAndWait(proxy.url, fields('1:1', '1K'));
    await generateAndWait(proxy.url, fields('1:1', '1K'), { references: await panelReferences(1) });
    const [first, second] = fake.requests.map((r) => r.params.user);
    expect(first).toMatch(/^framefill-[0-9a-f]{32}$/);
    expect(second).toBe(first);
  });

  it('capabilities, the job and the ledger agree on the price of every tier × quality', async () => {
    const { proxy } = await setUp();
    const { prices } = CapabilitiesSchema.parse(await (await api(`${proxy.url}/v1/capabilities`)).json());
    for (const quality of QUALITIES) {
      for (const tier of TIERS) {
        const before = await account(proxy.url);
        const response = await submitGeneration(proxy.url, { ...fields('16:9', tier), quality });
        const submitted = JobSchema.parse(await response.json());
        const reserved = await account(proxy.url);
        const price = prices[quality]?.[tier];
        expect(price, `${quality} ${tier}`).toBeGreaterThan(0);
        expect(submitted.cost_credits, `${quality} ${tier}`).toBe(price);
        expect(before.balance_credits - reserved.balance_credits, `${quality} ${tier} reserved`).toBe(price);
        const { events } = await readEvents(proxy.url, submitted.id);
        expect(events.at(-1)?.event).toBe('completed');
        const after = await account(proxy.url);
        expect(after.spent_credits - before.spent_credits, `${quality} ${tier} charged`).toBe(price);
        expect(after.balance_credits).toBe(reserved.balance_credits);
      }
    }
  });

  it('falls back to a plain request when OpenAI refuses streaming, and the job still completes', async () => {
    const { fake, proxy } = await setUp({}, { refuseStreaming: true });
    const { events } = await generateAndWait(proxy.url, fields('1:1', '1K'));
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.requests.map((r) => r.json?.stream)).toEqual([true, undefined]);
  });
});

const UNKNOWN_PARAMETER: Fault = {
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
};

// Each names the page its answer follows: the error-codes guide (https://platform.openai.com/docs/guides/error-codes)
// unless said otherwise.
const faults: Array<[string, string, Fault | (() => Fault), string?]> = [
  ['a moderation refusal', 'content_policy', { kind: 'moderation' }, 'safety system'],
  ['a refusal of the finished image', 'content_policy', { kind: 'moderation-mid-stream' }],
  // The Responses API's error event (https://platform.openai.com/docs/api-reference/responses-streaming/error).
  ['a Responses-style error event (top-level code)', 'content_policy', { kind: 'error-event', shape: 'responses' }],
  ['a wrong OpenAI key', 'upstream_error', { kind: 'unauthorized' }, 'OPENAI_API_KEY'],
  // https://github.com/openai-php/client/issues/565 quotes the 403.
  ['an unverified organisation (403)', 'upstream_error', { kind: 'unverified' }, 'verify the organization'],
  ['an exhausted quota (429 insufficient_quota)', 'upstream_error', { kind: 'insufficient-quota' }, 'billing'],
  ['an unknown-parameter refusal', 'upstream_error', UNKNOWN_PARAMETER, "Unknown parameter: 'seed'."],
  ['a 400 OpenAI does not explain', 'upstream_error', { kind: 'status', status: 400 }],
  ['repeated 5xx', 'upstream_error', () => ({ kind: 'status', status: 502 })],
  ['a connection dropped after the request was sent', 'upstream_error', () => ({ kind: 'drop-before-headers' })],
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
    // OpenAI's request id is kept on the job and logged, whenever an answer arrived (not for a dropped connection).
    const answered = fake.requests.filter((r) => !r.closedByClient).at(-1);
    if (answered) {
      expect((await proxy.store.get(id))?.upstream_request_id).toBe(answered.requestId);
      expect(proxy.logs).toContainEqual(
        expect.objectContaining({ kind: 'job_error', id, upstream_request_id: answered.requestId }),
      );
    }
  });

  // The error-codes guide retries 429 and 5xx only (https://platform.openai.com/docs/guides/error-codes).
  it('a connection dropped after the request was sent is never sent again (OpenAI may bill the first)', async () => {
    const { fake, proxy } = await setUp();
    fake.setFault(() => ({ kind: 'drop-before-headers' }));
    const { events } = await generateAndWait(proxy.url, fields('1:1', '1K'), { references: await panelReferences(2) });
    expect(events.at(-1)?.data).toMatchObject({ error: { code: 'upstream_error' } });
    expect(fake.requests).toHaveLength(1);
  });

  it("moderation details reach the log, never the designer's job", async () => {
    const { fake, proxy } = await setUp();
    fake.failNext({ kind: 'moderation', details: { categories: ['violence'] } });
    const { id } = await generateAndWait(proxy.url, fields('1:1', '1K'));
    const failed = await job(proxy.url, id);
    expect(failed.error?.code).toBe('content_policy');
    expect(JSON.stringify(failed)).not.toMatch(/safety_violations|moderation_details|violence/);
    const logged = proxy.logs.find((line) => line.kind === 'job_error' && line.id === id);
    expect(String(logged?.error)).toContain('safety_violations=[violence]');
    expect(String(logged?.error)).toContain('moderation_details={"categories":["violence"]}');
    expect(logged?.upstream_request_id).toBe(fake.requests[0]?.requestId);
  });

  it('after a failure the next job succeeds', async () => {
    const { fake, proxy } = await setUp();
    fake.failNext({ kind: 'moderation' });
    expect((await generateAndWait(proxy.url, fields('1:1', '1K'))).events.at(-1)?.event).toBe('failed');
    expect((await generateAndWait(proxy.url, fields('1:1', '1K'))).events.at(-1)?.event).toBe('completed');
    // Low quality at 1K: one credit, for the completed job only.
    expect((await account(proxy.url)).spent_credits).toBe(1);
  });
});

describe("OpenAI's rate limit through the proxy: jobs wait instead of failing", () => {
  it('a batch of 8 at 5 images per window all complete; the ones that met the limit say they wait', async () => {
    // gpt-image-2 at usage tier 1: 5 images per minute (model page). The stand-in's window is shortened to 1 s so
    // the test takes seconds; the proxy reads the wait from OpenAI's headers, whatever the window.
    const { fake, proxy } = await setUp({}, { imagesPerMinute: 5, rateWindowMs: 1000 });
    const ids = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const response = await submitGeneration(proxy.url, { ...fields('1:1', '1K'), prompt: `batch job ${i}` });
        return JobSchema.parse(await response.json()).id;
      }),
    );
    const seenWhileWaiting = new Map<string, string | undefined>();
    const streams = await Promise.all(
      ids.map((id) =>
        readEvents(proxy.url, id, {
          onEvent: (event) => {
            const data = event.data as { status?: string; reason?: string };
            if (event.event === 'status' && data.status === 'queued' && data.reason && !seenWhileWaiting.has(id)) {
              seenWhileWaiting.set(id, undefined);
              void job(proxy.url, id).then((row) => seenWhileWaiting.set(id, row.status_reason));
            }
          },
        }),
      ),
    );
    for (const [index, { events }] of streams.entries()) {
      expect(events.at(-1)?.event, `job ${index}`).toBe('completed');
    }
    const limited = new Set(fake.requests.filter((r) => r.status === 429).map((r) => String(r.params.prompt)));
    expect(limited.size).toBeGreaterThanOrEqual(3);
    for (const [index, id] of ids.entries()) {
      const reasons = streams[index]!.events.filter((e) => e.event === 'status').map(
        (e) => (e.data as { reason?: string }).reason,
      );
      const waited = reasons.find((reason) => reason !== undefined);
      if (limited.has(`batch job ${index}`)) {
        expect(waited, `job ${index}`).toMatch(/^Waiting for the image service's rate limit — about \d+ s\.$/);
        await expect.poll(() => seenWhileWaiting.get(id)).toBe(waited);
      } else {
        expect(waited, `job ${index}`).toBeUndefined();
      }
    }
    expect((await account(proxy.url)).spent_credits).toBe(8);
  });

  it('a 429 with retry-after-ms is sent again only once that time has passed, and the job completes', async () => {
    const { fake, proxy } = await setUp();
    fake.failNext({ kind: 'rate-limited', retryAfter: 1, retryAfterMs: 800 });
    const { id, events } = await generateAndWait(proxy.url, fields('16:9', '1K'));
    expect(events.at(-1)?.event).toBe('completed');
    expect(events).toContainEqual({
      event: 'status',
      data: { id, status: 'queued', reason: "Waiting for the image service's rate limit — about 1 s." },
    });
    expect(fake.requests).toHaveLength(2);
    const [first, second] = fake.requests;
    expect((second?.receivedAt ?? 0) - (first?.receivedAt ?? 0)).toBeGreaterThanOrEqual(800);
  });

  it('a wait beyond the job’s deadline fails it rate_limited, carrying retry_after, with its credits back', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_UPSTREAM_TIMEOUT_S: '5' });
    fake.failNext({ kind: 'rate-limited', retryAfter: 30 });
    const { id, events } = await generateAndWait(proxy.url, fields('16:9', '1K'));
    expect(events.at(-1)).toEqual({
      event: 'failed',
      data: { id, error: expect.objectContaining({ code: 'rate_limited', retry_after: 30 }) },
    });
    expect(await job(proxy.url, id)).toMatchObject({
      status: 'failed',
      error: { code: 'rate_limited', retry_after: 30 },
    });
    expect((await proxy.store.get(id))?.upstream_request_id).toBe(fake.requests[0]?.requestId);
    expect(await account(proxy.url)).toMatchObject({ balance_credits: LOCAL_ACCOUNT_CREDITS, spent_credits: 0 });
    expect(fake.requests).toHaveLength(1);
  });
});

describe('cancelling through the proxy', () => {
  it('DELETE aborts the started OpenAI call and ends the job canceled, charged: the operator is billed for it', async () => {
    const { fake, proxy } = await setUp();
    fake.failNext({ kind: 'hang' });
    const response = await submitGeneration(proxy.url, fields('16:9', '4K'));
    const { id, cost_credits: cost } = JobSchema.parse(await response.json());
    await fake.received(1);
    expect((await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' })).status).toBeLessThan(300);
    const { events } = await readEvents(proxy.url, id);
    expect(events.at(-1)).toEqual({ event: 'canceled', data: { id, credits_returned: false } });
    await expect.poll(() => fake?.requests[0]?.closedByClient).toBe(true);
    expect(await job(proxy.url, id)).toMatchObject({ status: 'canceled', credits_returned: false });
    expect(await account(proxy.url)).toMatchObject({
      balance_credits: LOCAL_ACCOUNT_CREDITS - cost,
      spent_credits: cost,
      jobs_in_flight: 0,
    });
    expect(fake.requests).toHaveLength(1);
  });

  it('with FRAMEFILL_CANCEL_REFUND=started the same cancel returns the credits', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_CANCEL_REFUND: 'started' });
    fake.failNext({ kind: 'hang' });
    const { id } = JobSchema.parse(await (await submitGeneration(proxy.url, fields('16:9', '4K'))).json());
    await fake.received(1);
    await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' });
    const { events } = await readEvents(proxy.url, id);
    expect(events.at(-1)).toEqual({ event: 'canceled', data: { id, credits_returned: true } });
    await expect.poll(() => fake?.requests[0]?.closedByClient).toBe(true);
    expect(await account(proxy.url)).toMatchObject({ balance_credits: LOCAL_ACCOUNT_CREDITS, spent_credits: 0 });
  });
});
