// What History shows of a past job, in the panel's words, and what placing one from there sends. Pure, so it is
// tested without a DOM.
import type { Job } from '../core/api';
import type { Provenance } from '../core/messages';

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

/** Whether the job's first image can still be fetched (placed or downloaded). */
export function hasImage(job: Job): boolean {
  const first = job.images?.[0];
  return job.status === 'completed' && first !== undefined && first.expired !== true;
}

/** Why an entry has no image to place or download, or `undefined` when it has one. */
export function noImageReason(job: Job): string | undefined {
  if (hasImage(job)) return undefined;
  if (job.status === 'completed') return 'Image removed (kept for a limited time) — reuse the prompt to make it again.';
  if (job.status === 'queued' || job.status === 'running') return 'Still being made.';
  return `No image: the job ended ${job.status}.`;
}

/** The layer's record of where its image came from, for a job placed from History. */
export function historyProvenance(job: Job): Provenance {
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
  };
}
