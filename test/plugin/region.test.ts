// Region edits and expansions in the built main thread on the Figma stand-in: which selections are region edits,
// and what EXPORT_EDIT hands the panel (the fill's own bytes, the shapes' outlines in the frame's space).
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { MainToPanel } from '../../core/messages';
import { loadPlugin } from './harness';

async function withImage(width: number, height: number) {
  const p = await loadPlugin();
  const bytes = new Uint8Array(
    await sharp({ create: { width, height, channels: 3, background: '#336699' } })
      .jpeg()
      .toBuffer(),
  );
  const image = p.figma.createImage(bytes);
  const hero = p.fake.frame(1920, 1080, { name: 'Hero' });
  hero.fills = [{ type: 'IMAGE', imageHash: image.hash, scaleMode: 'FILL' }];
  return { p, hero, image, bytes };
}

describe('region edits on the main thread', () => {
  it('a frame with an image and an ellipse drawn over it is one target with a region', async () => {
    const { p, hero, image } = await withImage(1280, 720);
    const ellipse = p.fake.node('ELLIPSE', 300, 200, { name: 'Ellipse', parent: hero, x: 100, y: 50 });
    const changed = await p.selectAndWait([hero, ellipse]);
    expect(changed.targets).toHaveLength(1);
    expect(changed.targets[0]).toMatchObject({
      id: hero.id,
      regionShapeIds: [ellipse.id],
      image: { hash: image.hash, width: 1280, height: 720 },
    });
  });

  it('a frame without an image fill has no region, whatever is drawn in it', async () => {
    const p = await loadPlugin();
    const frame = p.fake.frame(800, 800, { name: 'Plain', fill: { r: 1, g: 1, b: 1 } });
    p.fake.node('RECTANGLE', 100, 100, { parent: frame });
    const changed = await p.selectAndWait([frame]);
    expect(changed.targets.map((t) => t.id)).toEqual([frame.id]);
    expect(changed.targets[0]?.regionShapeIds).toBeUndefined();
    expect(changed.targets[0]?.image).toBeUndefined();
  });

  it('EXPORT_EDIT answers with the fill image as placed and each shape placed by its transform', async () => {
    const { p, hero, image, bytes } = await withImage(1280, 720);
    const ellipse = p.fake.node('ELLIPSE', 300, 200, { name: 'Ellipse', parent: hero, x: 100, y: 50 });
    const turned = p.fake.node('RECTANGLE', 100, 40, { name: 'Bar', parent: hero, x: 900, y: 600, rotation: 90 });
    await p.selectAndWait([hero]);
    const answer = MainToPanel.EDIT_EXPORTED.parse(
      await p.request('EXPORT_EDIT', { requestId: 'e1', targetId: hero.id, mode: 'edit' }, 'EDIT_EXPORTED'),
    );
    expect(answer.error).toBeUndefined();
    expect(answer.image).toMatchObject({ hash: image.hash, mime: 'image/jpeg', width: 1280, height: 720 });
    expect(Buffer.from(answer.image?.bytes ?? []).equals(Buffer.from(bytes))).toBe(true);
    expect(answer.frame).toEqual({ width: 1920, height: 1080 });
    expect(answer.shapes.map((s) => s.id)).toEqual([ellipse.id, turned.id]);
    expect(answer.shapes[0]?.transform).toEqual([
      [1, 0, 100],
      [-0, 1, 50],
    ]);
    const [[a, b], [c, d]] = answer.shapes[1]?.transform ?? [[], []];
    // 90° counter-clockwise about the top-left corner (rotation = atan2(-m10, m00)).
    expect([a, b, c, d].map((v) => Math.round(v ?? Number.NaN))).toEqual([0, 1, -1, 0]);
    expect(answer.shapes[0]?.paths[0]?.data).toMatch(/^M /);
  });

  it('EXPORT_EDIT without shapes or without an image answers with a sentence, never silence', async () => {
    const { p, hero } = await withImage(1280, 720);
    const noShapes = await p.request(
      'EXPORT_EDIT',
      { requestId: 'e2', targetId: hero.id, mode: 'edit' },
      'EDIT_EXPORTED',
    );
    expect(noShapes.error).toMatch(/Draw a shape over the image of “Hero”/);
    const plain = p.fake.frame(100, 100, { name: 'Plain' });
    const noImage = await p.request(
      'EXPORT_EDIT',
      { requestId: 'e3', targetId: plain.id, mode: 'expand' },
      'EDIT_EXPORTED',
    );
    expect(noImage.error).toMatch(/“Plain” has no image to expand/);
    const expand = await p.request(
      'EXPORT_EDIT',
      { requestId: 'e4', targetId: hero.id, mode: 'expand' },
      'EDIT_EXPORTED',
    );
    expect(expand).toMatchObject({ shapes: [], image: { width: 1280, height: 720 } });
  });

  it('an image Figma shows with Crop or Tile is refused with a sentence; Fit may be expanded, not edited', async () => {
    const { p, hero, image } = await withImage(1280, 720);
    p.fake.node('ELLIPSE', 300, 200, { name: 'Ellipse', parent: hero, x: 100, y: 50 });
    const ask = (mode: 'edit' | 'expand', requestId: string) =>
      p.request('EXPORT_EDIT', { requestId, targetId: hero.id, mode }, 'EDIT_EXPORTED');
    hero.fills = [{ type: 'IMAGE', imageHash: image.hash, scaleMode: 'CROP' }];
    expect((await ask('edit', 'c1')).error).toBe(
      '“Hero” shows its image with Crop, but Framefill can edit only an image shown with Fill. Set the image fill to Fill and try again.',
    );
    expect((await ask('expand', 'c2')).error).toMatch(
      /with Crop, but Framefill can expand only an image shown with Fill or Fit\./,
    );
    hero.fills = [{ type: 'IMAGE', imageHash: image.hash, scaleMode: 'TILE' }];
    expect((await ask('expand', 'c3')).error).toMatch(/with Tile/);
    // FIT centres the whole image, so centring it on a new canvas keeps it where the designer saw it.
    hero.fills = [{ type: 'IMAGE', imageHash: image.hash, scaleMode: 'FIT' }];
    expect((await ask('edit', 'c4')).error).toMatch(/with Fit, but Framefill can edit only/);
    const expand = await ask('expand', 'c5');
    expect(expand.error).toBeUndefined();
    expect(expand).toMatchObject({ image: { hash: image.hash, width: 1280, height: 720 } });
  });
});
