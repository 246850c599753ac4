// Every limit of DESIGN.md §4 and the platform limits the parts must respect. Panel and proxy both
// validate with these, so the boundary is the same on each side.
import { imageFormatOf } from './image-header';

export const PROMPT_MAX_CHARS = 20_000;
export const MAX_REFERENCES = 16;
export const REFERENCE_MAX_BYTES = 50 * 1024 * 1024;
export const REFERENCE_MAX_EDGE = 8192;
/** Variations per target (OpenAI's `n` allows 1–10; the panel's strip shows four). */
export const MAX_VARIATIONS = 4;
/** History thumbnails: at most this many px on the long edge. */
export const THUMBNAIL_MAX_EDGE = 256;
export const REFERENCE_MIME_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;
export type ReferenceMime = (typeof REFERENCE_MIME_TYPES)[number];

/**
 * What a generation does with its first reference: `generate` (text- or image-to-image), `edit` (repaint where
 * the `mask` is transparent) or `expand` (the proxy fits the image in a canvas of the target ratio and masks the
 * empty area).
 */
export const GENERATION_MODES = ['generate', 'edit', 'expand'] as const;
export type GenerationMode = (typeof GENERATION_MODES)[number];
/**
 * An edit mask: a PNG "less than 4MB" with an alpha channel, the same size as the image it applies to (OpenAI's
 * spec, CreateImageEditRequest.mask; the image generation guide, "Edit an image using a mask":
 * https://developers.openai.com/api/docs/guides/image-generation). "4MB" is read as 4,000,000 bytes, the stricter
 * of its two readings.
 */
export const MASK_MAX_BYTES = 4_000_000 - 1;
/**
 * Pixels beyond the mask's edge that a result may still change: the seam between the model's paint and the kept
 * original is blended over this width, so the composite shows no hard edge.
 */
export const MASK_FEATHER_PX = 4;

/** Figma's `createImage` refuses images over 4096 px on an edge. https://developers.figma.com/docs/plugins/api/properties/figma-createimage/ */
export const FIGMA_MAX_IMAGE_EDGE = 4096;
/** Figma keeps at most 100 kB per plugin-data entry. https://developers.figma.com/docs/plugins/api/node-properties/#setplugindata */
export const PLUGIN_DATA_MAX_BYTES = 100_000;
/** `figma.notify` messages longer than this are cut by Figma's toast; keep ours within. */
export const NOTIFY_MAX_CHARS = 100;
/** `figma.clientStorage` holds 5 MB per plugin: never images. */
export const CLIENT_STORAGE_MAX_BYTES = 5 * 1024 * 1024;

/** Long edge of an exported reference (the panel's setting; DESIGN.md §9). */
export const DEFAULT_REFERENCE_MAX_EDGE = 2048;
export const MIN_REFERENCE_MAX_EDGE = 256;
/**
 * The largest long edge Settings offers and EXPORT_REFERENCES accepts: one number for both, so a saved setting
 * can never ask for an export the message schema refuses. 4096 keeps one export's pixels at 64 MB while
 * Figma's sandbox holds it (16 references at 8192 would need 4 GB), and is Figma's own createImage limit.
 */
export const MAX_REFERENCE_MAX_EDGE = FIGMA_MAX_IMAGE_EDGE;
export const DEFAULT_DENSITY = 2;

/**
 * A PNG reference larger than this is re-encoded as JPEG in the panel before upload: Figma exports only PNG
 * (or JPG without a quality setting), and a photo-like 2048 px PNG runs to several MB (issue 8 §4's target).
 */
export const REFERENCE_REENCODE_MIN_BYTES = 1.5 * 1024 * 1024;
/** JPEG quality of that re-encode (canvas `convertToBlob`, 0–1): ~39 dB PSNR on photo-like frames. */
export const REFERENCE_JPEG_QUALITY = 0.9;

/** The proxy's multipart cap: every reference at its maximum, an edit's mask, and room for the prompt and fields. */
export const DEFAULT_BODY_LIMIT_BYTES = MAX_REFERENCES * REFERENCE_MAX_BYTES + MASK_MAX_BYTES + 1 + 1024 * 1024;

/** Characters are counted as Unicode code points after trimming, so an emoji counts once. */
export function countPromptChars(prompt: string): number {
  let count = 0;
  for (const _ of prompt.trim()) count++;
  return count;
}

export type PromptProblem = 'prompt_empty' | 'prompt_too_long';

export function promptProblem(prompt: string): PromptProblem | undefined {
  const chars = countPromptChars(prompt);
  if (chars === 0) return 'prompt_empty';
  if (chars > PROMPT_MAX_CHARS) return 'prompt_too_long';
  return undefined;
}

/** Sniffs PNG, JPEG or WebP from the first bytes; the file name and declared type are never trusted. */
export function sniffImageMime(bytes: Uint8Array): ReferenceMime | undefined {
  const format = imageFormatOf(bytes);
  return format === 'png' || format === 'jpeg' || format === 'webp' ? `image/${format}` : undefined;
}
