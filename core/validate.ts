// One validation of a generation request, shared by the panel (before it sends) and the proxy (on arrival).
import type { ApiError } from './api';
import { ERROR_ADVICE, HISTORY_QUERY_MAX_CHARS } from './api';
import { type AspectRatio, isAspectRatio, isSupportedPair, isTier, type Tier, unsupportedReason } from './formats';
import { pngHasAlpha, readImageSize } from './image-header';
import {
  countPromptChars,
  MASK_MAX_BYTES,
  MAX_REFERENCES,
  MAX_VARIATIONS,
  PROMPT_MAX_CHARS,
  promptProblem,
} from './limits';

export interface GenerationDraft {
  prompt: string;
  aspectRatio: string;
  resolution: string;
  referenceCount: number;
  /** Variations asked (`n`); absent means one. */
  variations?: number | string | undefined;
}

/** A whole number 1 … MAX_VARIATIONS, as a number or as the multipart field's text. */
export function variationsProblem(value: number | string | undefined): ApiError | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : /^\d{1,3}$/.test(value) ? Number(value) : Number.NaN;
  if (Number.isInteger(n) && n >= 1 && n <= MAX_VARIATIONS) return undefined;
  return {
    code: 'invalid_request',
    message: `Ask for 1 to ${MAX_VARIATIONS} variations per frame (got "${String(value)}").`,
    field: 'n',
  };
}

export function validateGeneration(draft: GenerationDraft): ApiError | undefined {
  const problem = promptProblem(draft.prompt);
  if (problem === 'prompt_empty') return { code: problem, message: ERROR_ADVICE.prompt_empty, field: 'prompt' };
  if (problem === 'prompt_too_long') {
    const chars = countPromptChars(draft.prompt).toLocaleString('en-US');
    return {
      code: problem,
      message: `The prompt has ${chars} characters; the limit is ${PROMPT_MAX_CHARS.toLocaleString('en-US')}. Shorten it.`,
      field: 'prompt',
    };
  }
  // PostgreSQL's text cannot hold U+0000 (a stored prompt would fail), and no prompt needs it.
  if (draft.prompt.includes('\u0000')) {
    return {
      code: 'invalid_request',
      message: 'The prompt contains a NUL character (U+0000), which cannot be stored: remove it and generate again.',
      field: 'prompt',
    };
  }
  if (!isAspectRatio(draft.aspectRatio)) {
    return { code: 'invalid_request', message: `Unknown aspect ratio "${draft.aspectRatio}".`, field: 'aspect_ratio' };
  }
  if (!isTier(draft.resolution)) {
    return { code: 'invalid_request', message: `Unknown resolution "${draft.resolution}".`, field: 'resolution' };
  }
  const ratio: AspectRatio = draft.aspectRatio;
  const tier: Tier = draft.resolution;
  if (!isSupportedPair(ratio, tier)) {
    return {
      code: 'unsupported_size',
      message: unsupportedReason(ratio, tier) ?? ERROR_ADVICE.unsupported_size,
      field: 'resolution',
    };
  }
  if (draft.referenceCount > MAX_REFERENCES) {
    return {
      code: 'too_many_references',
      message: `${draft.referenceCount} references sent; at most ${MAX_REFERENCES} are allowed. Remove some from the tray.`,
      field: 'reference',
    };
  }
  return variationsProblem(draft.variations);
}

/** What is known of an edit's mask and the image it applies to, from their headers. */
export interface MaskDraft {
  /** The mask's bytes: a PNG, or anything the sender got wrong. */
  mask: Uint8Array;
  /** The image the mask applies to (the first reference). */
  image: { width: number; height: number };
}

/**
 * The mask rules OpenAI documents (core/limits.ts MASK_MAX_BYTES): under 4 MB, a PNG with an alpha channel, the
 * first image's exact size. Shared by the panel (before it sends) and the proxy (on arrival).
 */
export function validateMask({ mask, image }: MaskDraft): ApiError | undefined {
  if (mask.byteLength > MASK_MAX_BYTES) {
    const mb = (mask.byteLength / 1_000_000).toFixed(1);
    return { code: 'mask_too_large', message: `The mask is ${mb} MB; ${ERROR_ADVICE.mask_too_large}`, field: 'mask' };
  }
  const size = readImageSize(mask);
  if (size?.format !== 'png') {
    return {
      code: 'unsupported_image',
      message: 'The mask must be a PNG image (its bytes say otherwise): transparent where the image may change.',
      field: 'mask',
    };
  }
  if (!pngHasAlpha(mask))
    return { code: 'mask_without_alpha', message: ERROR_ADVICE.mask_without_alpha, field: 'mask' };
  if (size.width !== image.width || size.height !== image.height) {
    return {
      code: 'mask_size_mismatch',
      message: `The mask is ${size.width}×${size.height} px but the image it edits is ${image.width}×${image.height} px. ${ERROR_ADVICE.mask_size_mismatch}`,
      field: 'mask',
    };
  }
  return undefined;
}

/**
 * How a mode fits the rest of the request: an edit needs the image (the first reference) and a mask; an expansion
 * needs the image, a fixed ratio to expand to, and no mask (the proxy draws it); a plain generation takes no mask.
 * References after the first stay allowed with a mask: OpenAI applies the mask to the first image only (spec,
 * CreateImageEditRequest.mask: "If there are multiple images provided, the mask will be applied on the first
 * image").
 */
export function validateMode(draft: {
  mode: string;
  referenceCount: number;
  hasMask: boolean;
  aspectRatio: string;
}): ApiError | undefined {
  const { mode, referenceCount, hasMask } = draft;
  if (mode === 'generate') {
    return hasMask
      ? { code: 'invalid_request', message: 'A mask needs mode=edit: send mode=edit with the mask.', field: 'mask' }
      : undefined;
  }
  if (mode !== 'edit' && mode !== 'expand') {
    return { code: 'invalid_request', message: `Unknown mode "${mode}": use generate, edit or expand.`, field: 'mode' };
  }
  if (referenceCount === 0) {
    return {
      code: 'invalid_request',
      message: `To ${mode} an image, send it as the first reference.`,
      field: 'reference',
    };
  }
  if (mode === 'edit' && !hasMask) {
    return {
      code: 'invalid_request',
      message: 'An edit needs a mask (a PNG, transparent where the image may change).',
      field: 'mask',
    };
  }
  if (mode === 'expand' && hasMask) {
    return {
      code: 'invalid_request',
      message: 'An expansion takes no mask: the proxy masks the area around the image itself.',
      field: 'mask',
    };
  }
  if (mode === 'expand' && draft.aspectRatio === 'auto') {
    return {
      code: 'invalid_request',
      message: 'Expanding needs a ratio to expand to: pick one other than Auto.',
      field: 'aspect_ratio',
    };
  }
  return undefined;
}

/**
 * Why a History search is refused, counted as the proxy counts `q` (code points, after trimming); `undefined` when
 * fine. No prompt holds U+0000 (submissions refuse it), and PostgreSQL cannot compare text with it.
 */
export function searchProblem(query: string): string | undefined {
  if (query.includes('\u0000')) return 'Search text cannot contain a NUL character (U+0000).';
  const chars = Array.from(query.trim()).length;
  if (chars <= HISTORY_QUERY_MAX_CHARS) return undefined;
  return `Search for at most ${HISTORY_QUERY_MAX_CHARS} characters: shorten it by ${chars - HISTORY_QUERY_MAX_CHARS}.`;
}
