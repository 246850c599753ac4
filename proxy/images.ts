// Images through sharp: what a reference really is (type from its bytes, dimensions from its header), and
// the one check every provider result passes before a job may complete.
import sharp, { type Metadata } from 'sharp';
import { formatSize, type OutputFormat, type OutputSize } from '../core/formats';
import { FIGMA_MAX_IMAGE_EDGE, REFERENCE_MAX_EDGE, type ReferenceMime, sniffImageMime } from '../core/limits';
import { FramefillError } from './errors';

/** Decoding refuses images over this many pixels, so a small file that claims a huge image cannot exhaust memory. */
export const MAX_DECODE_PIXELS = REFERENCE_MAX_EDGE * REFERENCE_MAX_EDGE;

export function referenceMimeOf(head: Uint8Array, index: number): ReferenceMime {
  const mime = sniffImageMime(head);
  if (!mime) {
    throw new FramefillError(
      'unsupported_image',
      `Reference ${index + 1} is not a PNG, JPEG or WebP image (its bytes say so, whatever its name).`,
      { field: 'reference' },
    );
  }
  return mime;
}

/** Reads a reference's dimensions from its header; refuses what cannot be read or is over the edge limit. */
export async function referenceDimensions(file: string, index: number): Promise<{ width: number; height: number }> {
  let meta: Metadata;
  try {
    meta = await sharp(file, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new FramefillError('unsupported_image', `Reference ${index + 1} could not be read as an image.`, {
      field: 'reference',
      cause: error,
    });
  }
  const { width, height } = meta;
  if (!width || !height || !['png', 'jpeg', 'webp'].includes(meta.format ?? '')) {
    throw new FramefillError('unsupported_image', `Reference ${index + 1} could not be read as an image.`, {
      field: 'reference',
    });
  }
  if (width > REFERENCE_MAX_EDGE || height > REFERENCE_MAX_EDGE) {
    throw new FramefillError(
      'reference_too_large',
      `Reference ${index + 1} is ${width}×${height} px; each edge may be at most ${REFERENCE_MAX_EDGE} px. Lower the reference size in Settings.`,
      { field: 'reference' },
    );
  }
  return { width, height };
}

export interface VerifiedImage {
  bytes: Buffer;
  mime: 'image/png' | 'image/jpeg';
  width: number;
  height: number;
  notes: string[];
}

const MIME: Record<OutputFormat, VerifiedImage['mime']> = { png: 'image/png', jpeg: 'image/jpeg' };

/**
 * Every provider's result passes here: it must decode fully as an image, have the table's size (Auto
 * excepted), fit Figma's 4096-px limit (downscaled with a note otherwise:
 * https://developers.figma.com/docs/plugins/api/properties/figma-createimage/) and be in the requested format.
 */
export async function verifyResult(bytes: Buffer, expected: OutputSize, format: OutputFormat): Promise<VerifiedImage> {
  const upstream = (why: string, cause?: unknown) =>
    new FramefillError('upstream_error', `The image service returned ${why}. Try again.`, { cause });
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS }).metadata();
    // Decodes every pixel, so a truncated or corrupt file fails here rather than in Figma. Averaging down to one
    // pixel reads them all without keeping them; stats() did the same but also computed sharpness and entropy,
    // ~220 ms per 4K image (bench/: proxy overhead).
    await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS, failOn: 'truncated' })
      .resize(1, 1, { fit: 'fill' })
      .raw()
      .toBuffer();
  } catch (error) {
    throw upstream('something that is not a readable image', error);
  }
  const { width, height } = meta;
  if (!width || !height) throw upstream('an image without dimensions');
  const notes: string[] = [];
  const tooLarge = width > FIGMA_MAX_IMAGE_EDGE || height > FIGMA_MAX_IMAGE_EDGE;
  if (!tooLarge && expected !== 'auto' && (width !== expected.width || height !== expected.height)) {
    throw upstream(`a ${width}×${height} image instead of ${formatSize(expected)}`);
  }
  const wantMime = MIME[format];
  const sameFormat = (meta.format === 'png' && format === 'png') || (meta.format === 'jpeg' && format === 'jpeg');
  if (!tooLarge && sameFormat) return { bytes, mime: wantMime, width, height, notes };

  let pipeline = sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS });
  if (tooLarge) {
    pipeline = pipeline.resize(FIGMA_MAX_IMAGE_EDGE, FIGMA_MAX_IMAGE_EDGE, { fit: 'inside' });
  }
  pipeline = format === 'png' ? pipeline.png() : pipeline.jpeg({ quality: 92 });
  const out = await pipeline.toBuffer({ resolveWithObject: true });
  if (tooLarge) {
    notes.push(
      `The image service returned ${width}×${height}; it was scaled to ${out.info.width}×${out.info.height} to fit Figma's ${FIGMA_MAX_IMAGE_EDGE}-px limit.`,
    );
  }
  if (!sameFormat)
    notes.push(`The image service returned ${meta.format ?? 'another format'}; it was converted to ${format}.`);
  return { bytes: out.data, mime: wantMime, width: out.info.width, height: out.info.height, notes };
}
