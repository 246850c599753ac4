import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cropFraction, FIXED_RATIOS, pickRatio, ratioValue, suggestTier } from '../../core';

const transpose = { '1:1': '1:1', '16:9': '9:16', '9:16': '16:9', '4:3': '3:4', '3:4': '4:3' } as const;

describe('pickRatio on frame sizes designers use', () => {
  it.each([
    [1920, 1080, '16:9', 0],
    [1080, 1920, '9:16', 0],
    [1080, 1080, '1:1', 0],
    [1440, 1024, '4:3', 1 - 4 / 3 / (1440 / 1024)],
    [1200, 628, '16:9', 1 - 16 / 9 / (1200 / 628)],
    [1080, 1350, '3:4', 1 - 0.75 / 0.8],
    [2480, 3508, '3:4', 1 - 2480 / 3508 / 0.75],
    [3000, 1000, '16:9', 1 - 16 / 9 / 3],
    [1, 1, '1:1', 0],
    [1, 10000, '9:16', 1 - 0.0001 / (9 / 16)],
  ])('%i×%i → %s', (w, h, ratio, crop) => {
    const pick = pickRatio(w, h);
    expect(pick.ratio).toBe(ratio);
    expect(pick.cropFraction).toBeCloseTo(crop, 10);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses a dimension of %s', (bad) => {
    expect(() => pickRatio(bad, 100)).toThrow(RangeError);
    expect(() => pickRatio(100, bad)).toThrow(/Invalid frame/);
  });

  it('ties go to the squarer ratio', () => {
    // √(4/3) is exactly between 1:1 and 4:3 in log-space.
    expect(pickRatio(Math.sqrt(4 / 3), 1).ratio).toBe('1:1');
    expect(pickRatio(1, Math.sqrt(4 / 3)).ratio).toBe('1:1');
    // (4/3)^1.5 is exactly between 4:3 and 16:9.
    expect(pickRatio((4 / 3) ** 1.5, 1).ratio).toBe('4:3');
  });
});

const dimension = fc.double({ min: 1, max: 100_000, noNaN: true, noDefaultInfinity: true });

describe('pickRatio properties', () => {
  it('is invariant under uniform scaling', () => {
    fc.assert(
      fc.property(dimension, dimension, fc.double({ min: 0.01, max: 100, noNaN: true }), (w, h, k) => {
        expect(pickRatio(w * k, h * k).ratio).toBe(pickRatio(w, h).ratio);
      }),
    );
  });

  it('transposing the frame transposes the ratio', () => {
    fc.assert(
      fc.property(dimension, dimension, (w, h) => {
        expect(pickRatio(h, w).ratio).toBe(transpose[pickRatio(w, h).ratio]);
      }),
    );
  });

  it('crops 0 ≤ f < 1 and no other ratio would crop less', () => {
    fc.assert(
      fc.property(dimension, dimension, (w, h) => {
        const { ratio, cropFraction: crop } = pickRatio(w, h);
        expect(crop).toBeGreaterThanOrEqual(0);
        expect(crop).toBeLessThan(1);
        for (const other of FIXED_RATIOS) {
          expect(cropFraction(w / h, ratioValue(other))).toBeGreaterThanOrEqual(crop - 1e-12);
        }
        expect(ratio).not.toBe('auto');
      }),
    );
  });
});

describe('suggestTier', () => {
  it('takes the smallest tier whose long edge covers the frame at density 1', () => {
    expect(suggestTier(1280, 720, '16:9', 1)).toBe('1K');
    expect(suggestTier(1281, 720, '16:9', 1)).toBe('2K');
    expect(suggestTier(2560, 1440, '16:9', 1)).toBe('2K');
    expect(suggestTier(2561, 1440, '16:9', 1)).toBe('4K');
    expect(suggestTier(3264, 2448, '4:3', 1)).toBe('4K');
  });

  it('doubles the frame at the default density of 2', () => {
    expect(suggestTier(640, 360, '16:9')).toBe('1K');
    expect(suggestTier(641, 360, '16:9')).toBe('2K');
    expect(suggestTier(1280, 720, '16:9', 2)).toBe('2K');
    expect(suggestTier(1281, 720, '16:9', 2)).toBe('4K');
    expect(suggestTier(1920, 1080, '16:9')).toBe('4K');
  });

  it('is capped at the largest tier the ratio has', () => {
    expect(suggestTier(5000, 5000, '1:1')).toBe('2K');
    expect(suggestTier(1025, 1025, '1:1', 1)).toBe('2K');
    expect(suggestTier(5000, 5000, 'auto')).toBe('1K');
    expect(suggestTier(9000, 100, '16:9')).toBe('4K');
  });

  it('refuses invalid input', () => {
    expect(() => suggestTier(0, 10, '1:1')).toThrow(RangeError);
    expect(() => suggestTier(10, 10, '1:1', 0)).toThrow(/density/);
  });
});
