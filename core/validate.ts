// One validation of a generation request, shared by the panel (before it sends) and the proxy (on arrival).
import type { ApiError } from './api';
import { ERROR_ADVICE } from './api';
import { type AspectRatio, isAspectRatio, isSupportedPair, isTier, type Tier, unsupportedReason } from './formats';
import { countPromptChars, MAX_REFERENCES, PROMPT_MAX_CHARS, promptProblem } from './limits';

export interface GenerationDraft {
  prompt: string;
  aspectRatio: string;
  resolution: string;
  referenceCount: number;
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
  return undefined;
}
