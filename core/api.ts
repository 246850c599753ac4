// The proxy's HTTP API (DESIGN.md §5–§6): zod schemas and types of every body, and the error codes.
import { z } from 'zod';
import { ASPECT_RATIOS, OUTPUT_FORMATS, QUALITIES, TIERS } from './formats';
import {
  GENERATION_MODES,
  MASK_MAX_BYTES,
  MAX_REFERENCES,
  MAX_VARIATIONS,
  PROMPT_MAX_CHARS,
  REFERENCE_MAX_BYTES,
  REFERENCE_MAX_EDGE,
} from './limits';
import { DEFAULT_QUALITY } from './pricing';

export const ERROR_STATUS = {
  prompt_empty: 400,
  prompt_too_long: 400,
  too_many_references: 400,
  unsupported_size: 400,
  invalid_request: 400,
  mask_size_mismatch: 400,
  mask_without_alpha: 400,
  unauthorized: 401,
  insufficient_credits: 402,
  forbidden_origin: 403,
  not_found: 404,
  not_ready: 409,
  idempotency_conflict: 409,
  payload_too_large: 413,
  reference_too_large: 413,
  mask_too_large: 413,
  unsupported_image: 415,
  content_policy: 422,
  rate_limited: 429,
  internal: 500,
  upstream_error: 502,
  upstream_timeout: 504,
  interrupted: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** A sentence per code that says what to do next; a server may send a more specific one. */
export const ERROR_ADVICE: Readonly<Record<ErrorCode, string>> = {
  prompt_empty: 'Write a prompt before generating.',
  prompt_too_long: `Shorten the prompt to ${PROMPT_MAX_CHARS.toLocaleString('en-US')} characters or fewer.`,
  too_many_references: `Use at most ${MAX_REFERENCES} reference images: remove some from the tray.`,
  unsupported_size: 'That aspect ratio has no such resolution: Auto renders at 1K only and 1:1 has no 4K.',
  invalid_request: 'The request was malformed. Update the plugin and proxy, then try again.',
  mask_size_mismatch:
    'The mask must have exactly the size of the image it edits (the first reference). Select the frame again and retry.',
  mask_without_alpha:
    'The mask must be a PNG with an alpha channel, transparent where the image may change. Draw shapes over the image and retry.',
  mask_too_large: `The mask must be under ${(MASK_MAX_BYTES + 1) / 1_000_000} MB: edit a smaller image or a lower resolution.`,
  unauthorized: 'The proxy needs a valid token: paste the one your admin gave you in Settings.',
  insufficient_credits: 'Not enough credits for this batch: ask your admin for more, or pick a lower resolution.',
  forbidden_origin:
    'This web page may not use the proxy. Use the Figma plugin, or add the origin to FRAMEFILL_ALLOWED_ORIGINS.',
  not_found: 'That job no longer exists: results are kept for a limited time. Generate it again.',
  not_ready: 'The image is not ready yet: wait for the job to complete.',
  idempotency_conflict: 'This request reused the key of a different request. Generate again.',
  payload_too_large: 'The request is too large: use fewer or smaller reference images.',
  reference_too_large: `Each reference must be at most ${REFERENCE_MAX_BYTES / 1024 / 1024} MB and ${REFERENCE_MAX_EDGE} px per edge: lower the reference size in Settings.`,
  unsupported_image: 'References must be PNG, JPEG or WebP images.',
  content_policy: 'The model refused this prompt or a reference image. Rephrase the prompt or change the references.',
  rate_limited: 'Too many requests right now: wait a moment and try again.',
  internal: 'The proxy hit an unexpected error. Try again; if it persists, check the proxy logs.',
  upstream_error: 'The image service failed. Try again in a moment.',
  upstream_timeout: 'The image service took too long to answer. Try again, or pick a lower resolution.',
  interrupted: 'The proxy restarted while this image was being made; your credits were returned. Generate it again.',
};

export const ErrorCodeSchema = z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]);

export const ApiErrorSchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  field: z.string().optional(),
  /** Seconds to wait before retrying, for `rate_limited` (the HTTP answer also carries `Retry-After`). */
  retry_after: z.number().nonnegative().optional(),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;
