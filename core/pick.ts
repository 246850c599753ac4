// Ratio from a frame's dimensions, and the tier its size suggests (DESIGN.md §3).
import {
  type AspectRatio,
  FIXED_RATIOS,
  type FixedRatio,
  largestTier,
  longEdge,
  ratioValue,
  sizeFor,
  type Tier,
  tiersFor,
} from './formats';

export interface RatioPick {
  ratio: FixedRatio;
  /** Share of the generated image that a FILL placement crops away to cover the frame. */
  cropFraction: number;
}

// Log-distances are compared with a tolerance so that ties of exact arithmetic stay ties in floats.
const TIE_EPSILON = 1e-12;

export function assertDimensions(width: number, height: number): void {
  for (const [name, value] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new RangeError(`Invalid frame ${name}: ${String(value)}. Frames need a positive, finite size.`);
    }
  }
}

/** FILL scales the image to cover the frame; the cropped share follows from the two ratios alone. */
export function cropFraction(frameRatio: number, imageRatio: number): number {
  return 1 - Math.min(frameRatio / imageRatio, imageRatio / frameRatio);
}

export function pickRatio(width: number, height: number): RatioPick {
  assertDimensions(width, height);
  const frame = Math.log(width / height);
  let best: FixedRatio = '1:1';
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const ratio of FIXED_RATIOS) {
    const candidate = Math.log(ratioValue(ratio));
    const distance = Math.abs(frame - candidate);
    const squarer = Math.abs(candidate) < Math.abs(Math.log(ratioValue(best)));
    if (distance < bestDistance - TIE_EPSILON || (Math.abs(distance - bestDistance) <= TIE_EPSILON && squarer)) {
      best = ratio;
      bestDistance = distance;
    }
  }
  const crop = cropFraction(width / height, ratioValue(best));
  return { ratio: best, cropFraction: crop < TIE_EPSILON ? 0 : crop };
}

/** The smallest tier whose long edge covers the frame's long edge × density, capped at the ratio's largest. */
export function suggestTier(width: number, height: number, ratio: AspectRatio, density = 2): Tier {
  assertDimensions(width, height);
  if (!Number.isFinite(density) || density <= 0) throw new RangeError(`Invalid density: ${String(density)}`);
  const needed = Math.max(width, height) * density;
  for (const tier of tiersFor(ratio)) {
    const size = sizeFor(ratio, tier);
    if (size === undefined || size === 'auto') return tier;
    if (longEdge(size) >= needed) return tier;
  }
  return largestTier(ratio);
}
