// What a Generate click would do, computed from the panel's choices: one job per target, each at its own
// ratio and effective tier (DESIGN.md §3), and what it costs. Pure, so it is tested without a DOM.
import type { Capabilities } from '../core/api';
import {
  type AspectRatio,
  effectiveTier,
  FIXED_RATIOS,
  formatSize,
  isExperimentalSize,
  type OutputSize,
  QUALITIES,
  type Quality,
  ratioValue,
  sizeFor,
  TIERS,
  type Tier,
  unsupportedReason,
} from '../core/formats';
import type { Settings, Target } from '../core/messages';
import { cropFraction, pickRatio, suggestTier } from '../core/pick';
import { DEFAULT_PRICES, DEFAULT_QUALITY, type PriceTable, priceOf } from '../core/pricing';

/** `from-frame` is the default: each target keeps the ratio picked from its own dimensions. */
export type RatioChoice = Settings['ratio'];

/** What prices a plan: the quality chosen and the proxy's table (core's defaults until it answers). */
export interface Pricing {
  quality: Quality;
  prices: PriceTable;
}

export const DEFAULT_PRICING: Pricing = { quality: DEFAULT_QUALITY, prices: DEFAULT_PRICES };

export interface PlannedJob {
  /** `null`: no usable target, the image goes into a new frame. */
  target: Target | null;
  ratio: AspectRatio;
  tier: Tier;
  /** True when the chosen tier does not exist for this ratio and a smaller one is used. */
  tierCapped: boolean;
  size: OutputSize | undefined;
  /** Share of the image a FILL placement crops away; `undefined` when it depends on the size Auto gets. */
  crop: number | undefined;
  /** Variations of this target (OpenAI's `n`). */
  count: number;
  /** count × the price of one image at this tier. */
  cost: number;
}

/** With "From frame" and nothing selected, the new frame is square. */
const NEW_FRAME_RATIO: AspectRatio = '1:1';

export function planJobs(
  targets: readonly Target[],
  choice: RatioChoice,
  chosenTier: Tier,
  pricing: Pricing = DEFAULT_PRICING,
  count = 1,
): PlannedJob[] {
  const slots: (Target | null)[] = targets.length > 0 ? [...targets] : [null];
  return slots.map((target) => {
    const ratio = choice === 'from-frame' ? (target?.ratio ?? NEW_FRAME_RATIO) : choice;
    const tier = effectiveTier(ratio, chosenTier);
    const crop =
      ratio === 'auto' ? undefined : target ? cropFraction(target.width / target.height, ratioValue(ratio)) : 0;
    return {
      target,
      ratio,
      tier,
      tierCapped: tier !== chosenTier,
      size: sizeFor(ratio, tier),
      crop: crop !== undefined && crop < 1e-9 ? 0 : crop,
      count,
      cost: priceOf(tier, pricing.quality, pricing.prices) * count,
    };
  });
}

export function planCost(jobs: readonly PlannedJob[]): number {
  return jobs.reduce((sum, job) => sum + job.cost, 0);
}

export function ratioLabel(ratio: AspectRatio): string {
  return ratio === 'auto' ? 'Auto' : ratio;
}

/** "2 frames: 9:16, 1:1", or "new frame": the ratios the jobs will really have. */
export function targetsSummary(jobs: readonly PlannedJob[]): string {
  if (jobs.length === 0 || jobs[0]?.target === null) return 'new frame';
  const noun = jobs.length === 1 ? 'frame' : 'frames';
  return `${jobs.length} ${noun}: ${jobs.map((job) => ratioLabel(job.ratio)).join(', ')}`;
}

/** "crops 44%", "no crop", or how Auto's crop is decided. */
export function cropText(job: PlannedJob): string {
  if (job.crop === undefined) return 'crop depends on the size Auto picks';
  const percent = Math.round(job.crop * 100);
  return percent > 0 ? `crops ${percent}%` : 'no crop';
}

/** "Hero 1920×1080 → 1:1 (crops 44%)": the frame, the ratio its image gets, and what FILL crops of it. */
export function targetLine(job: PlannedJob): string {
  const { target } = job;
  if (!target) return `No frame selected: a new ${ratioLabel(job.ratio)} frame is made.`;
  const crop = cropText(job);
  const size = `${Math.round(target.width)}×${Math.round(target.height)}`;
  return `${target.name} ${size} → ${ratioLabel(job.ratio)}${crop === 'no crop' ? '' : ` (${crop})`}`;
}

