// What the panel offers for a selection besides Generate: a region edit, an expansion of each frame's own image,
// or one hero expanded into a campaign — and what each costs.
import { describe, expect, it } from 'vitest';
import type { Target } from '../../core/messages';
import { pickRatio, suggestTier } from '../../core/pick';
import { priceOf } from '../../core/pricing';
import { expansions, modeNote, modesFor, planModeJobs } from '../../ui/plan';

function target(name: string, width: number, height: number, extra: Partial<Target> = {}): Target {
  const { ratio, cropFraction } = pickRatio(width, height);
  return {
    id: name,
    name,
    width,
    height,
    ratio,
    cropFraction,
    suggestedTier: suggestTier(width, height, ratio),
    ...extra,
  };
}
const image = (width: number, height: number) => ({ hash: `h${width}x${height}`, width, height });

describe('modes for a selection', () => {
  it('a frame with an image and shapes over it is a region edit, at the image ratio, one image at its tier', () => {
    const hero = target('Hero', 1920, 1080, { image: image(1280, 720), regionShapeIds: ['1:2', '1:3'] });
    expect(modesFor([hero])).toEqual(['generate', 'edit']);
    expect(modeNote('edit', [hero])).toBe('Edit the area under 2 shapes in “Hero”.');
    const [job] = planModeJobs('edit', [hero], '2K');
    expect(job).toMatchObject({ ratio: '16:9', tier: '2K', cost: priceOf('2K', 'medium') });
    // Shapes over a frame without an image, or two frames: no region edit.
    expect(modesFor([target('Plain', 1920, 1080, { regionShapeIds: ['1:2'] })])).toEqual(['generate']);
    expect(modesFor([hero, target('Post', 1080, 1080)])).not.toContain('edit');
  });

  it("a frame whose image has another ratio can be expanded to the frame's ratio; a matching one cannot", () => {
    const story = target('Story', 1080, 1920, { image: image(1280, 720) });
    expect(modesFor([story])).toEqual(['generate', 'expand']);
    expect(planModeJobs('expand', [story], '1K')).toMatchObject([{ ratio: '9:16', tier: '1K', cost: 6 }]);
    expect(modesFor([target('Hero', 1920, 1080, { image: image(1280, 720) })])).toEqual(['generate']);
    // …unless it is Regenerate on an expanded frame, which expands the original again.
    expect(modesFor([target('Story', 1080, 1920, { image: image(720, 1280) })], 'expand')).toEqual([
      'generate',
      'expand',
    ]);
  });

  it('one hero and empty frames: the hero is expanded into each, at each frame’s ratio and price', () => {
    const hero = target('Hero', 1920, 1080, { image: image(1280, 720) });
    const post = target('Post', 1080, 1080);
    const editorial = target('Editorial', 1200, 1600);
    expect(expansions([hero, post, editorial])).toEqual([
      { target: post, sourceId: 'Hero' },
      { target: editorial, sourceId: 'Hero' },
    ]);
    // A frame of the hero's own ratio is left out: nothing lies around the image there.
    expect(expansions([hero, post, target('Banner', 1280, 720), editorial])).toEqual([
      { target: post, sourceId: 'Hero' },
      { target: editorial, sourceId: 'Hero' },
    ]);
    expect(modesFor([hero, target('Banner', 1280, 720)])).toEqual(['generate']);
    expect(modeNote('expand', [hero, post, editorial])).toBe(
      "Expand “Hero” into “Post”, “Editorial”, each at its frame's ratio.",
    );
    const jobs = planModeJobs('expand', [hero, post, editorial], '4K');
    expect(jobs.map((j) => [j.ratio, j.tier])).toEqual([
      ['1:1', '2K'],
      ['3:4', '4K'],
    ]);
    // Two frames with images: each expands its own, never another's.
    const other = target('Other', 1080, 1920, { image: image(1280, 720) });
    expect(expansions([hero, other, post])).toEqual([{ target: other, sourceId: 'Other' }]);
  });
});
