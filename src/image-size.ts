// Pixel size of PNG, JPEG and GIF bytes from their headers: the sandbox has no image decoder, and
// createImage accepts only these formats (https://developers.figma.com/docs/plugins/api/properties/figma-createimage).

export interface ImageSize {
  format: 'png' | 'jpeg' | 'gif';
  width: number;
  height: number;
}

export function readImageSize(b: Uint8Array): ImageSize | undefined {
  const at = (i: number) => b[i] ?? 0;
  const u16be = (i: number) => (at(i) << 8) | at(i + 1);
  const u32be = (i: number) => ((at(i) << 24) | (at(i + 1) << 16) | (at(i + 2) << 8) | at(i + 3)) >>> 0;
  const isPng = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v);
  if (isPng) {
    // IHDR is always the first chunk: https://www.w3.org/TR/png/#11IHDR
    const ihdr = at(12) === 0x49 && at(13) === 0x48 && at(14) === 0x44 && at(15) === 0x52;
    return b.length >= 24 && ihdr ? { format: 'png', width: u32be(16), height: u32be(20) } : undefined;
  }
  if (at(0) === 0x47 && at(1) === 0x49 && at(2) === 0x46 && at(3) === 0x38 && b.length >= 10) {
    return { format: 'gif', width: at(6) | (at(7) << 8), height: at(8) | (at(9) << 8) };
  }
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) {
    let i = 2;
    while (i + 9 < b.length && at(i) === 0xff) {
      const marker = at(i + 1);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { format: 'jpeg', width: u16be(i + 7), height: u16be(i + 5) };
      }
      i += 2 + u16be(i + 2);
    }
  }
  return undefined;
}