export const ErrorBodySchema = z.object({ error: ApiErrorSchema });
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export const AspectRatioSchema = z.enum(ASPECT_RATIOS);
export const TierSchema = z.enum(TIERS);
export const QualitySchema = z.enum(QUALITIES);
export const OutputFormatSchema = z.enum(OUTPUT_FORMATS);
export const GenerationModeSchema = z.enum(GENERATION_MODES);

export const PixelSizeSchema = z.object({ width: z.number().int().positive(), height: z.number().int().positive() });

export const HealthSchema = z.object({
  ok: z.boolean(),
  version: z.string(),
  provider: z.string(),
  model: z.string(),
  /** Where tokens, the ledger, jobs and results live, and whether it answers (`ok` is false when it does not). */
  store: z.object({ engine: z.enum(['sqlite', 'postgres']), reachable: z.boolean() }),
});
export type Health = z.infer<typeof HealthSchema>;

export const CapabilitiesSchema = z.object({
  model: z.string(),
  provider: z.string(),
  ratios: z.array(AspectRatioSchema),
  tiers: z.array(TierSchema),
  qualities: z.array(QualitySchema),
  /** ratio → tier → size; `experimental` marks what OpenAI calls experimental (over 2560 × 1440 pixels). */
  sizes: z.record(
    z.string(),
    z.record(
      z.string(),
      z.union([PixelSizeSchema.extend({ experimental: z.boolean().optional() }), z.literal('auto')]),
    ),
  ),
  /** quality → tier → credits per image. */
  prices: z.record(z.string(), z.record(z.string(), z.number().int().positive())),
  /** Whether a job canceled after its upstream call started is refunded (`started`) or charged (`queued`). */
  cancel_refund: z.enum(['queued', 'started']).optional(),
  limits: z.object({
    prompt_max_chars: z.number().int(),
    max_references: z.number().int(),
    reference_max_bytes: z.number().int(),
    reference_max_edge: z.number().int(),
    reference_mime_types: z.array(z.string()),
    /** An edit mask's byte cap (absent from proxies that predate edits). */
    mask_max_bytes: z.number().int().optional(),
  }),
});
export type Capabilities = z.infer<typeof CapabilitiesSchema>;

/** The text fields of `POST /v1/generations` (multipart); references are validated from their bytes. */
export const GenerationFieldsSchema = z.object({
  prompt: z.string(),
  aspect_ratio: AspectRatioSchema,
  resolution: TierSchema,
  quality: QualitySchema.default(DEFAULT_QUALITY),
  // JPEG: a 4K photo-like result is ~11× fewer bytes than PNG at SSIM 0.98 (README, "Output format"); Figma places
  // PNG and JPEG only, and GPT Image 2 makes no transparent backgrounds for PNG to keep.
  output_format: OutputFormatSchema.default('jpeg'),
  /** `edit` takes a `mask` file for the first reference; `expand` needs the first reference and no mask. */
  mode: GenerationModeSchema.default('generate'),
  /** Variations (OpenAI's `n`): each is an image at the full price; the job reserves n × price. */
  n: z.coerce.number().int().min(1).max(MAX_VARIATIONS).default(1),
});
export type GenerationFields = z.infer<typeof GenerationFieldsSchema>;

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'canceled', 'interrupted'] as const;
export const JobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatusSchema>;
export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'canceled', 'interrupted'];
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export const JobReferenceSchema = z.object({
  mime: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int(),
});

/** One image of a job; `url` and `thumbnail_url` are paths on the proxy. */
export const JobImageSchema = z.object({
  index: z.number().int().nonnegative(),
  width: z.number().int(),
  height: z.number().int(),
  mime: z.string(),
  bytes: z.number().int(),
  url: z.string(),
  thumbnail_url: z.string(),
  /** The full image was removed (result TTL or disk budget); its thumbnail, prompt and settings remain. */
  expired: z.boolean().optional(),
});
export type JobImage = z.infer<typeof JobImageSchema>;

