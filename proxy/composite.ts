// The result of an edit keeps the original's pixels outside the mask: masking is prompt-based and approximate
// (OpenAI's image generation guide, https://developers.openai.com/api/docs/guides/image-generation), and models are
// reported to repaint beyond it. The model's pixels are blended in through the mask, feathered over
// MASK_FEATHER_PX pixels so the seam does not show; every pixel further out is the original's.
import sharp from 'sharp';
import { MASK_FEATHER_PX } from '../core/limits';
import type { EditInput } from './edits';
import { MAX_DECODE_PIXELS, type VerifiedImage } from './images';

/** `image` unchanged without an edit; else the original outside the mask and the model's result inside it. */
export async function keepOutsideMask(image: VerifiedImage, edit: EditInput | undefined): Promise<VerifiedImage> {
  if (!edit) return image;
  const { width, height } = image;
  const [alpha, original, painted] = await Promise.all([
    decode(edit.file, width, height, 'alpha'),
    decode(edit.image, width, height, 'rgb'),
    decode(image.bytes, width, height, 'rgb'),
  ]);
  // Transparent in the mask = where the model may paint = weight 255.
  const paint = new Uint8Array(width * height);
  for (let i = 0; i < paint.length; i++) paint[i] = 255 - (alpha[i] ?? 255);
  const weight = feather(paint, width, height, MASK_FEATHER_PX / 2);
  const out = Buffer.from(original);
  for (let i = 0; i < weight.length; i++) {
    const w = weight[i] ?? 0;
    if (w === 0) continue;
    for (let c = i * 3; c < i * 3 + 3; c++) {
      const o = original[c] ?? 0;
      out[c] = o + Math.round((((painted[c] ?? 0) - o) * w) / 255);
    }
  }
  const encoder = sharp(out, { raw: { width, height, channels: 3 } });
  const bytes =
    image.mime === 'image/png' ? await encoder.png().toBuffer() : await encoder.jpeg({ quality: 92 }).toBuffer();
  const kept = edit.mode === 'expand' ? 'the original image' : 'everything outside the mask';
  return { ...image, bytes, notes: [...image.notes, `Kept ${kept} as it was; only the masked area is new.`] };
}

/** Raw pixels at `width` × `height`: RGB, or the alpha channel alone (opaque where there is none). */
async function decode(input: string | Buffer, width: number, height: number, what: 'rgb' | 'alpha'): Promise<Buffer> {
  const meta = await sharp(input, { limitInputPixels: MAX_DECODE_PIXELS }).metadata();
  let pipeline = sharp(input, { limitInputPixels: MAX_DECODE_PIXELS });
  // Resized only when the sizes differ: a same-size resize may still resample.
  if (meta.width !== width || meta.height !== height) {
    pipeline = sharp(
      await pipeline
        .resize(width, height, { fit: 'fill', kernel: what === 'alpha' ? 'nearest' : 'lanczos3' })
        .toBuffer(),
    );
  }
  return what === 'rgb'
    ? pipeline.removeAlpha().raw().toBuffer()
    : pipeline.ensureAlpha().extractChannel(3).raw().toBuffer();
}

/**
 * Two passes of a box blur of `radius` (an integer-friendly Gaussian): a pixel's weight can only be non-zero
 * within 2 × radius pixels of the painted area, so nothing beyond MASK_FEATHER_PX changes.
 */
export function feather(paint: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const r = Math.max(0, Math.floor(radius));
  if (r === 0) return paint;
  let a: Uint8Array = paint;
  for (let pass = 0; pass < 2; pass++) a = boxBlur(boxBlur(a, width, height, r, 1, width), height, width, r, width, 1);
  return a;
}

/** One box blur along lines of `length` pixels `step` apart, `lines` lines `lineStep` apart; edges clamp. */
function boxBlur(
  input: Uint8Array,
  length: number,
  lines: number,
  r: number,
  step: number,
  lineStep: number,
): Uint8Array {
  const out = new Uint8Array(input.length);
  const span = 2 * r + 1;
  for (let line = 0; line < lines; line++) {
    const base = line * lineStep;
    const at = (k: number) => input[base + Math.min(length - 1, Math.max(0, k)) * step] ?? 0;
    let sum = 0;
    for (let k = -r; k <= r; k++) sum += at(k);
    for (let k = 0; k < length; k++) {
      out[base + k * step] = Math.round(sum / span);
      sum += at(k + r + 1) - at(k - r);
    }
  }
  return out;
}
