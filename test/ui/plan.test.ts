// What a Generate click would run and cost (DESIGN.md §3): one chosen tier, each target at its own ratio
// and at the largest tier that ratio has when the chosen one does not exist.
import { describe, expect, it } from 'vitest';
import { batchCost, DEFAULT_PRICES } from '../../core/pricing';
import {
  cropText,
  downloadName,
  planCost,
  planJobs,
  priceTableOf,
  suggestedTier,
  targetsSummary,
  tierOptions,
} from '../../ui/plan';
import { CAPABILITIES, frame } from './fixtures';

const story = frame('Story', 1080, 1920);
const avatar = frame('Avatar', 400, 400);

describe('batch plan', () => {
  it('gives each target its own ratio at the one chosen tier', () => {
    const jobs = planJobs([story, avatar], 'from-frame', '2K');
    expect(jobs.map((j) => [j.ratio, j.tier, j.cost])).toEqual([
      ['9:16', '2K', 8],
      ['1:1', '2K', 8],
    ]);
    expect(planCost(jobs)).toBe(16);
  });

  it('caps a 1:1 target at 2K when 4K is chosen and marks it', () => {
    const jobs = planJobs([story, avatar], 'from-frame', '4K');
    expect(jobs.map((j) => [j.ratio, j.tier, j.tierCapped])).toEqual([
      ['9:16', '4K', false],
      ['1:1', '2K', true],
    ]);
    expect(planCost(jobs)).toBe(12 + 8);
  });

  it('costs 9:16 2K + 1:1 1K = 14 as a sum, a mix that one chosen tier never produces', () => {
    expect(
      batchCost([
        { ratio: '9:16', tier: '2K' },
        { ratio: '1:1', tier: '1K' },
      ]),
    ).toBe(14);
    const perChosenTier = (['1K', '2K', '4K'] as const).map((tier) =>
      planCost(planJobs([story, avatar], 'from-frame', tier)),
    );
    expect(perChosenTier).toEqual([12, 16, 20]);
  });

  it('Auto applies to every target at 1K', () => {
    const jobs = planJobs([story, avatar], 'auto', '4K');
    expect(jobs.map((j) => [j.ratio, j.tier])).toEqual([
      ['auto', '1K'],
      ['auto', '1K'],
    ]);
    expect(planCost(jobs)).toBe(12);
  });

  it('plans one new frame when nothing is selected', () => {
    const jobs = planJobs([], 'from-frame', '2K');
    const [job, ...rest] = jobs;
    expect(rest).toEqual([]);
    expect(job).toMatchObject({ target: null, ratio: '1:1', tier: '2K', crop: 0 });
    expect(targetsSummary(jobs)).toBe('new frame');
  });

  it('gives each job the crop of its own ratio, and summarises the ratios the jobs really get', () => {
    const hero = frame('Hero', 1920, 1080);
    expect(cropText(planJobs([hero], 'from-frame', '1K')[0]!)).toBe('no crop');
    const forced = planJobs([hero], '1:1', '1K');
    expect(cropText(forced[0]!)).toBe('crops 44%');
    expect(targetsSummary(forced)).toBe('1 frame: 1:1');
    expect(cropText(planJobs([hero], 'auto', '1K')[0]!)).toBe('crop depends on the size Auto picks');
  });

  it('prices by quality from the table the proxy sends', () => {
    const table = priceTableOf({ ...CAPABILITIES, prices: { high: { '2K': 40 } } });
    expect(table.high['2K']).toBe(40);
    expect(table.medium).toEqual(DEFAULT_PRICES.medium);
    const jobs = planJobs([story, avatar], 'from-frame', '2K', { quality: 'high', prices: table });
    expect(planCost(jobs)).toBe(80);
  });

  it('suggests the largest tier a target needs at its planned ratio, never one the ratio lacks', () => {
    const hero = frame('Hero', 1920, 1080);
    expect(suggestedTier([hero], 'from-frame', 2)).toBe('4K');
    expect(suggestedTier([hero], '1:1', 2)).toBe('2K');
    expect(suggestedTier([hero], 'auto', 2)).toBe('1K');
    expect(suggestedTier([], 'from-frame', 2)).toBeUndefined();
  });

  it('turns off a tier only when no target can have it, with the reason', () => {
    const post = frame('Post', 1080, 1080);
    const options = (targets: ReturnType<typeof frame>[]) =>
      tierOptions(targets, 'from-frame', CAPABILITIES).map((o) => [o.tier, o.disabledReason ?? null]);
    expect(options([post])).toEqual([
      ['1K', null],
      ['2K', null],
      ['4K', '1:1 has no 4K: the largest is 2K.'],
    ]);
    expect(options([post, story])).toEqual([
      ['1K', null],
      ['2K', null],
      ['4K', null],
    ]);
  });

  it('names a download from the prompt, the size and the real format', () => {
    expect(downloadName('Café au lait — on a *marble* table!', 2560, 1440, 'image/png')).toBe(
      'cafe-au-lait-on-a-marble-table-2560x1440.png',
    );
    expect(downloadName('🙂', 1024, 1024, 'image/jpeg')).toBe('framefill-1024x1024.jpg');
    expect(downloadName('x'.repeat(200), 720, 1280, 'image/png')).toBe(`${'x'.repeat(48)}-720x1280.png`);
  });
});
