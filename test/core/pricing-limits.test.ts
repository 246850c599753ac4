import { describe, expect, it } from 'vitest';
import {
  batchCost,
  countPromptChars,
  DEFAULT_PRICES,
  ERROR_ADVICE,
  ERROR_CODES,
  ERROR_STATUS,
  HISTORY_QUERY_MAX_CHARS,
  MAX_REFERENCES,
  PROMPT_MAX_CHARS,
  PriceTableSchema,
  priceOf,
  promptProblem,
  searchProblem,
  sniffImageMime,
  validateGeneration,
} from '../../core';

const draft = (over: Partial<Parameters<typeof validateGeneration>[0]> = {}) => ({
  prompt: 'A poster',
  aspectRatio: '16:9',
  resolution: '2K',
  referenceCount: 0,
  ...over,
});

describe('prices', () => {
  it('are 6 / 8 / 12 credits per 1K / 2K / 4K at medium, the default quality', () => {
    expect(DEFAULT_PRICES.medium).toEqual({ '1K': 6, '2K': 8, '4K': 12 });
    expect(priceOf('4K')).toBe(12);
  });

  it("low and high follow OpenAI's 1024² price ratios to medium, rounded up, at least 1", () => {
    const usd = { low: 0.006, medium: 0.053, high: 0.211 };
    for (const quality of ['low', 'high'] as const) {
      for (const tier of ['1K', '2K', '4K'] as const) {
        const expected = Math.max(1, Math.ceil((DEFAULT_PRICES.medium[tier] * usd[quality]) / usd.medium));
        expect(priceOf(tier, quality)).toBe(expected);
      }
    }
    expect(DEFAULT_PRICES.low).toEqual({ '1K': 1, '2K': 1, '4K': 2 });
    expect(DEFAULT_PRICES.high).toEqual({ '1K': 24, '2K': 32, '4K': 48 });
  });

  it('an operator table must name every quality and tier in whole credits', () => {
    expect(PriceTableSchema.safeParse(DEFAULT_PRICES).success).toBe(true);
    expect(PriceTableSchema.safeParse({ ...DEFAULT_PRICES, high: { '1K': 24, '2K': 32 } }).success).toBe(false);
    expect(PriceTableSchema.safeParse({ ...DEFAULT_PRICES, low: { '1K': 0.5, '2K': 1, '4K': 2 } }).success).toBe(false);
    expect(PriceTableSchema.safeParse({ ...DEFAULT_PRICES, auto: DEFAULT_PRICES.medium }).success).toBe(false);
  });

  it('a batch costs the sum of its images', () => {
    expect(batchCost([])).toBe(0);
    expect(
      batchCost([
        { ratio: '9:16', tier: '2K' },
        { ratio: '1:1', tier: '1K' },
      ]),
    ).toBe(14);
    expect(
      batchCost([
        { ratio: '9:16', tier: '2K' },
        { ratio: '1:1', tier: '2K' },
      ]),
    ).toBe(16);
  });

  it('a target whose ratio lacks the tier is priced at the tier it really gets', () => {
    expect(
      batchCost([
        { ratio: '1:1', tier: '4K' },
        { ratio: '16:9', tier: '4K' },
      ]),
    ).toBe(8 + 12);
    expect(batchCost([{ ratio: 'auto', tier: '4K' }])).toBe(6);
  });
});

