// The mask and mode rules the panel and the proxy share (core/validate.ts), at their boundaries.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { pngHasAlpha } from '../../core/image-header';
import { MASK_MAX_BYTES } from '../../core/limits';
import { validateMask, validateMode } from '../../core/validate';

const rgba = (w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 0 } } })
    .png()
    .toBuffer();
const rgb = (w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: '#ffffff' } })
    .png()
    .toBuffer();

describe('pngHasAlpha', () => {
  it('reads the colour type and tRNS: RGBA and grey+alpha yes, RGB and grey no, a palette with tRNS yes', async () => {
    expect(pngHasAlpha(await rgba(8, 8))).toBe(true);
    expect(
      pngHasAlpha(
        await sharp(await rgba(8, 8))
          .toColourspace('b-w')
          .png()
          .toBuffer(),
      ),
    ).toBe(true);
    expect(pngHasAlpha(await rgb(8, 8))).toBe(false);
    expect(
      pngHasAlpha(
        await sharp(await rgb(8, 8))
          .toColourspace('b-w')
          .png()
          .toBuffer(),
      ),
    ).toBe(false);
    expect(
      pngHasAlpha(
        await sharp(await rgba(8, 8))
          .png({ palette: true })
          .toBuffer(),
      ),
    ).toBe(true);
    expect(
      pngHasAlpha(
        await sharp(await rgb(8, 8))
          .jpeg()
          .toBuffer(),
      ),
    ).toBeUndefined();
  });
});

describe('validateMask', () => {
  const image = { width: 64, height: 48 };
  it('accepts an RGBA PNG of the image size, up to MASK_MAX_BYTES', async () => {
    const mask = await rgba(64, 48);
    expect(validateMask({ mask, image })).toBeUndefined();
    const padded = Buffer.concat([mask, Buffer.alloc(MASK_MAX_BYTES - mask.length)]);
    expect(validateMask({ mask: padded, image })).toBeUndefined();
    const over = Buffer.concat([mask, Buffer.alloc(MASK_MAX_BYTES + 1 - mask.length)]);
    expect(validateMask({ mask: over, image })).toMatchObject({ code: 'mask_too_large', field: 'mask' });
  });

  it('refuses no alpha, another size (one pixel is enough) and a non-PNG, each with its code', async () => {
    expect(validateMask({ mask: await rgb(64, 48), image })?.code).toBe('mask_without_alpha');
    expect(validateMask({ mask: await rgba(65, 48), image })?.code).toBe('mask_size_mismatch');
    expect(validateMask({ mask: await rgba(64, 47), image })?.code).toBe('mask_size_mismatch');
    expect(
      validateMask({
        mask: await sharp(await rgb(64, 48))
          .jpeg()
          .toBuffer(),
        image,
      })?.code,
    ).toBe('unsupported_image');
  });
});

describe('validateMode', () => {
  const base = { referenceCount: 1, hasMask: false, aspectRatio: '16:9' };
  it('takes generate without a mask, edit with image and mask, expand with image, a fixed ratio and no mask', () => {
    expect(validateMode({ ...base, mode: 'generate', referenceCount: 0 })).toBeUndefined();
    expect(validateMode({ ...base, mode: 'edit', hasMask: true })).toBeUndefined();
    expect(validateMode({ ...base, mode: 'edit', hasMask: true, referenceCount: 16 })).toBeUndefined();
    expect(validateMode({ ...base, mode: 'expand' })).toBeUndefined();
  });

  it('refuses the rest, naming the field to fix', () => {
    expect(validateMode({ ...base, mode: 'generate', hasMask: true })?.field).toBe('mask');
    expect(validateMode({ ...base, mode: 'edit' })?.field).toBe('mask');
    expect(validateMode({ ...base, mode: 'edit', hasMask: true, referenceCount: 0 })?.field).toBe('reference');
    expect(validateMode({ ...base, mode: 'expand', hasMask: true })?.field).toBe('mask');
    expect(validateMode({ ...base, mode: 'expand', aspectRatio: 'auto' })?.field).toBe('aspect_ratio');
    expect(validateMode({ ...base, mode: 'inpaint' })?.field).toBe('mode');
  });
});
