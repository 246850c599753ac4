// Reads an image's format and pixel size from its header, as Figma's createImage must before accepting it.
// Pure JS over indexable bytes, so it also works on a Uint8Array from another realm (the vm sandbox).

export type FigmaImageFormat = 'png' | 'jpeg' | 'gif';

export interface ImageHeader {
  format: FigmaImageFormat;
  width: number;
  height: number;
}

type Bytes = ArrayLike<number>;

const at = (b: Bytes, i: number) => b[i] ?? 0;
const u16be = (b: Bytes, i: number) => (at(b, i) << 8) | at(b, i + 1);
const u16le = (b: Bytes, i: number) => at(b, i) | (at(b, i + 1) << 8);
const u32be = (b: Bytes, i: number) =>
  ((at(b, i) << 24) | (at(b, i + 1) << 16) | (at(b, i + 2) << 8) | at(b, i + 3)) >>> 0;

export function sniffFormat(b: Bytes): FigmaImageFormat | undefined {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length >= 8 && png.every((v, i) => b[i] === v)) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (
    b.length >= 6 &&
    String.fromCharCode(at(b, 0), at(b, 1), at(b, 2), at(b, 3), at(b, 4), at(b, 5)).match(/^GIF8[79]a$/)
  )
    return 'gif';
  return undefined;
}

/** Format and size, or undefined when the bytes are not a readable PNG, JPEG or GIF. */
export function readImageHeader(b: Bytes): ImageHeader | undefined {
  const format = sniffFormat(b);
  if (format === 'png') {
    // IHDR must be the first chunk: https://www.w3.org/TR/png/#11IHDR
    if (b.length < 33 || String.fromCharCode(at(b, 12), at(b, 13), at(b, 14), at(b, 15)) !== 'IHDR') return undefined;
    return { format, width: u32be(b, 16), height: u32be(b, 20) };
  }
  if (format === 'gif') {
    if (b.length < 10) return undefined;
    return { format, width: u16le(b, 6), height: u16le(b, 8) };
  }
  if (format === 'jpeg') {
    // Walk the markers to the first start-of-frame (SOF0…SOF15 except DHT, JPG and DAC).
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return undefined;
      const marker = at(b, i + 1);
      if (marker === 0xff) {
        i++;
        continue;
      }
      const length = u16be(b, i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { format, width: u16be(b, i + 7), height: u16be(b, i + 5) };
      }
      i += 2 + length;
    }
    return undefined;
  }
  return undefined;
}
