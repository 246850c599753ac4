// Every route of DESIGN.md §5 over real HTTP, with the draft provider: the bodies match core's schemas and
// every (ratio, tier) pair yields an image of exactly the table's size.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountSchema, CapabilitiesSchema, ErrorBodySchema, HealthSchema, JobSchema } from '../../core/api';
import { ASPECT_RATIOS, SIZES, TIERS } from '../../core/formats';
import { DEFAULT_PRICES } from '../../core/pricing';
import { imageInfo } from '../helpers/images';
import {
  api,
  ENGINES,
  generateAndWait,
  startTestProxy as startProxyOn,
  submitGeneration,
  type TestProxy,
  tempDataDir,
} from '../helpers/proxy';

describe.each(ENGINES)('on %s', (engine) => {
  const startTestProxy: typeof startProxyOn = (env, opts) => startProxyOn(env, { ...opts, engine });

  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0', FRAMEFILL_UPSTREAM_CONCURRENCY: '2' });
  });
  afterAll(() => proxy.close());

  const error = async (response: Response) => ErrorBodySchema.parse(await response.json()).error;

  describe('GET /v1/health and /v1/capabilities', () => {
    it('reports health with the provider, the model and the store', async () => {
      const body = HealthSchema.parse(await (await api(`${proxy.url}/v1/health`)).json());
      expect(body).toMatchObject({ ok: true, provider: 'draft', store: { engine, reachable: true } });
      expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    });

    it('lists only the existing sizes, the prices and the limits', async () => {
      const body = CapabilitiesSchema.parse(await (await api(`${proxy.url}/v1/capabilities`)).json());
      expect(body.sizes.auto).toEqual({ '1K': 'auto' });
      expect(body.sizes['16:9']?.['4K']).toEqual({ width: 3840, height: 2160, experimental: true });
      expect(body.sizes['1:1']?.['2K']).toEqual({ width: 2048, height: 2048, experimental: true });
      expect(body.sizes['16:9']?.['2K']).toEqual({ width: 2560, height: 1440 });
      expect(body.qualities).toEqual(['low', 'medium', 'high']);
      expect(body.prices).toEqual(DEFAULT_PRICES);
      expect(body.limits).toMatchObject({ prompt_max_chars: 20_000, max_references: 16, reference_max_edge: 8192 });
    });
  });

  describe('POST /v1/generations → the image', () => {
    const pairs = ASPECT_RATIOS.flatMap((ratio) =>
      TIERS.filter((t) => SIZES[ratio][t]).map((tier) => [ratio, tier] as const),
    );

    it.each(pairs)('%s at %s returns an image of exactly the table size', async (ratio, tier) => {
      const { id, events } = await generateAndWait(proxy.url, {
        prompt: `a ${ratio} scene`,
        aspect_ratio: ratio,
        resolution: tier,
      });
      expect(events.at(-1)?.event).toBe('completed');
      const response = await api(`${proxy.url}/v1/generations/${id}/image`);
      expect(response.status).toBe(200);
      // JPEG when the request names no format (core/api.ts; README, "Output format").
      expect(response.headers.get('Content-Type')).toBe('image/jpeg');
      const info = await imageInfo(new Uint8Array(await response.arrayBuffer()));
      const size = SIZES[ratio][tier];
      expect(info).toEqual({ format: 'jpeg', ...(size === 'auto' ? { width: 1024, height: 1024 } : size) });
      const job = JobSchema.parse(await (await api(`${proxy.url}/v1/generations/${id}`)).json());
      expect(job).toMatchObject({
        status: 'completed',
        width: info.width,
        height: info.height,
        cost_credits: DEFAULT_PRICES.medium[tier],
      });
    });

    it.each([
      ['auto', '2K'],
      ['auto', '4K'],
      ['1:1', '4K'],
    ])('refuses %s at %s with 400 unsupported_size', async (ratio, tier) => {
      const response = await submitGeneration(proxy.url, { prompt: 'x', aspect_ratio: ratio, resolution: tier });
      expect(response.status).toBe(400);
      expect(await error(response)).toMatchObject({ code: 'unsupported_size', field: 'resolution' });
    });

    it('answers 202 with a queued job, as JobSchema says', async () => {
      const response = await submitGeneration(proxy.url, { prompt: 'hello', aspect_ratio: '4:3', resolution: '1K' });
      expect(response.status).toBe(202);
      const job = JobSchema.parse(await response.json());
      expect(job).toMatchObject({
        status: 'queued',
        prompt_chars: 5,
        width: 1024,
        height: 768,
        references: 0,
        cost_credits: 6,
      });
      expect(response.headers.get('Location')).toBe(`/v1/generations/${job.id}`);
    });

    it('renders JPEG when output_format is jpeg', async () => {
      const { id } = await generateAndWait(proxy.url, {
        prompt: 'jpeg please',
        aspect_ratio: '1:1',
        resolution: '1K',
        output_format: 'jpeg',
        quality: 'low',
      });
      const response = await api(`${proxy.url}/v1/generations/${id}/image`);
      expect(response.headers.get('Content-Type')).toBe('image/jpeg');
      expect((await imageInfo(new Uint8Array(await response.arrayBuffer()))).format).toBe('jpeg');
    });

    it('refuses unknown quality or output_format values with invalid_request', async () => {
      for (const [field, value] of [
        ['quality', 'ultra'],
        ['output_format', 'gif'],
        ['aspect_ratio', '2:1'],
        ['resolution', '8K'],
      ]) {
        const fields = { prompt: 'x', aspect_ratio: '1:1', resolution: '1K', [field as string]: value as string };
        const response = await submitGeneration(proxy.url, fields);
        expect(response.status, field).toBe(400);
        expect(await error(response)).toMatchObject({ code: 'invalid_request', field });
      }
    });
  });

  describe('GET, DELETE and the image of a job', () => {
    it('answers 409 not_ready for the image of an unfinished job', async () => {
      const slow = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '5000' });
      try {
        const job = JobSchema.parse(
          await (await submitGeneration(slow.url, { prompt: 'slow', aspect_ratio: '1:1', resolution: '1K' })).json(),
        );
        const response = await api(`${slow.url}/v1/generations/${job.id}/image`);
        expect(response.status).toBe(409);
        expect(await error(response)).toMatchObject({ code: 'not_ready' });
        const canceled = await api(`${slow.url}/v1/generations/${job.id}`, { method: 'DELETE' });
        expect(canceled.status).toBe(200);
        expect(JobSchema.parse(await canceled.json()).status).toBe('canceled');
        const after = await api(`${slow.url}/v1/generations/${job.id}/image`);
        expect(await error(after)).toMatchObject({ code: 'not_ready' });
      } finally {
        await slow.close();
      }
    });

    it.each(['not-a-uuid', '00000000-0000-0000-0000-000000000000', crypto.randomUUID()])(
      'answers 404 not_found for job id %s on every route',
      async (id) => {
        for (const [method, suffix] of [
          ['GET', ''],
          ['GET', '/events'],
          ['GET', '/image'],
          ['DELETE', ''],
        ] as const) {
          const response = await api(`${proxy.url}/v1/generations/${id}${suffix}`, { method });
          expect(response.status, `${method} ${suffix}`).toBe(404);
          expect(await error(response)).toMatchObject({ code: 'not_found' });
        }
      },
    );

    it('reports the account: name, balance, spent and jobs in flight', async () => {
      const fresh = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
      try {
        const before = AccountSchema.parse(await (await api(`${fresh.url}/v1/account`)).json());
        expect(before).toEqual({ name: 'local', balance_credits: 1_000_000, spent_credits: 0, jobs_in_flight: 0 });
        await generateAndWait(fresh.url, { prompt: 'x', aspect_ratio: '16:9', resolution: '4K' });
        const after = AccountSchema.parse(await (await api(`${fresh.url}/v1/account`)).json());
        expect(after).toEqual({ name: 'local', balance_credits: 1_000_000 - 12, spent_credits: 12, jobs_in_flight: 0 });
      } finally {
        await fresh.close();
      }
    });

    it('answers unknown routes with 404 not_found in the error shape', async () => {
      for (const route of ['/', '/v1', '/v1/nothing', '/v2/health']) {
        const response = await api(`${proxy.url}${route}`);
        expect(response.status, route).toBe(404);
        expect(await error(response)).toMatchObject({ code: 'not_found' });
      }
    });
  });

  describe('the playground route', () => {
    it('serves build/playground.html and its bundles in local mode, nothing else', async () => {
      const dir = path.join(tempDataDir(), 'build');
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'playground.html'), '<!doctype html><title>pg</title>');
      writeFileSync(path.join(dir, 'playground.js'), 'console.log(1)');
      writeFileSync(path.join(dir, 'secret.txt'), 'no');
      const local = await startTestProxy({}, { staticDir: dir });
      try {
        const page = await api(`${local.url}/playground`);
        expect(page.status).toBe(200);
        expect(page.headers.get('Content-Type')).toContain('text/html');
        expect(await page.text()).toContain('<title>pg</title>');
        const js = await api(`${local.url}/playground/playground.js`);
        expect(js.headers.get('Content-Type')).toContain('javascript');
        expect((await api(`${local.url}/playground/secret.txt`)).status).toBe(404);
        expect((await api(`${local.url}/playground/..%2Fsecret.txt`)).status).toBe(404);
        await local.ledger.createToken('team', 10);
        expect((await api(`${local.url}/playground`)).status).toBe(404);
      } finally {
        await local.close();
      }
    });
  });
});
