// Variations over real HTTP: `n` at the boundary, every image by index with its thumbnail, the completed event
// carrying them, and the ledger charging per image produced (fewer than asked from OpenAI releases the rest).
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { AccountSchema, CompletedEventSchema, ErrorBodySchema, JobSchema } from '../../core/api';
import { MAX_VARIATIONS, THUMBNAIL_MAX_EDGE } from '../../core/limits';
import { priceOf } from '../../core/pricing';
import { LOCAL_ACCOUNT_CREDITS } from '../../proxy/ledger';
import { api, generateAndWait, startTestProxy, submitGeneration, type TestProxy } from '../helpers/proxy';
import { useProxyOnFakeOpenAI } from '../openai/fixtures';
import { useProxyOnFakeTaskApi } from '../task/fixtures';

const started: TestProxy[] = [];
afterEach(async () => {
  for (const proxy of started.splice(0)) await proxy.close(0);
});
async function proxyOf(env: Record<string, string> = {}): Promise<TestProxy> {
  const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0', ...env });
  started.push(proxy);
  return proxy;
}

const fields = { prompt: 'Three takes on a lighthouse', aspect_ratio: '16:9', resolution: '1K', quality: 'medium' };
const PRICE = priceOf('1K', 'medium');

async function errorOf(response: Response) {
  return ErrorBodySchema.parse(await response.json()).error;
}

