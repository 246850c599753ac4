// Credits per image and the cost of a batch (DESIGN.md §2): text-to-image and image-to-image cost the same.
import { type AspectRatio, effectiveTier, type Tier } from './formats';

export const PRICES: Readonly<Record<Tier, number>> = { '1K': 6, '2K': 8, '4K': 12 };

export function priceOf(tier: Tier): number {
  return PRICES[tier];
}

export interface BatchItem {
  ratio: AspectRatio;
  tier: Tier;
}

/** Sum over the batch, each item at the tier its ratio really has. */
export function batchCost(items: readonly BatchItem[]): number {
  return items.reduce((sum, item) => sum + priceOf(effectiveTier(item.ratio, item.tier)), 0);
}
