// Images through sharp: what a reference really is (type from its bytes, dimensions from its header), and
// the one check every provider result passes before a job may complete.
import { crc32 } from 'node:zlib';
import sharp, { type Metadata } from 'sharp';
import { formatSize, type OutputFormat, type OutputSize } from '../core/formats';
import { imageFormatOf, readImageSize } from '../core/image-header';
import {
  FIGMA_MAX_IMAGE_EDGE,
  REFERENCE_MAX_EDGE,
  type ReferenceMime,
  sniffImageMime,
  THUMBNAIL_MAX_EDGE,
} from '../core/limits';
import { FramefillError } from './errors';
import type { PartialImage } from './providers/types';

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

/**
 * Reads a reference's dimensions from its header — from `head`, its first bytes, when they hold it (sharp on the
 * file otherwise); refuses what cannot be read or is over the edge limit.
 */
export async function referenceDimensions(
  file: string,
  index: number,
  head?: Uint8Array,
): Promise<{ width: number; height: number }> {
  const fromHead = head ? readImageSize(head) : undefined;
  let meta: { width?: number; height?: number; format?: string };
  try {
    meta = fromHead ?? (await sharp(file, { limitInputPixels: false }).metadata());
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
 * Every provider's result passes here: it must be a whole, intact PNG or JPEG (see `damage`), have the table's
 * size (Auto excepted), fit Figma's 4096-px limit (downscaled with a note otherwise:
 * https://developers.figma.com/docs/plugins/api/properties/figma-createimage/) and be in the requested format.
 */
export async function verifyResult(bytes: Buffer, expected: OutputSize, format: OutputFormat): Promise<VerifiedImage> {
  const upstream = (why: string, cause?: unknown) =>
    new FramefillError('upstream_error', `The image service returned ${why}. Try again.`, { cause });
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS }).metadata();
  } catch (error) {
    throw upstream('something that is not a readable image', error);
  }
  const damaged = damage(bytes, meta.format);
  if (damaged) {
    // A format sharp reads but this check does not know is decoded whole instead (and converted below).
    if (damaged !== 'unchecked') throw upstream(`a damaged image (${damaged})`);
    try {
      await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS, failOn: 'truncated' })
        .resize(1, 1, { fit: 'fill' })
        .raw()
        .toBuffer();
    } catch (error) {
      throw upstream('something that is not a readable image', error);
    }
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

const JPEG_EOI = Buffer.from([0xff, 0xd9]);

/**
 * Why an encoded image is not whole, in words for the job's error, without decoding its pixels: a PNG must be a
 * chain of chunks whose CRCs all match, from IHDR to IEND
 * (https://www.w3.org/TR/png-3/#5Chunk-layout); a JPEG must run from SOI through its segments to the
 * entropy-coded data and end with EOI (ITU T.81 B.1.1). `unchecked` for other formats.
 */
export function damage(bytes: Uint8Array, format: string | undefined): string | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'png') {
    if (imageFormatOf(b) !== 'png') return 'no PNG signature';
    let at = 8;
    let first = true;
    while (at + 12 <= b.length) {
      const length = b.readUInt32BE(at);
      const type = b.toString('latin1', at + 4, at + 8);
      if (first && type !== 'IHDR') return 'IHDR is not the first chunk';
      first = false;
      const end = at + 12 + length;
      if (length > 0x7fffffff || end > b.length) return `the ${type} chunk is cut off`;
      if (crc32(b.subarray(at + 4, at + 8 + length)) !== b.readUInt32BE(at + 8 + length)) {
        return `the ${type} chunk fails its CRC`;
      }
      // Bytes after IEND are ignored by decoders, as they are here.
      if (type === 'IEND') return undefined;
      at = end;
    }
    return 'no IEND chunk';
  }
  if (format === 'jpeg') {
    if (imageFormatOf(b) !== 'jpeg') return 'no JPEG start marker';
    let at = 2;
    for (;;) {
      if (at + 4 > b.length) return 'the segments are cut off';
      if (b[at] !== 0xff) return 'a segment does not start with a marker';
      const marker = b[at + 1]!;
      if (marker === 0xff) {
        at++;
        continue;
      }
      const length = b.readUInt16BE(at + 2);
      if (at + 2 + length > b.length) return 'a segment is cut off';
      at += 2 + length;
      if (marker === 0xda) break;
    }
    // Entropy-coded data escapes 0xFF as FF 00, so FF D9 after SOS is the end marker (trailing bytes are ignored).
    return b.indexOf(JPEG_EOI, at) >= 0 ? undefined : 'no JPEG end marker';
  }
  return 'unchecked';
}

/** The long edge of a partial preview sent to the panel (DESIGN.md §5): a preview, never the paid image. */
export const PREVIEW_MAX_EDGE = 512;

/**
 * A partial image as the panel may see it: at most PREVIEW_MAX_EDGE on the long edge (as JPEG when scaled), its
 * size read from its own bytes, never from what the provider said.
 */
export async function previewOf(partial: PartialImage): Promise<PartialImage> {
  const bytes = Buffer.from(partial.b64, 'base64');
  const { width = 0, height = 0 } = await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS }).metadata();
  if (width === 0 || height === 0) throw new Error('the preview is not a readable image');
  if (width <= PREVIEW_MAX_EDGE && height <= PREVIEW_MAX_EDGE) return { ...partial, width, height };
  const { data, info } = await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS })
    .resize(PREVIEW_MAX_EDGE, PREVIEW_MAX_EDGE, { fit: 'inside' })
    .jpeg({ quality: 80 })
    .toBuffer({ resolveWithObject: true });
  return {
    index: partial.index,
    mime: 'image/jpeg',
    b64: data.toString('base64'),
    width: info.width,
    height: info.height,
  };
}

/** A History thumbnail: at most THUMBNAIL_MAX_EDGE px on the long edge, JPEG (small, and every browser shows it). */
export async function thumbnailOf(bytes: Buffer): Promise<{ bytes: Buffer; mime: 'image/jpeg' }> {
  const out = await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS })
    .resize(THUMBNAIL_MAX_EDGE, THUMBNAIL_MAX_EDGE, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 80 })
    .toBuffer();
  return { bytes: out, mime: 'image/jpeg' };
}
