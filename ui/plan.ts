// What a Generate click would do, computed from the panel's choices: one job per target, each at its own
// ratio and effective tier (DESIGN.md §3), and what it costs. Pure, so it is tested without a DOM.
import type { Capabilities } from '../core/api';
import {
  type AspectRatio,
  effectiveTier,
  FIXED_RATIOS,
  formatSize,
  type OutputSize,
  sizeFor,
  TIERS,
  type Tier,
} from '../core/formats';
import type { Target } from '../core/messages';
import { batchCost, priceOf } from '../core/pricing';

/** `from-frame` is the default: each target keeps the ratio picked from its own dimensions. */
export type RatioChoice = 'from-frame' | AspectRatio;

export interface PlannedJob {
  /** `null`: no usable target, the image goes into a new frame. */
  target: Target | null;
  ratio: AspectRatio;
  tier: Tier;
  /** True when the chosen tier does not exist for this ratio and a smaller one is used. */
  tierCapped: boolean;
  size: OutputSize | undefined;
  cost: number;
}

/** With "From frame" and nothing selected, the new frame is square. */
const NEW_FRAME_RATIO: AspectRatio = '1:1';

export function planJobs(targets: readonly Target[], choice: RatioChoice, chosenTier: Tier): PlannedJob[] {
  const slots: (Target | null)[] = targets.length > 0 ? [...targets] : [null];
  return slots.map((target) => {
    const ratio = choice === 'from-frame' ? (target?.ratio ?? NEW_FRAME_RATIO) : choice;
    const tier = effectiveTier(ratio, chosenTier);
    return { target, ratio, tier, tierCapped: tier !== chosenTier, size: sizeFor(ratio, tier), cost: priceOf(tier) };
  });
}

export function planCost(jobs: readonly PlannedJob[]): number {
  return batchCost(jobs.map((job) => ({ ratio: job.ratio, tier: job.tier })));
}

/** "2 frames: 9:16, 1:1", or "new frame". */
export function targetsSummary(targets: readonly Target[]): string {
  if (targets.length === 0) return 'new frame';
  const noun = targets.length === 1 ? 'frame' : 'frames';
  return `${targets.length} ${noun}: ${targets.map((t) => t.ratio).join(', ')}`;
}

/** "Hero 1920×1080 → 16:9 (crops 3%)" */
export function targetLine(target: Target): string {
  const crop = Math.round(target.cropFraction * 100);
  const size = `${Math.round(target.width)}×${Math.round(target.height)}`;
  return `${target.name} ${size} → ${target.ratio}${crop > 0 ? ` (crops ${crop}%)` : ''}`;
}

/** The tier to mark as suggested: the largest any target asks for, so no frame is upscaled. */
export function suggestedTier(targets: readonly Target[]): Tier | undefined {
  let best: Tier | undefined;
  for (const target of targets) {
    if (best === undefined || TIERS.indexOf(target.suggestedTier) > TIERS.indexOf(best)) best = target.suggestedTier;
  }
  return best;
}

/** The ratios a fixed choice offers, from the proxy's capabilities when known. */
export function ratioOptions(capabilities: Capabilities | undefined): AspectRatio[] {
  const all: AspectRatio[] = ['auto', ...FIXED_RATIOS];
  if (!capabilities) return all;
  return all.filter((ratio) => capabilities.ratios.includes(ratio));
}

/** The output size the proxy reports for a pair, falling back to core's table before it answers. */
export function outputSize(capabilities: Capabilities | undefined, ratio: AspectRatio, tier: Tier): string | undefined {
  const fromProxy = capabilities?.sizes[ratio]?.[tier];
  const size = fromProxy ?? sizeFor(ratio, tier);
  return size === undefined ? undefined : formatSize(size);
}

/** "a-red-bicycle-on-a-hill-2560x1440.png": the prompt's start, the size, the real format. */
export function downloadName(prompt: string, width: number, height: number, mime: string): string {
  const slug =
    prompt
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 48)
      .replace(/-+$/g, '') || 'framefill';
  const extension = mime === 'image/jpeg' ? 'jpg' : mime === 'image/webp' ? 'webp' : 'png';
  return `${slug}-${width}x${height}.${extension}`;
}