/**
 * The tier to mark as suggested for this plan: the largest any target needs at its planned ratio (so no frame
 * is upscaled), capped where the ratio has no larger one. A hint only: the chosen tier never follows it.
 */
export function suggestedTier(targets: readonly Target[], choice: RatioChoice, density: number): Tier | undefined {
  let best: Tier | undefined;
  for (const target of targets) {
    const ratio = choice === 'from-frame' ? target.ratio : choice;
    const tier =
      choice === 'from-frame' ? target.suggestedTier : suggestTier(target.width, target.height, ratio, density);
    if (best === undefined || TIERS.indexOf(tier) > TIERS.indexOf(best)) best = tier;
  }
  return best;
}

/** One tier as the Resolution control offers it for this plan. */
export interface TierOption {
  tier: Tier;
  /** Why no job of this plan can have it; `undefined` when it is available. */
  disabledReason: string | undefined;
  /** OpenAI calls the outputs above 2560 × 1440 pixels "experimental": the targets that would get one here. */
  experimentalFor: 'all' | string[];
}

export function tierOptions(
  targets: readonly Target[],
  choice: RatioChoice,
  capabilities: Capabilities | undefined,
): TierOption[] {
  const offered = capabilities ? TIERS.filter((tier) => capabilities.tiers.includes(tier)) : [...TIERS];
  return offered.map((tier) => {
    const jobs = planJobs(targets, choice, tier);
    const ratios = [...new Set(jobs.map((job) => job.ratio))];
    const reachable = jobs.some((job) => job.tier === tier);
    let disabledReason: string | undefined;
    if (!reachable) {
      const [only] = ratios;
      disabledReason =
        ratios.length === 1 && only !== undefined
          ? unsupportedReason(only, tier)
          : `None of these ratios (${ratios.join(', ')}) has ${tier}.`;
    }
    const atTier = jobs.filter((job) => job.tier === tier);
    const experimental = atTier.filter((job) => isExperimental(capabilities, job.ratio, job.tier));
    const experimentalFor =
      experimental.length > 0 && experimental.length === atTier.length
        ? 'all'
        : experimental.map((job) => job.target?.name ?? 'New frame');
    return { tier, disabledReason, experimentalFor };
  });
}

function isExperimental(capabilities: Capabilities | undefined, ratio: AspectRatio, tier: Tier): boolean {
  const fromProxy = capabilities?.sizes[ratio]?.[tier];
  // A proxy may leave the flag out where it is false; the size itself then decides, by OpenAI's rule.
  if (fromProxy !== undefined) return fromProxy !== 'auto' && (fromProxy.experimental ?? isExperimentalSize(fromProxy));
  const size = sizeFor(ratio, tier);
  return size !== undefined && isExperimentalSize(size);
}

/** The proxy's price table, entry by entry over core's, so a proxy that lists fewer prices still prices all. */
export function priceTableOf(capabilities: Capabilities | undefined): PriceTable {
  if (!capabilities) return DEFAULT_PRICES;
  const table = {} as Record<Quality, Record<Tier, number>>;
  for (const quality of QUALITIES) {
    table[quality] = { ...DEFAULT_PRICES[quality] };
    for (const tier of TIERS) {
      const price = capabilities.prices[quality]?.[tier];
      if (price !== undefined) table[quality][tier] = price;
    }
  }
  return table;
}

