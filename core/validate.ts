// One validation of a generation request, shared by the panel (before it sends) and the proxy (on arrival).
import type { ApiError } from './api';
import { ERROR_ADVICE } from './api';
import { type AspectRatio, isAspectRatio, isSupportedPair, isTier, type Tier, unsupportedReason } from './formats';
import { countPromptChars, MAX_REFERENCES, MAX_VARIATIONS, PROMPT_MAX_CHARS, promptProblem } from './limits';

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
