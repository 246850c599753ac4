// An image's format and pixel size read from its first bytes, without decoding: the proxy judges references
// by them, and the plugin sandbox (which has no image decoder) checks results before createImage, which
// accepts PNG, JPEG and GIF only (https://developers.figma.com/docs/plugins/api/properties/figma-createimage).

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

export interface ImageSize {
  format: ImageFormat;
  width: number;
  height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format from the magic bytes alone; the file name and declared type are never trusted. */
export function imageFormatOf(b: Uint8Array): ImageFormat | undefined {
  if (b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v)) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 4 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  const riff = b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46;
  if (b.length >= 12 && riff && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'webp';
  return undefined;
}

/**
 * Pixel size of PNG, JPEG, GIF and WebP bytes from their headers; `undefined` for anything else, or when the
 * header is not within `b` (a JPEG's frame header follows its metadata segments).
 */
export function readImageSize(b: Uint8Array): ImageSize | undefined {
  const at = (i: number) => b[i] ?? 0;
  const u16be = (i: number) => (at(i) << 8) | at(i + 1);
  const u32be = (i: number) => ((at(i) << 24) | (at(i + 1) << 16) | (at(i + 2) << 8) | at(i + 3)) >>> 0;
  const format = imageFormatOf(b);
  if (format === 'png') {
    // IHDR is always the first chunk: https://www.w3.org/TR/png/#11IHDR
    const ihdr = at(12) === 0x49 && at(13) === 0x48 && at(14) === 0x44 && at(15) === 0x52;
    return b.length >= 24 && ihdr ? { format: 'png', width: u32be(16), height: u32be(20) } : undefined;
  }
  if (format === 'gif' && b.length >= 10) {
    return { format: 'gif', width: at(6) | (at(7) << 8), height: at(8) | (at(9) << 8) };
  }
  if (format === 'jpeg') {
    let i = 2;
    while (i + 9 < b.length && at(i) === 0xff) {
      const marker = at(i + 1);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { format: 'jpeg', width: u16be(i + 7), height: u16be(i + 5) };
      }
      i += 2 + u16be(i + 2);
    }
  }
  if (format === 'webp' && b.length >= 30) {
    // The first chunk says which bitstream follows: https://www.rfc-editor.org/rfc/rfc9649 (2.5, 2.6, 2.7)
    const chunk = String.fromCharCode(at(12), at(13), at(14), at(15));
    const u24le = (i: number) => at(i) | (at(i + 1) << 8) | (at(i + 2) << 16);
    if (chunk === 'VP8 ' && at(23) === 0x9d && at(24) === 0x01 && at(25) === 0x2a) {
      return { format, width: (at(26) | (at(27) << 8)) & 0x3fff, height: (at(28) | (at(29) << 8)) & 0x3fff };
    }
    if (chunk === 'VP8L' && at(20) === 0x2f) {
      const bits = (at(21) | (at(22) << 8) | (at(23) << 16) | (at(24) << 24)) >>> 0;
      return { format, width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === 'VP8X') return { format, width: u24le(24) + 1, height: u24le(27) + 1 };
  }
  return undefined;
}

/**
 * Whether PNG bytes carry an alpha channel: a colour type with alpha (4 grey + alpha, 6 RGBA) in IHDR, or a `tRNS`
 * chunk before the image data (https://www.w3.org/TR/png/#11IHDR, #11tRNS). `undefined` when `b` is not a PNG.
 * OpenAI reads an edit mask's alpha only; a mask without one is refused.
 */
export function pngHasAlpha(b: Uint8Array): boolean | undefined {
  if (imageFormatOf(b) !== 'png' || b.length < 33) return undefined;
  const colourType = b[25];
  if (colourType === 4 || colourType === 6) return true;
  let at = 8;
  while (at + 8 <= b.length) {
    const length = (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
    const type = String.fromCharCode(b[at + 4] ?? 0, b[at + 5] ?? 0, b[at + 6] ?? 0, b[at + 7] ?? 0);
    if (type === 'tRNS') return true;
    if (type === 'IDAT' || type === 'IEND') return false;
    at += 12 + length;
  }
  return false;
}