/** The qualities the proxy offers, in order; all three before it answers. */
export function qualityOptions(capabilities: Capabilities | undefined): Quality[] {
  if (!capabilities) return [...QUALITIES];
  const offered = QUALITIES.filter((quality) => capabilities.qualities.includes(quality));
  return offered.length > 0 ? offered : [DEFAULT_QUALITY];
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

/** What the selection lets the panel do besides generating. */
export type Mode = 'generate' | 'edit' | 'expand';

/** The one target whose image has shapes drawn over it: a region edit. */
export function regionTarget(targets: readonly Target[]): Target | undefined {
  const [only] = targets;
  return targets.length === 1 && only?.image && (only.regionShapeIds?.length ?? 0) > 0 ? only : undefined;
}

/** One expansion: the frame that gets the image, and the frame whose image it expands. */
export interface Expansion {
  target: Target;
  sourceId: string;
}

/**
 * What Expand would do: each selected frame whose image has another ratio than the frame gets its own image
 * expanded; with exactly one selected frame holding an image (a hero) and others holding none, the hero's image
 * is expanded into every one of them (a campaign). `relaunched`: Regenerate on an expanded frame expands its
 * original image again, though the frame's image now has the frame's ratio.
 */
export function expansions(targets: readonly Target[], relaunched = false): Expansion[] {
  const [only] = targets;
  if (relaunched && only && targets.length === 1) return [{ target: only, sourceId: only.id }];
  const own = targets
    .filter((t) => t.image && pickRatio(t.image.width, t.image.height).ratio !== t.ratio)
    .map((target) => ({ target, sourceId: target.id }));
  const heroes = targets.filter((t) => t.image);
  const [hero] = heroes;
  if (heroes.length !== 1 || !hero?.image || heroes.length === targets.length) return own;
  // A frame of the hero's own ratio has nothing around the image to paint: the proxy refuses that expansion.
  const heroRatio = pickRatio(hero.image.width, hero.image.height).ratio;
  const into = targets.filter((t) => !t.image && t.ratio !== heroRatio);
  return [...own, ...into.map((target) => ({ target, sourceId: hero.id }))];
}

export function modesFor(targets: readonly Target[], relaunched: Mode | undefined = undefined): Mode[] {
  return [
    'generate',
    ...(regionTarget(targets) ? (['edit'] as const) : []),
    ...(expansions(targets, relaunched === 'expand').length > 0 ? (['expand'] as const) : []),
  ];
}

/** "Edit the area under 2 shapes in “Hero”", or what Expand will do. */
export function modeNote(
  mode: Mode,
  targets: readonly Target[],
  relaunched: Mode | undefined = undefined,
): string | undefined {
  if (mode === 'edit') {
    const target = regionTarget(targets);
    const count = target?.regionShapeIds?.length ?? 0;
    return target ? `Edit the area under ${count} shape${count === 1 ? '' : 's'} in “${target.name}”.` : undefined;
  }
  if (mode === 'expand') {
    const planned = expansions(targets, relaunched === 'expand');
    const own = planned.filter((e) => e.sourceId === e.target.id).map((e) => `“${e.target.name}”`);
    const into = planned.filter((e) => e.sourceId !== e.target.id).map((e) => `“${e.target.name}”`);
    const hero = targets.find((t) => planned.some((e) => e.sourceId === t.id && e.target.id !== t.id));
    return [
      own.length > 0 ? `Expand the image of ${own.join(', ')} to the frame's ratio; the image itself is kept.` : '',
      hero ? `Expand “${hero.name}” into ${into.join(', ')}, each at its frame's ratio.` : '',
    ]
      .filter(Boolean)
      .join(' ');
  }
  return undefined;
}

/**
 * The jobs of an edit (one, at the image's own ratio, so the image is not distorted) or an expansion (one per
 * expandable target, at its frame's ratio); each is one image at its tier and quality.
 */
export function planModeJobs(
  mode: Exclude<Mode, 'generate'>,
  targets: readonly Target[],
  chosenTier: Tier,
  pricing: Pricing = DEFAULT_PRICING,
  relaunched: Mode | undefined = undefined,
  count = 1,
): PlannedJob[] {
  const planned = modeRatios(mode, targets, relaunched);
  return planJobs(planned.targets, planned.choice, chosenTier, pricing, count);
}

/**
 * The frames an edit or expansion makes images for, and the ratio each gets — the image's own for an edit, the
 * frame's for an expansion; never the Aspect ratio control, which those modes do not show. What the Resolution
 * choices and the suggested tier are worked out from.
 */
export function modeRatios(
  mode: Exclude<Mode, 'generate'>,
  targets: readonly Target[],
  relaunched: Mode | undefined = undefined,
): { targets: Target[]; choice: RatioChoice } {
  if (mode === 'expand') {
    return { targets: expansions(targets, relaunched === 'expand').map((e) => e.target), choice: 'from-frame' };
  }
  const target = regionTarget(targets);
  if (!target?.image) return { targets: [], choice: 'from-frame' };
  return { targets: [target], choice: pickRatio(target.image.width, target.image.height).ratio };
}
