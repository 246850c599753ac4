// Image fixtures made with sharp, for tests of the proxy, the panel and the benchmarks.
import sharp from 'sharp';

/** A solid-colour image of exactly `width` × `height`; `seed` varies the colour so fixtures differ in bytes. */
function solid(width: number, height: number, seed: number) {
  return sharp({
    create: {
      width,
      height,
      channels: 3,
      background: { r: (seed * 67) % 256, g: (seed * 131 + 80) % 256, b: (seed * 29 + 160) % 256 },
    },
  });
}

/** PNG bytes of a `width` × `height` image. */
export function png(width: number, height: number, seed = 1): Promise<Buffer> {
  return solid(width, height, seed).png({ compressionLevel: 9 }).toBuffer();
}

/** JPEG bytes of a `width` × `height` image. */
export function jpeg(width: number, height: number, seed = 1): Promise<Buffer> {
  return solid(width, height, seed).jpeg({ quality: 80 }).toBuffer();
}

/** WebP bytes of a `width` × `height` image. */
export function webp(width: number, height: number, seed = 1): Promise<Buffer> {
  return solid(width, height, seed).webp({ quality: 80 }).toBuffer();
}

/** Decoded facts about image bytes: format and pixel size. */
export async function imageInfo(bytes: Uint8Array): Promise<{ format: string; width: number; height: number }> {
  const meta = await sharp(bytes).metadata();
  return { format: meta.format ?? 'unknown', width: meta.width ?? 0, height: meta.height ?? 0 };
}