export const JobSchema = z.object({
  id: z.uuid(),
  status: JobStatusSchema,
  prompt_chars: z.number().int(),
  aspect_ratio: AspectRatioSchema,
  resolution: TierSchema,
  /** Output size; `null` for Auto until the model has answered. */
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  quality: QualitySchema,
  output_format: OutputFormatSchema,
  references: z.number().int().min(0).max(MAX_REFERENCES),
  cost_credits: z.number().int(),
  created_at: z.string(),
  finished_at: z.string().optional(),
  error: ApiErrorSchema.optional(),
  notes: z.array(z.string()).optional(),
  model: z.string(),
  mime: z.string().optional(),
  bytes: z.number().int().optional(),
  /** Why a queued job waits, while it does (the same sentence as the status event's `reason`). */
  status_reason: z.string().optional(),
  /** On a canceled job: whether its credits came back (see CanceledEventSchema). */
  credits_returned: z.boolean().optional(),
  /** Variations asked (`n`); `images` holds those produced, in order (the single-image fields describe the first). */
  n: z.number().int().min(1).optional(),
  images: z.array(JobImageSchema).optional(),
  /** The prompt as sent (the caller's own; History shows and reuses it). */
  prompt: z.string().optional(),
});
export type Job = z.infer<typeof JobSchema>;

/** `GET /v1/generations`: the caller's jobs, newest first; `next_cursor` fetches the next page (null at the end). */
export const GenerationListSchema = z.object({
  jobs: z.array(JobSchema),
  next_cursor: z.string().nullable(),
});
export type GenerationList = z.infer<typeof GenerationListSchema>;
/** Jobs per History page: the default and the most a request may ask. */
export const HISTORY_PAGE_DEFAULT = 20;
export const HISTORY_PAGE_MAX = 50;
/** The longest text filter on the prompt. */
export const HISTORY_QUERY_MAX_CHARS = 200;

export const AccountSchema = z.object({
  name: z.string(),
  balance_credits: z.number().int(),
  spent_credits: z.number().int(),
  jobs_in_flight: z.number().int(),
});
export type Account = z.infer<typeof AccountSchema>;

/** `reason` says why a job waits (e.g. for the image service's rate limit), in a sentence for the designer. */
export const StatusEventSchema = z.object({ id: z.string(), status: JobStatusSchema, reason: z.string().optional() });
export const PartialEventSchema = z.object({
  id: z.string(),
  index: z.number().int().nonnegative(),
  mime: z.string(),
  b64: z.string(),
  width: z.number().int(),
  height: z.number().int(),
});
export const CompletedEventSchema = z.object({
  id: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  mime: z.string(),
  bytes: z.number().int(),
  url: z.string(),
  /** Every image produced (the fields above describe the first); absent from proxies without variations. */
  images: z.array(JobImageSchema).optional(),
});
export const FailedEventSchema = z.object({ id: z.string(), error: ApiErrorSchema });
/**
 * `credits_returned`: false when the image service had started (the operator is billed for a started call), unless
 * the operator refunds those too (FRAMEFILL_CANCEL_REFUND=started).
 */
export const CanceledEventSchema = z.object({ id: z.string(), credits_returned: z.boolean() });

export const JOB_EVENT_SCHEMAS = {
  status: StatusEventSchema,
  partial: PartialEventSchema,
  completed: CompletedEventSchema,
  failed: FailedEventSchema,
  canceled: CanceledEventSchema,
} as const;
export type JobEventName = keyof typeof JOB_EVENT_SCHEMAS;
export type JobEvent = {
  [K in JobEventName]: { event: K; data: z.infer<(typeof JOB_EVENT_SCHEMAS)[K]> };
}[JobEventName];

/** Parses one SSE event of the job stream; `undefined` for unknown names or invalid data. */
export function parseJobEvent(event: string, data: string): JobEvent | undefined {
  if (!(event in JOB_EVENT_SCHEMAS)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return undefined;
  }
  const name = event as JobEventName;
  const parsed = JOB_EVENT_SCHEMAS[name].safeParse(json);
  return parsed.success ? ({ event: name, data: parsed.data } as JobEvent) : undefined;
}

/** UUID v4 as the proxy issues them; every route validates the id before touching storage. */
export const JOB_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export function isJobId(value: string): boolean {
  return JOB_ID_PATTERN.test(value);
}
