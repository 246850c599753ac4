// The playground's FILL and FIT geometry (what Figma's image paints do), checked against the numbers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundsOf, fillSourceRect, fitDestRect, fitView, toDocument, toScreen } from '../../playground/renderer';

describe('image fills are drawn as Figma scales them', () => {
  it('FILL shows the centre of a 16:9 image in a 3:1 banner, cropping top and bottom equally', () => {
    const src = fillSourceRect(1280, 720, 3000, 1000);
    expect(src.x).toBe(0);
    expect(src.width).toBe(1280);
    expect(src.height).toBeCloseTo(1280 / 3, 6);
    expect(src.y).toBeCloseTo((720 - 1280 / 3) / 2, 6);
  });

  it('FILL crops nothing when the frame has the image ratio', () => {
    expect(fillSourceRect(1440, 2560, 1080, 1920)).toEqual({ x: 0, y: 0, width: 1440, height: 2560 });
  });

  it('FILL always covers the node with the image proportions kept, centred', () => {
    const size = fc.integer({ min: 1, max: 5000 });
    fc.assert(
      fc.property(size, size, size, size, (iw, ih, fw, fh) => {
        const src = fillSourceRect(iw, ih, fw, fh);
        // Inside the image, centred, and scaled the same on both axes.
        expect(src.x).toBeGreaterThanOrEqual(-1e-9);
        expect(src.y).toBeGreaterThanOrEqual(-1e-9);
        expect(src.x * 2 + src.width).toBeCloseTo(iw, 6);
        expect(src.y * 2 + src.height).toBeCloseTo(ih, 6);
        expect(fw / src.width).toBeCloseTo(fh / src.height, 6);
        // One axis uses the whole image.
        expect(Math.min(iw - src.width, ih - src.height)).toBeCloseTo(0, 6);
      }),
    );
  });

  it('FIT letterboxes the whole image inside the node', () => {
    expect(fitDestRect(1280, 720, 1000, 1000)).toEqual({ x: 0, y: 218.75, width: 1000, height: 562.5 });
  });
});

describe('the canvas view', () => {
  it('fits all frames with a margin and maps document points to the screen and back', () => {
    const bounds = boundsOf([
      { x: 0, y: 0, width: 1920, height: 1080 },
      { x: 2120, y: 0, width: 1080, height: 1920 },
    ]);
    expect(bounds).toEqual({ x: 0, y: 0, width: 3200, height: 1920 });
    const view = fitView(bounds!, 1000, 800, 50);
    expect(view.zoom).toBeCloseTo(900 / 3200, 9);
    const screen = toScreen(view, { x: 0, y: 0, width: 3200, height: 1920 });
    expect(screen.x).toBeCloseTo(50, 6);
    expect(screen.width).toBeCloseTo(900, 6);
    const back = toDocument(view, screen.x, screen.y);
    expect(back.x).toBeCloseTo(0, 6);
    expect(back.y).toBeCloseTo(0, 6);
  });
});
