import { describe, expect, it } from 'vitest';
import {
  ASPECT_RATIOS,
  effectiveTier,
  FIGMA_MAX_IMAGE_EDGE,
  FIXED_RATIOS,
  isSupportedPair,
  largestTier,
  modelSizeViolation,
  type PixelSize,
  ratioValue,
  SIZES,
  sizeFor,
  sizeParam,
  TIERS,
  tiersFor,
  unsupportedReason,
} from '../../core';

const fixedEntries = FIXED_RATIOS.flatMap((ratio) =>
  TIERS.flatMap((tier) => {
    const size = sizeFor(ratio, tier);
    return size && size !== 'auto' ? [{ ratio, tier, size }] : [];
  }),
);

describe('the size table', () => {
  it.each(fixedEntries)('$ratio $tier is exactly its ratio on the 16-px grid', ({ ratio, size }) => {
    const [rw, rh] = ratio.split(':').map(Number) as [number, number];
    expect(size.width * rh).toBe(size.height * rw);
    expect(size.width % 16).toBe(0);
    expect(size.height % 16).toBe(0);
  });

  it.each(fixedEntries)('$ratio $tier obeys GPT Image 2 size rules and Figma createImage', ({ size }) => {
    const long = Math.max(size.width, size.height);
    const short = Math.min(size.width, size.height);
    expect(long).toBeLessThanOrEqual(3840);
    expect(short / long).toBeGreaterThanOrEqual(1 / 3);
    expect(size.width * size.height).toBeGreaterThanOrEqual(655_360);
    expect(size.width * size.height).toBeLessThanOrEqual(8_294_400);
    expect(size.width).toBeLessThanOrEqual(FIGMA_MAX_IMAGE_EDGE);
    expect(size.height).toBeLessThanOrEqual(FIGMA_MAX_IMAGE_EDGE);
    expect(modelSizeViolation(size.width, size.height)).toBeUndefined();
  });

  it('holds the sizes of DESIGN.md §2', () => {
    const table: Record<string, Record<string, PixelSize | 'auto'>> = {
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
    expect(SIZES).toEqual(table);
  });

  it('4K is the largest exact size under the area cap and 1K about a megapixel', () => {
    for (const ratio of FIXED_RATIOS) {
      const [rw, rh] = ratio.split(':').map(Number) as [number, number];
      const exact: PixelSize[] = [];
      for (let k = 1; k * rw <= 3840 && k * rh <= 3840; k++) {
        const width = k * rw;
        const height = k * rh;
        if (modelSizeViolation(width, height) === undefined) exact.push({ width, height });
      }
      const fourK = sizeFor(ratio, '4K');
      if (fourK) expect(fourK).toEqual(exact[exact.length - 1]);
      const oneK = sizeFor(ratio, '1K') as PixelSize;
      expect(oneK.width * oneK.height).toBeGreaterThan(0.7 * 1024 * 1024);
      expect(oneK.width * oneK.height).toBeLessThanOrEqual(1024 * 1024);
    }
  });
});

describe('the (ratio, tier) constraints', () => {
  it('Auto exists at 1K only', () => {
    expect(tiersFor('auto')).toEqual(['1K']);
    expect(sizeFor('auto', '1K')).toBe('auto');
    expect(unsupportedReason('auto', '2K')).toMatch(/1K only/);
  });

  it('1:1 exists at 1K and 2K, not 4K', () => {
    expect(tiersFor('1:1')).toEqual(['1K', '2K']);
    expect(isSupportedPair('1:1', '4K')).toBe(false);
    expect(unsupportedReason('1:1', '4K')).toMatch(/no 4K/);
  });

  it('every other ratio has all three tiers', () => {
    for (const ratio of ['16:9', '9:16', '4:3', '3:4'] as const) expect(tiersFor(ratio)).toEqual(['1K', '2K', '4K']);
  });

  it('a tier that does not exist falls back to the largest the ratio has', () => {
    expect(effectiveTier('1:1', '4K')).toBe('2K');
    expect(effectiveTier('auto', '4K')).toBe('1K');
    expect(effectiveTier('16:9', '4K')).toBe('4K');
    expect(largestTier('1:1')).toBe('2K');
    for (const ratio of ASPECT_RATIOS)
      for (const tier of TIERS) expect(isSupportedPair(ratio, effectiveTier(ratio, tier))).toBe(true);
  });

  it('formats OpenAI size parameters', () => {
    expect(sizeParam({ width: 3840, height: 2160 })).toBe('3840x2160');
    expect(sizeParam('auto')).toBe('auto');
    expect(ratioValue('16:9')).toBeCloseTo(16 / 9);
  });
});

describe('the model size rule', () => {
  it.each([
    [1024, 1024, undefined],
    [1000, 1000, /multiples of 16/],
    [3856, 2160, /long edge/],
    [3072, 1008, /3:1/],
    [640, 1008, /pixels/],
    [3840, 2176, /pixels/],
    [0, 1024, /positive/],
  ])('%i×%i', (w, h, expected) => {
    const violation = modelSizeViolation(w, h);
    if (expected === undefined) expect(violation).toBeUndefined();
    else expect(violation).toMatch(expected);
  });
});
