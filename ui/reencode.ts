// Makes a large PNG reference smaller before upload by re-encoding it as JPEG with the browser's own canvas
// encoder. Why here: Figma's exportAsync only gives PNG, or JPG with no quality setting
// (https://developers.figma.com/docs/plugins/api/ExportSettings/), and a photo-like 2048 px PNG runs to
// ~3.5 MB, where JPEG at 0.9 is ~0.2 MB at ~39 dB PSNR (bench §4). Transparency would be lost in JPEG, so
// such images stay PNG; so does anything the re-encode cannot shrink, or any failure: never fail a job here.
import { REFERENCE_JPEG_QUALITY, REFERENCE_REENCODE_MIN_BYTES } from '../core/limits';

export type ReferenceBytesMime = 'image/png' | 'image/jpeg';

export interface EncodedReference {
  mime: ReferenceBytesMime;
  bytes: Uint8Array<ArrayBuffer>;
}

export interface ReencodeOptions {
  /** PNGs at or under this many bytes are sent as they are. */
  minBytes?: number;
  /** JPEG quality, 0–1. */
  quality?: number;
}

/** Why a PNG was kept: for the benchmark and the tests, which must tell the cases apart. */
export type KeptBecause = 'small' | 'transparent' | 'not_smaller' | 'failed';

export interface ReencodeResult extends EncodedReference {
  keptBecause?: KeptBecause;
}

/** The PNG's bytes as JPEG when that is safe and smaller; otherwise the PNG itself, untouched. */
export async function smallerReference(
  png: Uint8Array<ArrayBuffer>,
  options: ReencodeOptions = {},
): Promise<ReencodeResult> {
  const minBytes = options.minBytes ?? REFERENCE_REENCODE_MIN_BYTES;
  const quality = options.quality ?? REFERENCE_JPEG_QUALITY;
  const keep = (keptBecause: KeptBecause): ReencodeResult => ({ mime: 'image/png', bytes: png, keptBecause });
  if (png.length <= minBytes) return keep('small');
  try {
    const bitmap = await createImageBitmap(new Blob([png], { type: 'image/png' }));
    let jpeg: Blob;
    try {
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext('2d');
      if (!context) return keep('failed');
      context.drawImage(bitmap, 0, 0);
      if (hasTransparency(context.getImageData(0, 0, bitmap.width, bitmap.height).data)) return keep('transparent');
      jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality });
    } finally {
      bitmap.close();
    }
    // A browser without a JPEG encoder answers PNG instead of failing.
    if (jpeg.type !== 'image/jpeg') return keep('failed');
    if (jpeg.size >= png.length) return keep('not_smaller');
    return { mime: 'image/jpeg', bytes: new Uint8Array(await jpeg.arrayBuffer()) };
  } catch {
    // No createImageBitmap/OffscreenCanvas, an undecodable PNG, or out of memory: the PNG still works.
    return keep('failed');
  }
}

function hasTransparency(rgba: Uint8ClampedArray): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return true;
  return false;
}
