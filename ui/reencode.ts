// Makes a large PNG reference smaller before upload by re-encoding it as JPEG with the browser's own canvas
// encoder. Why here: Figma's exportAsync only gives PNG, or JPG with no quality setting
// (https://developers.figma.com/docs/plugins/api/ExportSettings/), and a photo-like 2048 px PNG runs to
// several MB, where JPEG at 0.9 is a tenth of that and looks the same. Transparency would be lost in JPEG, so
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
    let jpeg: Uint8Array<ArrayBuffer> | undefined;
    try {
      const canvas = document.createElement('canvas');
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      const context = canvas.getContext('2d', { willReadFrequently: true });
      if (!context) return keep('failed');
      context.drawImage(bitmap, 0, 0);
      if (hasTransparency(context.getImageData(0, 0, bitmap.width, bitmap.height).data)) return keep('transparent');
      jpeg = jpegBytes(canvas.toDataURL('image/jpeg', quality));
    } finally {
      bitmap.close();
    }
    // A browser without a JPEG encoder answers PNG instead of failing.
    if (!jpeg) return keep('failed');
    if (jpeg.length >= png.length) return keep('not_smaller');
    return { mime: 'image/jpeg', bytes: jpeg };
  } catch {
    // No createImageBitmap or canvas, an undecodable PNG, or out of memory: the PNG still works.
    return keep('failed');
  }
}

/**
 * The JPEG in a data URL, or undefined when the browser encoded something else. The synchronous encoder is the
 * point: Chromium runs a main-thread `toBlob`/`convertToBlob` JPEG encode in idle time, and on a busy panel starts
 * it only after a 1 s timeout (Blink's canvas_async_blob_creator.cc, kIdleTaskStartTimeoutDelayMs), once per
 * reference; the bench measured 1.0–1.1 s per encode then. A synchronous encode of a 2048 px frame takes ~50 ms.
 */
function jpegBytes(dataUrl: string): Uint8Array<ArrayBuffer> | undefined {
  const prefix = 'data:image/jpeg;base64,';
  if (!dataUrl.startsWith(prefix)) return undefined;
  const binary = atob(dataUrl.slice(prefix.length));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function hasTransparency(rgba: Uint8ClampedArray): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return true;
  return false;
}