describe('the prompt limit', () => {
  it('accepts exactly 20,000 characters and refuses 20,001 with prompt_too_long', () => {
    expect(promptProblem('a'.repeat(PROMPT_MAX_CHARS))).toBeUndefined();
    expect(promptProblem('a'.repeat(PROMPT_MAX_CHARS + 1))).toBe('prompt_too_long');
    expect(validateGeneration(draft({ prompt: 'a'.repeat(PROMPT_MAX_CHARS + 1) }))?.code).toBe('prompt_too_long');
  });

  it('counts code points, so an emoji counts once', () => {
    expect(countPromptChars('🎨')).toBe(1);
    expect(promptProblem('🎨'.repeat(PROMPT_MAX_CHARS))).toBeUndefined();
    expect(promptProblem('🎨'.repeat(PROMPT_MAX_CHARS + 1))).toBe('prompt_too_long');
  });

  it('trims before counting, and an empty prompt is prompt_empty', () => {
    expect(promptProblem(`  ${'a'.repeat(PROMPT_MAX_CHARS)}\n`)).toBeUndefined();
    expect(promptProblem('   \n')).toBe('prompt_empty');
    expect(validateGeneration(draft({ prompt: '' }))).toMatchObject({ code: 'prompt_empty', field: 'prompt' });
  });

  it('refuses a NUL character anywhere in the prompt with invalid_request on prompt', () => {
    for (const prompt of ['\u0000', 'a poster\u0000', '\u0000a poster', 'a\u0000b']) {
      expect(validateGeneration(draft({ prompt }))).toMatchObject({ code: 'invalid_request', field: 'prompt' });
    }
    expect(validateGeneration(draft({ prompt: 'a poster \u0001 ok' }))).toBeUndefined();
  });
});

describe('the History search, shared by the panel and the proxy', () => {
  it(`takes ${HISTORY_QUERY_MAX_CHARS} code points after trimming, refuses one more and any NUL`, () => {
    expect(searchProblem(` ${'🎨'.repeat(HISTORY_QUERY_MAX_CHARS)} `)).toBeUndefined();
    expect(searchProblem('a'.repeat(HISTORY_QUERY_MAX_CHARS + 1))).toMatch(/shorten it by 1\./);
    expect(searchProblem('red\u0000kite')).toMatch(/U\+0000/);
  });
});

describe('the reference limit', () => {
  it('accepts 16 references and refuses 17 with too_many_references', () => {
    expect(validateGeneration(draft({ referenceCount: MAX_REFERENCES }))).toBeUndefined();
    expect(validateGeneration(draft({ referenceCount: MAX_REFERENCES + 1 }))?.code).toBe('too_many_references');
  });
});

describe('the size limit', () => {
  it('refuses impossible pairs with unsupported_size and unknown values with invalid_request', () => {
    expect(validateGeneration(draft({ aspectRatio: 'auto', resolution: '2K' }))?.code).toBe('unsupported_size');
    expect(validateGeneration(draft({ aspectRatio: '1:1', resolution: '4K' }))?.code).toBe('unsupported_size');
    expect(validateGeneration(draft({ aspectRatio: '2:1' }))?.code).toBe('invalid_request');
    expect(validateGeneration(draft({ resolution: '8K' }))?.code).toBe('invalid_request');
    expect(validateGeneration(draft({ aspectRatio: 'auto', resolution: '1K' }))).toBeUndefined();
  });
});

describe('image sniffing', () => {
  it('reads PNG, JPEG and WebP from their magic bytes only', () => {
    expect(sniffImageMime(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]))).toBe('image/png');
    expect(sniffImageMime(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(sniffImageMime(new TextEncoder().encode('RIFF\0\0\0\0WEBPVP8 '))).toBe('image/webp');
    expect(sniffImageMime(new TextEncoder().encode('GIF89a'))).toBeUndefined();
    expect(sniffImageMime(new Uint8Array(0))).toBeUndefined();
  });
});

describe('error codes', () => {
  it('carry the HTTP statuses of DESIGN.md §6', () => {
    expect(ERROR_STATUS).toMatchObject({
      prompt_empty: 400,
      prompt_too_long: 400,
      too_many_references: 400,
      unsupported_size: 400,
      invalid_request: 400,
      mask_size_mismatch: 400,
      mask_without_alpha: 400,
      unauthorized: 401,
      insufficient_credits: 402,
      forbidden_origin: 403,
      not_found: 404,
      not_ready: 409,
      idempotency_conflict: 409,
      payload_too_large: 413,
      reference_too_large: 413,
      mask_too_large: 413,
      unsupported_image: 415,
      rate_limited: 429,
      content_policy: 422,
      upstream_error: 502,
      upstream_timeout: 504,
      internal: 500,
      interrupted: 503,
    });
    expect(ERROR_CODES).toHaveLength(23);
  });

  it('each has a sentence that tells the user what to do', () => {
    for (const code of ERROR_CODES) expect(ERROR_ADVICE[code]).toMatch(/^[A-Z].{20,}\.$/);
  });
});
