import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { imageFormatOf, readImageSize } from '../../core';
import { jpeg, png, webp } from '../helpers/images';

describe('reading an image header without decoding', () => {
  it('gives the format and pixel size of PNG and JPEG bytes', async () => {
    expect(readImageSize(await png(2560, 1440))).toEqual({ format: 'png', width: 2560, height: 1440 });
    expect(readImageSize(await jpeg(720, 1280))).toEqual({ format: 'jpeg', width: 720, height: 1280 });
  });

  it('reads a GIF’s logical screen size', () => {
    const gif = Uint8Array.from([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x00, 0x05, 0x10, 0x00]);
    expect(readImageSize(gif)).toEqual({ format: 'gif', width: 1280, height: 16 });
  });

  it('reads the size of lossy, lossless and extended (alpha) WebP', async () => {
    const opaque = sharp({ create: { width: 1000, height: 750, channels: 3, background: '#3366aa' } });
    const alpha = sharp({ create: { width: 300, height: 4000, channels: 4, background: '#33669980' } });
    const cases: Array<[Buffer, string]> = [
      [await opaque.clone().webp().toBuffer(), 'VP8 '],
      [await opaque.clone().webp({ lossless: true }).toBuffer(), 'VP8L'],
      [await alpha.clone().webp().toBuffer(), 'VP8X'],
    ];
    for (const [bytes, chunk] of cases) {
      expect(bytes.toString('latin1', 12, 16)).toBe(chunk);
      expect(imageFormatOf(bytes)).toBe('webp');
      expect(readImageSize(bytes)).toEqual({
        format: 'webp',
        ...(chunk === 'VP8X' ? { width: 300, height: 4000 } : { width: 1000, height: 750 }),
      });
    }
    expect(readImageSize(await webp(64, 48))).toEqual({ format: 'webp', width: 64, height: 48 });
  });

  it('gives no size for a JPEG whose frame header lies beyond the bytes it was given', async () => {
    const bytes = await jpeg(720, 1280);
    const sof = bytes.findIndex((v, i) => v === 0xff && bytes[i + 1] === 0xc0);
    expect(readImageSize(bytes.subarray(0, sof + 4))).toBeUndefined();
  });

  it('refuses bytes that only look like the start of an image', () => {
    expect(readImageSize(new TextEncoder().encode('not an image'))).toBeUndefined();
    expect(readImageSize(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBeUndefined();
    expect(imageFormatOf(new Uint8Array(0))).toBeUndefined();
  });
});
