// The mask of a region drawn with a vector and a boolean group, end to end: the built main thread on the Figma
// stand-in recognises the shapes and hands over their outlines (`fillGeometry`, placed by their transform), and
// the panel's own mask code (ui/mask.ts) rasterises them in Chromium. Every pixel of the mask is checked against
// the shapes' geometry, mapped into the image by Figma's FILL placement.
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { MainToPanel } from '../../core/messages';
import { loadPlugin } from '../plugin/harness';
import { useChromium } from './helpers/chromium';

const chromium = useChromium();

declare global {
  interface Window {
    maskModule: typeof import('../../ui/mask');
  }
}

/** The panel's mask module, bundled for a blank page. */
async function maskScript(): Promise<string> {
  const built = await esbuild.build({
    entryPoints: ['ui/mask.ts'],
    bundle: true,
    format: 'iife',
    globalName: 'maskModule',
    write: false,
    logLevel: 'silent',
  });
  return built.outputFiles[0]?.text ?? '';
}

type Point = [number, number];
const cross = (o: Point, a: Point, b: Point) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);

describe('region masks from vectors and boolean groups', () => {
  it('a vector triangle and a boolean union over a hero: detected, exported, and masked pixel by pixel', async () => {
    const p = await loadPlugin();
    const bytes = new Uint8Array(
      await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#336699' } })
        .png()
        .toBuffer(),
    );
    const image = p.figma.createImage(bytes);
    const hero = p.fake.frame(1920, 1080, { name: 'Hero' });
    hero.fills = [{ type: 'IMAGE', imageHash: image.hash, scaleMode: 'FILL' }];
    // The triangle of Figma's VectorPath page, scaled up, at (300, 150) in the frame.
    const triangle = p.fake.node('VECTOR', 300, 300, { name: 'Triangle', parent: hero, x: 300, y: 150 });
    triangle.vectorPaths = [{ windingRule: 'EVENODD', data: 'M 0 300 L 300 300 L 150 0 Z' }];
    // A rectangle united with a circle; a boolean group's children sit in the frame's space.
    const union = p.fake.node('BOOLEAN_OPERATION', 300, 250, { name: 'Blob', parent: hero, x: 1200, y: 500 });
    p.fake.node('RECTANGLE', 200, 100, { parent: union, x: 1200, y: 500 });
    p.fake.node('ELLIPSE', 200, 200, { parent: union, x: 1300, y: 550 });

    const changed = await p.selectAndWait([hero]);
    expect(changed.targets).toHaveLength(1);
    expect(changed.targets[0]?.regionShapeIds).toEqual([triangle.id, union.id]);
    const answer = MainToPanel.EDIT_EXPORTED.parse(
      await p.request('EXPORT_EDIT', { requestId: 'v1', targetId: hero.id, mode: 'edit' }, 'EDIT_EXPORTED'),
    );
    expect(answer.error).toBeUndefined();
    expect(answer.shapes.map((s) => s.name)).toEqual(['Triangle', 'Blob']);
    if (!answer.image || !answer.frame) throw new Error('no image exported');

    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    await page.setContent('<!doctype html><title>mask</title>');
    await page.addScriptTag({ content: await maskScript() });
    const png = await page.evaluate(
      async ({ size, frame, shapes }) => Array.from(await window.maskModule.renderMask(size, frame, shapes)),
      {
        size: { width: answer.image.width, height: answer.image.height },
        frame: answer.frame,
        shapes: answer.shapes,
      },
    );
    await context.close();

    const { data, info } = await sharp(Buffer.from(png)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([1280, 720]);
    // In frame units: FILL scales 1280×720 by 1.5 to cover 1920×1080, with no offset.
    const a: Point = [300, 450];
    const b: Point = [600, 450];
    const c: Point = [450, 150];
    const inside = (x: number, y: number) => {
      const t = [cross(a, b, [x, y]), cross(b, c, [x, y]), cross(c, a, [x, y])];
      const inTriangle = t.every((v) => v >= 0) || t.every((v) => v <= 0);
      const inRect = x >= 1200 && x <= 1400 && y >= 500 && y <= 600;
      const inCircle = (x - 1400) ** 2 + (y - 650) ** 2 <= 100 ** 2;
      return inTriangle || inRect || inCircle;
    };
    const expected = (px: number, py: number) => inside((px + 0.5) * 1.5, (py + 0.5) * 1.5);
    let transparent = 0;
    const wrong: Point[] = [];
    for (let py = 0; py < info.height; py++) {
      for (let px = 0; px < info.width; px++) {
        const alpha = data[(py * info.width + px) * 4 + 3] ?? 255;
        if (alpha < 128) transparent++;
        if (alpha < 128 === expected(px, py)) continue;
        // Antialiasing decides pixels the outline crosses: a neighbour is on the other side there.
        const edge = [-1, 0, 1].some((dx) => [-1, 0, 1].some((dy) => expected(px + dx, py + dy) !== expected(px, py)));
        if (!edge) wrong.push([px, py]);
      }
    }
    expect(wrong).toEqual([]);
    // Triangle 45 000 + rectangle 20 000 + circle 31 416 − their overlap 3 071 (frame units²), over 1.5².
    expect(transparent / ((45_000 + 20_000 + Math.PI * 100 ** 2 - 3_071) / 2.25)).toBeCloseTo(1, 1);
  });
});
