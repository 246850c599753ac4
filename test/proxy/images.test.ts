// The check every provider result passes before its job may complete: a cut-off or damaged image fails the job
// (upstream_error, credits released) instead of reaching Figma; a whole one passes untouched.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { damage, previewOf, verifyResult } from '../../proxy/images';

const SIZE = { width: 320, height: 180 };

/** A photo-like image (noise), so the compressed data spans many bytes and chunks. */
async function photo(format: 'png' | 'jpeg' | 'webp'): Promise<Buffer> {
  const pixels = Buffer.alloc(SIZE.width * SIZE.height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251;
  const image = sharp(pixels, { raw: { ...SIZE, channels: 3 } });
  if (format === 'png') return image.png({ compressionLevel: 1 }).toBuffer();
  if (format === 'jpeg') return image.jpeg({ quality: 90 }).toBuffer();
  return image.webp().toBuffer();
}

describe('verifyResult', () => {
  it('passes a whole PNG and a whole JPEG through byte for byte', async () => {
    for (const format of ['png', 'jpeg'] as const) {
      const bytes = await photo(format);
      const verified = await verifyResult(bytes, SIZE, format);
      expect(verified.bytes.equals(bytes)).toBe(true);
      expect(verified).toMatchObject({ ...SIZE, notes: [] });
    }
  });

  it('fails a PNG or JPEG cut off anywhere after its header with upstream_error', async () => {
    for (const format of ['png', 'jpeg'] as const) {
      const bytes = await photo(format);
      for (let cut = 40; cut < bytes.length - 1; cut += Math.ceil(bytes.length / 60)) {
        await expect(
          verifyResult(bytes.subarray(0, cut), SIZE, format),
          `${format} cut at ${cut}`,
        ).rejects.toMatchObject({ code: 'upstream_error' });
      }
    }
  });

  it('fails a PNG with one byte changed inside its pixel data', async () => {
    const bytes = Buffer.from(await photo('png'));
    const idat = bytes.indexOf('IDAT');
    bytes[idat + 100] = bytes[idat + 100]! ^ 0x01;
    expect(damage(bytes, 'png')).toBe('the IDAT chunk fails its CRC');
    await expect(verifyResult(bytes, SIZE, 'png')).rejects.toMatchObject({
      code: 'upstream_error',
      message: expect.stringContaining('damaged'),
    });
  });

  it('ignores bytes after the end of a PNG or JPEG, as decoders do', async () => {
    for (const format of ['png', 'jpeg'] as const) {
      const bytes = Buffer.concat([await photo(format), Buffer.from('trailing')]);
      expect(damage(bytes, format)).toBeUndefined();
    }
  });

  it('decodes a format it cannot check structurally, and converts it to the one asked for', async () => {
    const webp = await photo('webp');
    expect(damage(webp, 'webp')).toBe('unchecked');
    const verified = await verifyResult(webp, SIZE, 'png');
    expect(verified.mime).toBe('image/png');
    expect(verified.notes).toEqual(['The image service returned webp; it was converted to png.']);
    await expect(verifyResult(webp.subarray(0, webp.length - 200), SIZE, 'png')).rejects.toMatchObject({
      code: 'upstream_error',
    });
  });
});

describe('previews', () => {
  it('are measured from their bytes and scaled to 512 px, whatever size the provider claims', async () => {
    const big = await sharp({ create: { width: 3000, height: 1500, channels: 3, background: '#336699' } })
      .png()
      .toBuffer();
    const preview = await previewOf({
      index: 0,
      mime: 'image/png',
      b64: big.toString('base64'),
      width: 100,
      height: 50,
    });
    expect(preview).toMatchObject({ mime: 'image/jpeg', width: 512, height: 256 });
    const meta = await sharp(Buffer.from(preview.b64, 'base64')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 512, 256]);
  });
});
