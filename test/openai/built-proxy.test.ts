// `node build/proxy.mjs` with an OpenAI key and OPENAI_BASE_URL pointed at the local stand-in: the shipped bundle
// (not just the sources) runs a text-to-image and an image-to-image job through the OpenAI provider, and refuses to
// start with a model outside the gpt-image-2 family or a broken FRAMEFILL_PRICES file, saying why.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapabilitiesSchema, HealthSchema, JobSchema } from '../../core/api';
import { type FakeOpenAI, startFakeOpenAI } from '../fakes/openai-upstream';
import { api, generateAndWait, ROOT, type SpawnedProxy, spawnProxy, tempDataDir } from '../helpers/proxy';
import { references } from './fixtures';

let fake: FakeOpenAI;
let proxy: SpawnedProxy;

beforeAll(async () => {
  execFileSync(process.execPath, ['build.mjs', '--no-typecheck', '--proxy-only', '--quiet'], { cwd: ROOT });
  fake = await startFakeOpenAI({ apiKey: 'sk-test-key' });
  proxy = await spawnProxy({ FRAMEFILL_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-test-key', OPENAI_BASE_URL: fake.url });
});
afterAll(async () => {
  await proxy?.stop();
  await fake?.close();
});

describe('the built proxy with an OpenAI key', () => {
  it('uses the OpenAI provider with gpt-image-2 by default', async () => {
    const health = HealthSchema.parse(await (await api(`${proxy.url}/v1/health`)).json());
    expect(health).toMatchObject({ provider: 'openai', model: 'gpt-image-2' });
  });

  it('completes a text-to-image and an image-to-image job through the stand-in', async () => {
    const text = await generateAndWait(proxy.url, { prompt: 'a red kite', aspect_ratio: '16:9', resolution: '1K' });
    expect(text.events.at(-1)?.event).toBe('completed');
    const refs = (await references(3)).map((r) => ({ bytes: r.bytes, type: r.mime }));
    const image = await generateAndWait(
      proxy.url,
      { prompt: 'the kite, in the sky', aspect_ratio: '9:16', resolution: '2K' },
      { references: refs },
    );
    expect(image.events.at(-1)?.event).toBe('completed');
    const job = JobSchema.parse(await (await api(`${proxy.url}/v1/generations/${image.id}`)).json());
    expect(job).toMatchObject({ status: 'completed', width: 1440, height: 2560, references: 3 });
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/images/generations', '/v1/images/edits']);
    expect(fake.requests[1]?.images).toHaveLength(3);
    expect(fake.requests.every((r) => r.headers.authorization === 'Bearer sk-test-key')).toBe(true);
  });

  it('never prints the OpenAI key', () => {
    expect(proxy.output()).not.toContain('sk-test-key');
  });
});

/** Starts the built proxy expecting it to refuse; returns what it printed. */
async function refusedStart(env: Record<string, string>): Promise<string> {
  const started = await spawnProxy({
    FRAMEFILL_PROVIDER: 'openai',
    OPENAI_API_KEY: 'sk-test-key',
    OPENAI_BASE_URL: fake.url,
    ...env,
  }).then(
    async (running) => {
      await running.stop();
      return undefined;
    },
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
  expect(started, 'the proxy started').toBeDefined();
  return started ?? '';
}

describe('the built proxy refuses to start, saying why', () => {
  it.each(['gpt-image-1', 'gpt-image-1.5', 'gpt-image-1-mini', 'chatgpt-image-latest'])(
    'with the retired model %s',
    async (model) => {
      const output = await refusedStart({ OPENAI_IMAGE_MODEL: model });
      expect(output).toContain(`OPENAI_IMAGE_MODEL=${model}: ${model} was shut down by OpenAI`);
      expect(output).toContain('gpt-image-2');
    },
  );

  it('with a model outside the gpt-image-2 family, naming the retired ones', async () => {
    const output = await refusedStart({ OPENAI_IMAGE_MODEL: 'dall-e-3' });
    expect(output).toContain('OPENAI_IMAGE_MODEL=dall-e-3');
    expect(output).toContain('gpt-image-1 (shut down 2026-10-23)');
    expect(output).toContain('chatgpt-image-latest (shut down 2026-12-01)');
  });

  it('with a FRAMEFILL_PRICES file that is not JSON, or misses a price', async () => {
    const dir = tempDataDir();
    const notJson = path.join(dir, 'prices.txt');
    writeFileSync(notJson, 'low: 1');
    expect(await refusedStart({ FRAMEFILL_PRICES: notJson })).toContain(
      `FRAMEFILL_PRICES=${notJson} could not be read as JSON`,
    );
    const incomplete = path.join(dir, 'prices.json');
    writeFileSync(incomplete, JSON.stringify({ low: { '1K': 1, '2K': 1, '4K': 2 }, medium: { '1K': 6 } }));
    const output = await refusedStart({ FRAMEFILL_PRICES: incomplete });
    expect(output).toContain(`FRAMEFILL_PRICES=${incomplete}`);
    expect(output).toContain('every quality (low, medium, high) and tier (1K, 2K, 4K)');
    expect(await refusedStart({ FRAMEFILL_PRICES: path.join(dir, 'missing.json') })).toContain('could not be read');
  });
});

describe('the built proxy with a dated snapshot and an operator price table', () => {
  it('serves them: the model in health, the prices in capabilities and on the job', async () => {
    const file = path.join(tempDataDir(), 'prices.json');
    const table = {
      low: { '1K': 2, '2K': 3, '4K': 4 },
      medium: { '1K': 10, '2K': 20, '4K': 30 },
      high: { '1K': 40, '2K': 50, '4K': 60 },
    };
    writeFileSync(file, JSON.stringify(table));
    const custom = await spawnProxy({
      FRAMEFILL_PROVIDER: 'openai',
      OPENAI_API_KEY: 'sk-test-key',
      OPENAI_BASE_URL: fake.url,
      OPENAI_IMAGE_MODEL: 'gpt-image-2-2026-04-21',
      FRAMEFILL_PRICES: file,
    });
    try {
      expect(HealthSchema.parse(await (await api(`${custom.url}/v1/health`)).json()).model).toBe(
        'gpt-image-2-2026-04-21',
      );
      expect(CapabilitiesSchema.parse(await (await api(`${custom.url}/v1/capabilities`)).json()).prices).toEqual(table);
      const { id } = await generateAndWait(custom.url, {
        prompt: 'a kite',
        aspect_ratio: '4:3',
        resolution: '2K',
        quality: 'high',
      });
      const job = JobSchema.parse(await (await api(`${custom.url}/v1/generations/${id}`)).json());
      expect(job).toMatchObject({ status: 'completed', cost_credits: 50 });
    } finally {
      await custom.stop();
    }
  });
});
