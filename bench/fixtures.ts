// Deterministic benchmark images made with sharp: photo-like content (a 1/f "natural image" spectrum built from
// noise octaves, plus sensor grain) that compresses the way photos do, and the measures of what re-encoding costs.
import sharp from 'sharp';
import { seededRandom } from '../test/helpers/random';

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3;
}

/**
 * Raw RGB pixels that look photographic to an encoder: octaves of smooth noise whose amplitude halves with the
 * scale (the 1/f spectrum of natural images) plus `grain` (the per-pixel noise every camera adds).
 */
export async function photoLike(width: number, height: number, seed: number, grain = 4): Promise<RawImage> {
  const next = seededRandom(seed);
  const sum = new Float32Array(width * height * 3);
  let amplitude = 90;
  for (let cells = 3; cells <= Math.max(width, height) / 4; cells *= 2) {
    const w = Math.max(2, Math.round((cells * width) / Math.max(width, height)));
    const h = Math.max(2, Math.round((cells * height) / Math.max(width, height)));
    const small = Buffer.alloc(w * h * 3);
    for (let i = 0; i < small.length; i++) small[i] = Math.floor(next() * 256);
    const big = await sharp(small, { raw: { width: w, height: h, channels: 3 } })
      .resize(width, height, { kernel: 'cubic' })
      .raw()
      .toBuffer();
    for (let i = 0; i < sum.length; i++) sum[i]! += ((big[i]! - 128) / 128) * amplitude;
    amplitude *= 0.72;
  }
  const data = Buffer.alloc(sum.length);
  for (let i = 0; i < sum.length; i++) {
    const noise = (next() + next() - 1) * grain;
    data[i] = Math.max(0, Math.min(255, Math.round(128 + sum[i]! + noise)));
  }
  return { data, width, height, channels: 3 };
}

export function encode(image: RawImage, format: 'png' | 'jpeg' | 'webp', quality = 90): Promise<Buffer> {
  const pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });
  if (format === 'png') return pipeline.png().toBuffer();
  if (format === 'jpeg') return pipeline.jpeg({ quality, mozjpeg: false }).toBuffer();
  return pipeline.webp({ quality }).toBuffer();
}

/** Decodes any image to raw RGB of the same size. */
export async function decodeRgb(bytes: Uint8Array): Promise<RawImage> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: 3 };
}

/** Peak signal-to-noise ratio over RGB, in dB (Infinity when identical). */
export function psnr(a: RawImage, b: RawImage): number {
  let sq = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - b.data[i]!;
    sq += d * d;
  }
  const mse = sq / a.data.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}

/** Mean SSIM of the luma over 8×8 windows (stride 4), the usual constants (Wang et al. 2004). */
export function ssim(a: RawImage, b: RawImage): number {
  const luma = (img: RawImage) => {
    const out = new Float32Array(img.width * img.height);
    for (let p = 0, i = 0; p < out.length; p++, i += 3) {
      out[p] = 0.299 * img.data[i]! + 0.587 * img.data[i + 1]! + 0.114 * img.data[i + 2]!;
    }
    return out;
  };
  const x = luma(a);
  const y = luma(b);
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let total = 0;
  let windows = 0;
  for (let top = 0; top + 8 <= a.height; top += 4) {
    for (let left = 0; left + 8 <= a.width; left += 4) {
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let r = 0; r < 8; r++) {
        const row = (top + r) * a.width + left;
        for (let c = 0; c < 8; c++) {
          const u = x[row + c]!;
          const v = y[row + c]!;
          sx += u;
          sy += v;
          sxx += u * u;
          syy += v * v;
          sxy += u * v;
        }
      }
      const mx = sx / 64;
      const my = sy / 64;
      const vx = sxx / 64 - mx * mx;
      const vy = syy / 64 - my * my;
      const cov = sxy / 64 - mx * my;
      total += ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      windows++;
    }
  }
  return total / windows;
}

/** A 4:3 photo-like reference as PNG; at a 1000-px side it is about 2 MB (the benchmark's "~2 MB reference"). */
export async function photoReference(seed: number, side: number): Promise<Buffer> {
  return encode(await photoLike(side, Math.round((side * 3) / 4), seed), 'png');
}
