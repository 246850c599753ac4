// What History shows of a past job, in the panel's words, and what placing one from there sends. Pure, so it is
// tested without a DOM.
import type { Job, JobImage } from '../core/api';
import type { Provenance } from '../core/messages';
import { errorSentence, type ShownError } from './errors';

/** Characters of the prompt an entry shows. */
export const PROMPT_START_CHARS = 60;

/** The prompt's first characters on one line, with … when cut. */
export function promptStart(prompt: string | undefined, max = PROMPT_START_CHARS): string {
  const chars = Array.from((prompt ?? '').replace(/\s+/g, ' ').trim());
  if (chars.length === 0) return '(prompt not kept)';
  return chars.length <= max
    ? chars.join('')
    : `${chars
        .slice(0, max - 1)
        .join('')
        .trimEnd()}…`;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ageText(createdAt: string, now = Date.now()): string {
  const minutes = Math.floor((now - Date.parse(createdAt)) / 60_000);
  if (!Number.isFinite(minutes) || minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return `${days} ${days === 1 ? 'day' : 'days'} ago`;
}

/** The image of a job at `index` (its position in `images`), if the proxy lists it. */
export function imageAt(job: Job, index = 0): JobImage | undefined {
  return job.images?.find((image) => image.index === index);
}

/** Whether image `index` of the job (the first by default) can still be fetched, to place or download. */
export function hasImage(job: Job, index = 0): boolean {
  const image = imageAt(job, index);
  return job.status === 'completed' && image !== undefined && image.expired !== true;
}

/** Why an entry has no image `index` to place or download, or `undefined` when it has one. */
export function noImageReason(job: Job, index = 0): string | undefined {
  if (hasImage(job, index)) return undefined;
  if (job.status === 'completed') {
    const which = (job.images?.length ?? 0) > 1 ? `Variation ${index + 1} removed` : 'Image removed';
    return `${which} (kept for a limited time) — reuse the prompt to make it again.`;
  }
  switch (job.status) {
    case 'queued':
    case 'running':
      return 'Still being made.';
    case 'canceled':
      return 'No image: the job was canceled.';
    case 'interrupted':
      return 'No image: the proxy stopped while it ran, and the credits came back.';
    default:
      return `No image: the job failed${job.error ? ` (${job.error.message.replace(/[.\s]+$/, '')})` : ''}.`;
  }
}

/** The layer's record of where its image came from, for image `index` of a job placed from History. */
export function historyProvenance(job: Job, index = 0): Provenance {
  const created = new Date(job.created_at);
  return {
    prompt: job.prompt ?? '',
    aspectRatio: job.aspect_ratio,
    resolution: job.resolution,
    model: job.model,
    jobId: job.id,
    referenceIds: [],
    costCredits: job.cost_credits,
    createdAt: Number.isNaN(created.getTime()) ? new Date().toISOString() : created.toISOString(),
    ...((job.images?.length ?? 0) > 1 ? { variation: index } : {}),
  };
}

/** "3 variations", or "2 of 3 variations" when the image service returned fewer than asked; '' for one image. */
export function variationsText(job: Job): string {
  const produced = job.images?.length ?? 0;
  const asked = job.n ?? produced;
  // A job that made nothing says what was asked; "0 of 3" would read as a result.
  if (job.status !== 'completed') return asked > 1 ? `${asked} variations` : '';
  if (asked <= 1 && produced <= 1) return '';
  return produced < asked ? `${produced} of ${asked} variations` : `${produced} variations`;
}

/** Why a Place or Download from History got no image, and whether the proxy no longer has it. */
export function historyImageError(error: ShownError, proxyUrl: string): { sentence: string; removed: boolean } {
  // The entry was just listed, so a missing image is one the proxy's expiry removed since: the proxy's own
  // "no longer exists" advice would contradict the entry still shown.
  if (error.code === 'not_found') {
    return {
      sentence:
        'This image is no longer on the proxy (results are kept for a limited time): reuse the prompt to make it again.',
      removed: true,
    };
  }
  return { sentence: errorSentence(error, proxyUrl), removed: false };
}

/** The sentence History shows when its list could not be loaded: what went wrong and what to do. */
export function historyErrorSentence(error: ShownError, proxyUrl: string): string {
  // A proxy from before History answers its list route like any unknown route.
  if (error.code === 'not_found') {
    return `The proxy at ${proxyUrl} keeps no History: update it to this plugin's version, then open History again.`;
  }
  if (error.code === 'internal' || error.code === 'upstream_error') {
    return `History could not be loaded: the proxy hit an error. Try again; if it persists, check the proxy's logs.`;
  }
  return `History could not be loaded. ${errorSentence(error, proxyUrl)}`;
}