async function bytesOf(url: string): Promise<Buffer> {
  const response = await api(url);
  expect(response.status, url).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

describe('n at the boundary', () => {
  it.each(['0', String(MAX_VARIATIONS + 1), '2.5', 'two', ''])(
    'n=%j is refused 400 invalid_request on n',
    async (n) => {
      const proxy = await proxyOf();
      const response = await submitGeneration(proxy.url, { ...fields, n });
      expect(response.status).toBe(400);
      const error = await errorOf(response);
      expect(error).toMatchObject({ code: 'invalid_request', field: 'n' });
      expect(error.message).toMatch(/1 to 4 variations/);
    },
  );

  it(`n=${MAX_VARIATIONS} is accepted and reserves ${MAX_VARIATIONS} × the price`, async () => {
    const proxy = await proxyOf({ FRAMEFILL_DRAFT_DELAY_MS: '2000' });
    const response = await submitGeneration(proxy.url, { ...fields, n: String(MAX_VARIATIONS) });
    expect(response.status).toBe(202);
    const job = JobSchema.parse(await response.json());
    expect(job).toMatchObject({ n: MAX_VARIATIONS, cost_credits: MAX_VARIATIONS * PRICE });
    const account = AccountSchema.parse(await (await api(`${proxy.url}/v1/account`)).json());
    expect(account.balance_credits).toBe(LOCAL_ACCOUNT_CREDITS - MAX_VARIATIONS * PRICE);
  });
});

describe('credits for variations', () => {
  it('n=4 over the balance is refused 402 with what the four cost and fewer variations as a way out', async () => {
    const proxy = await proxyOf();
    const { token } = await proxy.ledger.createToken('short', 3 * PRICE);
    const response = await submitGeneration(proxy.url, { ...fields, n: '4' }, { token });
    expect(response.status).toBe(402);
    const error = await errorOf(response);
    expect(error.code).toBe('insufficient_credits');
    expect(error.message).toMatch(new RegExp(`4 variations cost ${4 * PRICE} credits.*balance is ${3 * PRICE}`));
    expect(error.message).toMatch(/fewer variations/);
    const one = await submitGeneration(proxy.url, { ...fields, n: '1' }, { token });
    expect(one.status).toBe(202);
  });
});

describe('a job of three variations (draft provider)', () => {
  it('has three different images by index, each with a thumbnail; the completed event carries them', async () => {
    const proxy = await proxyOf();
    const { id, events } = await generateAndWait(proxy.url, { ...fields, n: '3' });
    const completed = CompletedEventSchema.parse(events.find((e) => e.event === 'completed')?.data);
    expect(completed.images?.map((image) => image.index)).toEqual([0, 1, 2]);
    expect(completed.url).toBe(`/v1/generations/${id}/image`);

    const job = JobSchema.parse(await (await api(`${proxy.url}/v1/generations/${id}`)).json());
    expect(job).toMatchObject({ status: 'completed', n: 3, cost_credits: 3 * PRICE, prompt: fields.prompt });
    expect(job.images).toEqual(completed.images);

    const images = await Promise.all(
      [0, 1, 2].map((i) => bytesOf(`${proxy.url}/v1/generations/${id}/image?index=${i}`)),
    );
    expect(new Set(images.map((b) => b.toString('base64'))).size).toBe(3);
    for (const [i, bytes] of images.entries()) {
      const meta = await sharp(bytes).metadata();
      expect({ width: meta.width, height: meta.height }).toEqual({ width: 1280, height: 720 });
      expect(bytes.length).toBe(job.images?.[i]?.bytes);
    }
    // Without ?index the route serves the first, as before variations.
    expect((await bytesOf(`${proxy.url}/v1/generations/${id}/image`)).equals(images[0]!)).toBe(true);

    for (const image of job.images ?? []) {
      const thumbnail = await bytesOf(`${proxy.url}${image.thumbnail_url}`);
      const meta = await sharp(thumbnail).metadata();
      expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBe(THUMBNAIL_MAX_EDGE);
    }

    expect(await proxy.ledger.rowsForJob(id)).toEqual([
      { kind: 'reserve', amount: -3 * PRICE },
      { kind: 'charge', amount: 3 * PRICE },
    ]);
  });

  it('a missing index is 404 naming the valid range; a malformed one is 400', async () => {
    const proxy = await proxyOf();
    const { id } = await generateAndWait(proxy.url, { ...fields, n: '3' });
    for (const route of ['image', 'thumbnail']) {
      const missing = await api(`${proxy.url}/v1/generations/${id}/${route}?index=3`);
      expect(missing.status).toBe(404);
      expect(await errorOf(missing)).toMatchObject({
        code: 'not_found',
        field: 'index',
        message: expect.stringMatching(/3 images: use an index from 0 to 2/),
      });
      const malformed = await api(`${proxy.url}/v1/generations/${id}/${route}?index=-1`);
      expect(malformed.status).toBe(400);
      expect(await errorOf(malformed)).toMatchObject({ code: 'invalid_request', field: 'index' });
    }
  });
});

describe('variations on the OpenAI provider', () => {
  const setUp = useProxyOnFakeOpenAI();

  it('sends n upstream (without streaming, whose events carry no image index) and charges three', async () => {
    const { fake, proxy } = await setUp();
    const { id } = await generateAndWait(proxy.url, { ...fields, n: '3' });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.json).toMatchObject({ n: 3 });
    expect(fake.requests[0]?.json?.stream).toBeUndefined();
    const job = JobSchema.parse(await (await api(`${proxy.url}/v1/generations/${id}`)).json());
    expect(job.images).toHaveLength(3);
    expect(job.cost_credits).toBe(3 * PRICE);
  });

  it('one image asked is still streamed with n: 1', async () => {
    const { fake, proxy } = await setUp();
    await generateAndWait(proxy.url, fields);
    expect(fake.requests[0]?.json).toMatchObject({ n: 1, stream: true });
  });

  it('fewer images than asked: the job keeps those, is charged for them, and the rest is released', async () => {
    const { proxy } = await setUp({}, { returned: () => 2 });
    const { id } = await generateAndWait(proxy.url, { ...fields, n: '4' });
    const job = JobSchema.parse(await (await api(`${proxy.url}/v1/generations/${id}`)).json());
    expect(job.images?.map((image) => image.index)).toEqual([0, 1]);
    expect(job.cost_credits).toBe(2 * PRICE);
    expect(job.notes?.join(' ')).toMatch(/2 of the 4 variations/);
    expect(await proxy.ledger.rowsForJob(id)).toEqual([
      { kind: 'reserve', amount: -4 * PRICE },
      { kind: 'charge', amount: 2 * PRICE },
      { kind: 'release', amount: 2 * PRICE },
    ]);
    const account = AccountSchema.parse(await (await api(`${proxy.url}/v1/account`)).json());
    expect(account).toMatchObject({
      balance_credits: LOCAL_ACCOUNT_CREDITS - 2 * PRICE,
      spent_credits: 2 * PRICE,
    });
    const missing = await api(`${proxy.url}/v1/generations/${id}/image?index=2`);
    expect(missing.status).toBe(404);
  });
});

describe('variations on the task provider (one task per image)', () => {
  const { setUp } = useProxyOnFakeTaskApi();

  it('the deadline passing after one task succeeded ends the job with that image: charged one, the rest released', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_UPSTREAM_TIMEOUT_S: '2' });
    fake.planNext({});
    // The second task is still generating when the job's deadline passes.
    fake.planNext({ delays: { generating: 600_000 } });
    const { id, events } = await generateAndWait(proxy.url, { ...fields, n: '3' });
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.tasks).toHaveLength(2);
    const job = JobSchema.parse(await (await api(`${proxy.url}/v1/generations/${id}`)).json());
    expect(job.images).toHaveLength(1);
    expect(job.notes?.join(' ')).toMatch(/Variation 2 was not ready by the job's deadline.*1 of the 3 variations/s);
    expect(await proxy.ledger.rowsForJob(id)).toEqual([
      { kind: 'reserve', amount: -3 * PRICE },
      { kind: 'charge', amount: PRICE },
      { kind: 'release', amount: 2 * PRICE },
    ]);
    expect((await api(`${proxy.url}/v1/generations/${id}/image`)).status).toBe(200);
  });
});
