// Credits per image by quality × tier, and the cost of a batch (DESIGN.md §2). Text-to-image and image-to-image
// cost the same.
import { z } from 'zod';
import { type AspectRatio, effectiveTier, QUALITIES, type Quality, TIERS, type Tier } from './formats';

export type PriceTable = Readonly<Record<Quality, Readonly<Record<Tier, number>>>>;

/**
 * `medium` carries the product's prices. `low` and `high` follow OpenAI's per-image prices for gpt-image-2 at
 * 1024 × 1024 — $0.006 / $0.053 / $0.211 (https://platform.openai.com/docs/models/gpt-image-2) — as ratios to
 * medium at the same tier, rounded up to whole credits, at least 1:
 *   low  = ceil(medium × 0.006 / 0.053) → 1K ceil(0.68) = 1, 2K ceil(0.91) = 1, 4K ceil(1.36) = 2
 *   high = ceil(medium × 0.211 / 0.053) → 1K ceil(23.9) = 24, 2K ceil(31.8) = 32, 4K ceil(47.8) = 48
 */
export const DEFAULT_PRICES: PriceTable = {
  low: { '1K': 1, '2K': 1, '4K': 2 },
  medium: { '1K': 6, '2K': 8, '4K': 12 },
  high: { '1K': 24, '2K': 32, '4K': 48 },
};

/** The quality sent when a request names none; `auto` is never sent upstream (it can silently cost the most). */
export const DEFAULT_QUALITY: Quality = 'medium';

const credits = z.number().int().min(1).max(1_000_000);
const tierPrices = z.strictObject(
  Object.fromEntries(TIERS.map((tier) => [tier, credits])) as Record<Tier, typeof credits>,
);
/** An operator's whole table (FRAMEFILL_PRICES): every quality × tier, whole credits ≥ 1. */
export const PriceTableSchema = z.strictObject(
  Object.fromEntries(QUALITIES.map((quality) => [quality, tierPrices])) as Record<Quality, typeof tierPrices>,
);

export function priceOf(tier: Tier, quality: Quality = DEFAULT_QUALITY, table: PriceTable = DEFAULT_PRICES): number {
  return table[quality][tier];
}

export interface BatchItem {
  ratio: AspectRatio;
  tier: Tier;
  /** Variations of this item (`n`), each an image at the full price; one when absent. */
  count?: number;
}

/** Sum over the batch, each item at the tier its ratio really has, times its variations. */
export function batchCost(
  items: readonly BatchItem[],
  quality: Quality = DEFAULT_QUALITY,
  table: PriceTable = DEFAULT_PRICES,
): number {
  return items.reduce(
    (sum, item) => sum + priceOf(effectiveTier(item.ratio, item.tier), quality, table) * (item.count ?? 1),
    0,
  );
}

/**
 * What a job of `asked` variations that reserved `reserved` credits is charged when `produced` images came back:
 * each image produced at its share of the reservation; the rest is released.
 */
export function chargeFor(reserved: number, asked: number, produced: number): number {
  return Math.round((reserved / asked) * Math.min(produced, asked));
}
