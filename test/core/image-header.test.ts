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

  it('knows WebP by its bytes but gives no size for it, since Figma’s createImage refuses WebP', async () => {
    const bytes = await webp(64, 48);
    expect(imageFormatOf(bytes)).toBe('webp');
    expect(readImageSize(bytes)).toBeUndefined();
  });

  it('refuses bytes that only look like the start of an image', () => {
    expect(readImageSize(new TextEncoder().encode('not an image'))).toBeUndefined();
    expect(readImageSize(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBeUndefined();
    expect(imageFormatOf(new Uint8Array(0))).toBeUndefined();
  });
});
