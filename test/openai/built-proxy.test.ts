// `node build/proxy.mjs` with an OpenAI key and OPENAI_BASE_URL pointed at the local stand-in: the shipped bundle
// (not just the sources) runs a text-to-image and an image-to-image job through the OpenAI provider.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthSchema, JobSchema } from '../../core/api';
import { type FakeOpenAI, startFakeOpenAI } from '../fakes/openai-upstream';
import { api, generateAndWait, ROOT, type SpawnedProxy, spawnProxy } from '../helpers/proxy';
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
