// Selecting layers on the canvas tells the panel which can receive an image, with ratio, crop and tier.
import { describe, expect, it } from 'vitest';
import { loadPlugin } from './harness';

describe('selection → targets', () => {
  it('a 1920×1080 frame is a 16:9 target with no crop, suggested 4K', async () => {
    const p = await loadPlugin({ setup: (f) => f.select([f.frame(1920, 1080, { name: 'Hero' })]) });
    const { selection } = p.opened!;
    expect(selection.selectionCount).toBe(1);
    expect(selection.unusable).toEqual([]);
    expect(selection.targets).toEqual([
      expect.objectContaining({
        name: 'Hero',
        width: 1920,
        height: 1080,
        ratio: '16:9',
        cropFraction: 0,
        suggestedTier: '4K',
      }),
    ]);
  });

  it('a 1080×1350 frame is 3:4 with the crop FILL will cut', async () => {
    const p = await loadPlugin();
    const changed = await p.selectAndWait([p.fake.frame(1080, 1350)]);
    const [target] = changed.targets;
    expect(target?.ratio).toBe('3:4');
    // 1080/1350 = 0.8 against 0.75: FILL crops 1 − 0.75/0.8 = 6.25 % of the image.
    expect(target?.cropFraction).toBeCloseTo(0.0625, 10);
  });

  it('a text layer alone is reported unusable, with a reason', async () => {
    const p = await loadPlugin();
    const text = p.fake.node('TEXT', 200, 40, { name: 'Title' });
    const changed = await p.selectAndWait([text]);
    expect(changed.targets).toEqual([]);
    expect(changed.unusable).toEqual([
      { id: text.id, name: 'Title', type: 'TEXT', reason: expect.stringMatching(/frame or shape/) },
    ]);
    expect(changed.selectionCount).toBe(1);
  });

  it('mixed selections keep every layer: shapes and instances are targets, groups, sections and lines are not', async () => {
    const p = await loadPlugin();
    const f = p.fake;
    const nodes = [
      f.node('INSTANCE', 400, 300),
      f.node('ELLIPSE', 100, 100),
      f.node('GROUP', 300, 300),
      f.node('SECTION', 1000, 800),
      f.node('LINE', 200, 0),
    ];
    const changed = await p.selectAndWait(nodes);
    expect(changed.targets.map((t) => t.id)).toEqual([nodes[0]?.id, nodes[1]?.id]);
    expect(changed.unusable.map((u) => u.type)).toEqual(['GROUP', 'SECTION', 'LINE']);
    expect(changed.selectionCount).toBe(5);
  });

  it('the suggested tier follows the density setting', async () => {
    const p = await loadPlugin({ setup: (f) => f.select([f.frame(800, 450)]) });
    expect(p.opened?.selection.targets[0]?.suggestedTier).toBe('2K');
    const settings = { ...p.opened!.storage.settings, density: 1 };
    const from = p.fake.uiMessages.length;
    p.send('SAVE_STORAGE', { settings });
    const changed = await p.fake.waitForMessage<{ targets: Array<{ suggestedTier: string }> }>(
      'SELECTION_CHANGED',
      from,
    );
    expect(changed.targets[0]?.suggestedTier).toBe('1K');
  });

  it('selecting 500 layers answers with one message, a few property reads per layer and no export', async () => {
    const p = await loadPlugin();
    const nodes = Array.from({ length: 500 }, (_, i) =>
      i % 10 === 0 ? p.fake.node('TEXT', 100, 20) : p.fake.frame(100 + i, 100, { x: i * 120 }),
    );
    const readsBefore = p.fake.propertyReads;
    const from = p.fake.uiMessages.length;
    const changed = await p.selectAndWait(nodes);
    await p.fake.settle();
    expect(p.fake.uiMessages.slice(from).filter((m) => (m as unknown[])[0] === 'SELECTION_CHANGED')).toHaveLength(1);
    expect(changed.targets).toHaveLength(450);
    expect(changed.unusable).toHaveLength(50);
    expect(p.fake.propertyReads - readsBefore).toBeLessThanOrEqual(500 * 10);
    expect(p.fake.exports).toEqual([]);
  });
});
