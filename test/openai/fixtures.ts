// Small builders shared by the OpenAI tests: real images, generation requests, every (ratio, tier) pair.
import sharp from 'sharp';
import { afterEach } from 'vitest';
import { ASPECT_RATIOS, type AspectRatio, type OutputSize, SIZES, TIERS, type Tier } from '../../core/formats';
import type { ReferenceMime } from '../../core/limits';
import type { GenerationRequest, ProviderReference } from '../../proxy/providers/types';
import type { Engine } from '../../proxy/store';
import { type FakeOpenAI, type FakeOpenAIOptions, startFakeOpenAI } from '../fakes/openai-upstream';
import { startTestProxy, type TestProxy } from '../helpers/proxy';

export async function image(width: number, height: number, mime: ReferenceMime, shade = 90): Promise<Buffer> {
  const base = sharp({ create: { width, height, channels: 3, background: { r: shade, g: 30, b: 255 - shade } } });
  if (mime === 'image/png') return base.png().toBuffer();
  if (mime === 'image/jpeg') return base.jpeg().toBuffer();
  return base.webp().toBuffer();
}

export const png = (width: number, height: number, shade?: number) => image(width, height, 'image/png', shade);

/** `count` distinct small references, cycling PNG, JPEG and WebP so content types can be told apart. */
export async function references(count: number): Promise<ProviderReference[]> {
  const mimes: ReferenceMime[] = ['image/png', 'image/jpeg', 'image/webp'];
  return Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const mime = mimes[index % mimes.length] as ReferenceMime;
      const width = 32 + index;
      return { bytes: new Uint8Array(await image(width, 24, mime, index * 15)), mime, width, height: 24 };
    }),
  );
}

export function generation(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    jobId: '00000000-0000-4000-8000-000000000000',
    accountId: 'account-1',
    prompt: 'A lighthouse at dusk, flat illustration',
    aspectRatio: '16:9',
    resolution: '1K',
    size: { width: 1280, height: 720 },
    quality: 'low',
    outputFormat: 'png',
    references: [],
    ...overrides,
  };
}

export interface Pair {
  ratio: AspectRatio;
  tier: Tier;
  size: OutputSize;
}

export const ALL_PAIRS: Pair[] = ASPECT_RATIOS.flatMap((ratio) =>
  TIERS.flatMap((tier) => {
    const size = SIZES[ratio][tier];
    return size ? [{ ratio, tier, size }] : [];
  }),
);

/**
 * For a test file: `setUp(env, options)` starts the OpenAI stand-in and an in-process proxy on the openai provider
 * pointed at it, on `engine` (SQLite unless said); every pair started is closed after each test.
 */
export function useProxyOnFakeOpenAI(engine: Engine = 'sqlite') {
  const started: Array<{ fake: FakeOpenAI; proxy: TestProxy }> = [];
  afterEach(async () => {
    for (const { fake, proxy } of started.splice(0)) {
      await proxy.close(0);
      await fake.close();
    }
  });
  return async function setUp(
    env: Record<string, string> = {},
    options: FakeOpenAIOptions = {},
  ): Promise<{ fake: FakeOpenAI; proxy: TestProxy }> {
    const fake = await startFakeOpenAI({ apiKey: 'test-key', ...options });
    const proxy = await startTestProxy(
      {
        FRAMEFILL_PROVIDER: 'openai',
        OPENAI_API_KEY: 'test-key',
        OPENAI_BASE_URL: fake.url,
        ...env,
      },
      { engine },
    );
    started.push({ fake, proxy });
    return { fake, proxy };
  };
}
