// Fixtures for panel tests that need no DOM: frames as the main thread describes them, tray items, the
// capabilities a proxy answers, and jobs as History lists them.
import type { Capabilities, Job, JobImage } from '../../core/api';
import { ASPECT_RATIOS, isExperimentalSize, SIZES, TIERS } from '../../core/formats';
import type { Target, TrayItem } from '../../core/messages';
import { pickRatio, suggestTier } from '../../core/pick';
import { DEFAULT_PRICES } from '../../core/pricing';

/** A frame the way the main thread describes it. */
export function frame(name: string, width: number, height: number, id = `1:${name}`): Target {
  const { ratio, cropFraction } = pickRatio(width, height);
  return { id, name, width, height, ratio, cropFraction, suggestedTier: suggestTier(width, height, ratio) };
}

export function trayOf(count: number): TrayItem[] {
  return Array.from({ length: count }, (_, i) => ({ nodeId: `9:${i}`, name: `Ref ${i + 1}` }));
}

export const CAPABILITIES: Capabilities = {
  model: 'draft',
  provider: 'draft',
  ratios: [...ASPECT_RATIOS],
  tiers: [...TIERS],
  // As the proxy lists them: OpenAI's experimental sizes (over 2560 × 1440 pixels) carry the flag.
  sizes: Object.fromEntries(
    Object.entries(SIZES).map(([ratio, tiers]) => [
      ratio,
      Object.fromEntries(
        Object.entries(tiers).map(([tier, size]) => [
          tier,
          size === 'auto' ? size : { ...size, ...(isExperimentalSize(size) ? { experimental: true } : {}) },
        ]),
      ),
    ]),
  ),
  qualities: ['low', 'medium', 'high'],
  prices: DEFAULT_PRICES,
  limits: {
    prompt_max_chars: 20_000,
    max_references: 16,
    reference_max_bytes: 50 * 1024 * 1024,
    reference_max_edge: 8192,
    reference_mime_types: ['image/png', 'image/jpeg', 'image/webp'],
  },
};

/** A job's image as the proxy lists it: 1280 × 720 PNG, with its image and thumbnail routes. */
export function jobImage(id: string, index = 0): JobImage {
  return {
    index,
    width: 1280,
    height: 720,
    mime: 'image/png',
    bytes: 100,
    url: `/v1/generations/${id}/image?index=${index}`,
    thumbnail_url: `/v1/generations/${id}/thumbnail?index=${index}`,
  };
}

/** A completed 16:9 1K job made a minute ago, as History lists it, with one image unless `over` says otherwise. */
export function historyJob(id: string, prompt: string, over: Partial<Job> = {}): Job {
  return {
    id,
    status: 'completed',
    prompt,
    prompt_chars: Array.from(prompt).length,
    aspect_ratio: '16:9',
    resolution: '1K',
    width: 1280,
    height: 720,
    quality: 'medium',
    output_format: 'png',
    references: 0,
    cost_credits: 6,
    created_at: new Date(Date.now() - 60_000).toISOString(),
    model: 'draft',
    n: 1,
    images: [jobImage(id)],
    ...over,
  };
}
