// Ratios, tiers and the output size table (DESIGN.md §2): the single source of every pixel size.

export const ASPECT_RATIOS = ['auto', '1:1', '9:16', '16:9', '4:3', '3:4'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];

/** The ratios `pickRatio` may choose from: `auto` is never picked automatically. */
export const FIXED_RATIOS = ['1:1', '9:16', '16:9', '4:3', '3:4'] as const;
export type FixedRatio = (typeof FIXED_RATIOS)[number];

export const TIERS = ['1K', '2K', '4K'] as const;
export type Tier = (typeof TIERS)[number];

/** `auto` is not one: it is never sent upstream (DESIGN.md §2). */
export const QUALITIES = ['low', 'medium', 'high'] as const;
export type Quality = (typeof QUALITIES)[number];

export const OUTPUT_FORMATS = ['png', 'jpeg'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface PixelSize {
  width: number;
  height: number;
}

/** `auto` means the model picks the size; the job reports the size it got. */
export type OutputSize = PixelSize | 'auto';

export const SIZES: Readonly<Record<AspectRatio, Readonly<Partial<Record<Tier, OutputSize>>>>> = {
  auto: { '1K': 'auto' },
  '1:1': { '1K': { width: 1024, height: 1024 }, '2K': { width: 2048, height: 2048 } },
  '16:9': {
    '1K': { width: 1280, height: 720 },
    '2K': { width: 2560, height: 1440 },
    '4K': { width: 3840, height: 2160 },
  },
  '9:16': {
    '1K': { width: 720, height: 1280 },
    '2K': { width: 1440, height: 2560 },
    '4K': { width: 2160, height: 3840 },
  },
  '4:3': {
    '1K': { width: 1024, height: 768 },
    '2K': { width: 2048, height: 1536 },
    '4K': { width: 3264, height: 2448 },
  },
  '3:4': {
    '1K': { width: 768, height: 1024 },
    '2K': { width: 1536, height: 2048 },
    '4K': { width: 2448, height: 3264 },
  },
};

/**
 * OpenAI calls outputs above 2560 × 1440 pixels experimental (image generation guide,
 * https://platform.openai.com/docs/guides/image-generation): 2048², every 4K size.
 */
export const EXPERIMENTAL_ABOVE_PIXELS = 2560 * 1440;

export function isExperimentalSize(size: OutputSize): boolean {
  return size !== 'auto' && size.width * size.height > EXPERIMENTAL_ABOVE_PIXELS;
}

/** The size the draft provider renders for `auto`, and the one a new frame assumes before the job reports. */
export const AUTO_DRAFT_SIZE: PixelSize = { width: 1024, height: 1024 };

export function isAspectRatio(value: unknown): value is AspectRatio {
  return typeof value === 'string' && (ASPECT_RATIOS as readonly string[]).includes(value);
}

export function isTier(value: unknown): value is Tier {
  return typeof value === 'string' && (TIERS as readonly string[]).includes(value);
}

export function sizeFor(ratio: AspectRatio, tier: Tier): OutputSize | undefined {
  return SIZES[ratio][tier];
}

export function isSupportedPair(ratio: AspectRatio, tier: Tier): boolean {
  return sizeFor(ratio, tier) !== undefined;
}

export function tiersFor(ratio: AspectRatio): Tier[] {
  return TIERS.filter((tier) => isSupportedPair(ratio, tier));
}

export function largestTier(ratio: AspectRatio): Tier {
  const tiers = tiersFor(ratio);
  return tiers[tiers.length - 1] as Tier;
}

/** The tier a target really gets when the batch's tier does not exist for its ratio (§3). */
export function effectiveTier(ratio: AspectRatio, chosen: Tier): Tier {
  if (isSupportedPair(ratio, chosen)) return chosen;
  const below = tiersFor(ratio).filter((tier) => TIERS.indexOf(tier) < TIERS.indexOf(chosen));
  return below[below.length - 1] ?? largestTier(ratio);
}

/** Why a pair is impossible, in the user's words; `undefined` when it exists. */
export function unsupportedReason(ratio: AspectRatio, tier: Tier): string | undefined {
  if (isSupportedPair(ratio, tier)) return undefined;
  if (ratio === 'auto') return 'Auto renders at 1K only.';
  return `${ratio} has no ${tier}: the largest is ${largestTier(ratio)}.`;
}

/** Width ÷ height of a fixed ratio. */
export function ratioValue(ratio: FixedRatio): number {
  const [w, h] = ratio.split(':').map(Number) as [number, number];
  return w / h;
}

/** OpenAI's `size` parameter: `WIDTHxHEIGHT`, or `auto`. */
export function sizeParam(size: OutputSize): string {
  return size === 'auto' ? 'auto' : `${size.width}x${size.height}`;
}

export function formatSize(size: OutputSize): string {
  return size === 'auto' ? 'Auto' : `${size.width}×${size.height}`;
}

export function longEdge(size: PixelSize): number {
  return Math.max(size.width, size.height);
}

/**
 * GPT Image 2's documented size rule: both edges multiples of 16, long edge ≤ 3840, long:short ≤ 3:1,
 * and 655,360 … 8,294,400 pixels. Returns why a size breaks it, or `undefined` when it is valid.
 */
export const MODEL_SIZE_RULES = {
  multipleOf: 16,
  maxLongEdge: 3840,
  maxAspect: 3,
  minPixels: 655_360,
  maxPixels: 8_294_400,
} as const;

export function modelSizeViolation(width: number, height: number): string | undefined {
  const r = MODEL_SIZE_RULES;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    return 'width and height must be positive integers';
  }
  if (width % r.multipleOf !== 0 || height % r.multipleOf !== 0) {
    return `both edges must be multiples of ${r.multipleOf}`;
  }
  if (Math.max(width, height) > r.maxLongEdge) return `the long edge must be at most ${r.maxLongEdge}`;
  if (Math.max(width, height) / Math.min(width, height) > r.maxAspect) {
    return `the aspect ratio must be at most ${r.maxAspect}:1`;
  }
  const pixels = width * height;
  if (pixels < r.minPixels || pixels > r.maxPixels) {
    return `the total pixels must be between ${r.minPixels} and ${r.maxPixels}`;
  }
  return undefined;
}
