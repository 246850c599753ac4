// What a Generate click would run and cost (DESIGN.md §3): one chosen tier, each target at its own ratio
// and at the largest tier that ratio has when the chosen one does not exist.
import { describe, expect, it } from 'vitest';
import { batchCost } from '../../core/pricing';
import { downloadName, planCost, planJobs, targetLine, targetsSummary } from '../../ui/plan';
import { frame } from './fixtures';

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
    const [job, ...rest] = planJobs([], 'from-frame', '2K');
    expect(rest).toEqual([]);
    expect(job).toMatchObject({ target: null, ratio: '1:1', tier: '2K' });
    expect(targetsSummary([])).toBe('new frame');
  });

  it('describes a target with its picked ratio and crop', () => {
    expect(targetLine(frame('Hero', 1920, 1080))).toBe('Hero 1920×1080 → 16:9');
    expect(targetLine(frame('Banner', 1000, 500))).toBe('Banner 1000×500 → 16:9 (crops 11%)');
  });

  it('names a download from the prompt, the size and the real format', () => {
    expect(downloadName('Café au lait — on a *marble* table!', 2560, 1440, 'image/png')).toBe(
      'cafe-au-lait-on-a-marble-table-2560x1440.png',
    );
    expect(downloadName('🙂', 1024, 1024, 'image/jpeg')).toBe('framefill-1024x1024.jpg');
    expect(downloadName('x'.repeat(200), 720, 1280, 'image/png')).toBe(`${'x'.repeat(48)}-720x1280.png`);
  });
});
