// The proxy's configuration, from the environment (DESIGN.md §7), validated once at start-up.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_BODY_LIMIT_BYTES } from '../core/limits';
import { unsupportedModelReason } from '../core/models';
import { DEFAULT_PRICES, type PriceTable, PriceTableSchema } from '../core/pricing';
import type { CapLimits } from './middleware/caps';
import type { TrustProxy } from './middleware/client-address';

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
/** An on/off setting: 1/true or 0/false. */
const flag = (fallback: boolean) =>
  z
    .enum(['0', '1', 'true', 'false'])
    .default(fallback ? '1' : '0')
    .transform((value) => value === '1' || value === 'true');

const EnvSchema = z.object({
  PORT: int(8787, 0).pipe(z.number().max(65_535)),
  HOST: z.string().trim().min(1).optional(),
  FRAMEFILL_DATA_DIR: z.string().default('./.framefill'),
  // PostgreSQL shared by every replica; unset: the SQLite file in the data dir.
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^$|^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// or postgresql:// URL')
    .optional(),
  FRAMEFILL_DB_POOL_SIZE: int(10, 1),
  // A replica vouches for its jobs this long at a time; another one interrupts them once it has lapsed.
  FRAMEFILL_LEASE_S: z.coerce.number().positive().default(30),
  FRAMEFILL_PROVIDER: z.enum(['openai', 'task', 'draft']).optional(),
  OPENAI_API_KEY: z.string().trim().min(1).optional(),
  OPENAI_BASE_URL: z.url().optional(),
  OPENAI_IMAGE_MODEL: z.string().trim().min(1).default('gpt-image-2'),
  FRAMEFILL_ALLOWED_ORIGINS: z.string().default(''),
  // A week: long enough for History to come back to a result; the disk budget bounds the space it takes.
  // At most a century: the cutoff (now − TTL) must stay a date.
  FRAMEFILL_RESULT_TTL_HOURS: z.coerce.number().positive().max(876_000).default(168),
  FRAMEFILL_RESULTS_MAX_MB: z.coerce.number().positive().default(2048),
  FRAMEFILL_UPSTREAM_CONCURRENCY: int(4, 1),
  FRAMEFILL_UPSTREAM_TIMEOUT_S: z.coerce.number().positive().default(600),
  FRAMEFILL_DRAFT_DELAY_MS: int(1500, 0),
  FRAMEFILL_BODY_LIMIT_BYTES: int(DEFAULT_BODY_LIMIT_BYTES, 1024),
  FRAMEFILL_LOG_PROMPTS: flag(false),
  FRAMEFILL_UPSTREAM_IMAGES_PER_MINUTE: int(0, 0),
  FRAMEFILL_PARTIAL_IMAGES: int(1, 0).pipe(z.number().max(3)),
  FRAMEFILL_PRICES: z.string().trim().min(1).optional(),
  // `started`: a job canceled after its upstream call started is refunded too (the operator pays for it).
  FRAMEFILL_CANCEL_REFUND: z.enum(['queued', 'started']).default('queued'),
  // Which hops' X-Forwarded-For to believe: a hop count, or the terminators' addresses (comma-separated).
  FRAMEFILL_TRUST_PROXY: z.string().trim().min(1).optional(),
  FRAMEFILL_MAX_STREAMS_PER_TOKEN: int(200, 1),
  FRAMEFILL_MAX_STREAMS_PER_ADDRESS: int(400, 1),
  FRAMEFILL_MAX_UPLOADS_PER_TOKEN: int(32, 1),
  FRAMEFILL_MAX_JOBS_PER_TOKEN: int(100, 1),
  FRAMEFILL_SHUTDOWN_GRACE_S: z.coerce.number().nonnegative().default(30),
  // Slow clients (slowloris): the headers must arrive within the first, the whole request within the second.
  FRAMEFILL_HEADERS_TIMEOUT_S: z.coerce.number().positive().default(30),
  FRAMEFILL_REQUEST_TIMEOUT_S: z.coerce.number().positive().default(1800),
  // Failed authentications one client may make per window before it is answered 429 rate_limited.
  FRAMEFILL_AUTH_FAILURE_LIMIT: int(20, 1),
  FRAMEFILL_AUTH_FAILURE_WINDOW_S: z.coerce.number().positive().default(60),
});

export interface Config {
  port: number;
  /** Addresses to listen on; both loopback families by default, since `localhost` may be either. */
  hosts: string[];
  loopbackOnly: boolean;
  dataDir: string;
  /** PostgreSQL for several replicas; undefined: SQLite in the data dir. */
  databaseUrl: string | undefined;
  dbPoolSize: number;
  /** How long a job's lease lasts; renewed every third of it while its replica lives. */
  leaseMs: number;
  provider: 'openai' | 'task' | 'draft';
  openai: { apiKey: string | undefined; baseURL: string | undefined; model: string };
  /** The task-API reseller's settings (FRAMEFILL_PROVIDER=task), validated only when it is the provider. */
  task: TaskConfig | undefined;
  allowedOrigins: string[];
  resultTtlMs: number;
  /** All result images together stay under this; the oldest are removed first (FRAMEFILL_RESULTS_MAX_MB). */
  resultsMaxBytes: number;
  upstreamConcurrency: number;
  upstreamTimeoutMs: number;
  draftDelayMs: number;
  bodyLimitBytes: number;
  logPrompts: boolean;
  /** Upstream calls started per minute at most; 0: no proactive pace. */
  imagesPerMinute: number;
  /** Partial previews asked of the upstream (each costs about 100 image output tokens). */
  partialImages: number;
  prices: PriceTable;
  refundStartedCancels: boolean;
  trustProxy: TrustProxy;
  caps: CapLimits;
  shutdownGraceMs: number;
  headersTimeoutMs: number;
  /** Never below the headers timeout (Node refuses a request timeout shorter than it). */
  requestTimeoutMs: number;
  authFailureLimit: number;
  authFailureWindowMs: number;
}

export const LOOPBACK_HOSTS = ['127.0.0.1', '::1'];

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid configuration: ${issue?.path.join('.') ?? 'env'}: ${issue?.message ?? 'invalid'}`);
  }
  const e = parsed.data;
  const hosts = e.HOST
    ? e.HOST.split(',')
        .map((h) => h.trim())
        .filter(Boolean)
    : LOOPBACK_HOSTS;
  const provider = e.FRAMEFILL_PROVIDER ?? (e.OPENAI_API_KEY ? 'openai' : 'draft');
  if (provider === 'openai' && !e.OPENAI_API_KEY) {
    throw new Error('FRAMEFILL_PROVIDER=openai needs OPENAI_API_KEY: set the key, or use FRAMEFILL_PROVIDER=draft.');
  }
  // Only a model whose sizes are Framefill's (core/models.ts): a retired or older GPT image model refuses most of them.
  const unsupportedModel = provider === 'openai' ? unsupportedModelReason(e.OPENAI_IMAGE_MODEL) : undefined;
  if (unsupportedModel) throw new Error(`Refusing to start: ${unsupportedModel}`);
  return {
    port: e.PORT,
    hosts,
    loopbackOnly: hosts.every(isLoopbackHost),
    dataDir: path.resolve(e.FRAMEFILL_DATA_DIR),
    databaseUrl: e.DATABASE_URL || undefined,
    dbPoolSize: e.FRAMEFILL_DB_POOL_SIZE,
    leaseMs: e.FRAMEFILL_LEASE_S * 1000,
    provider,
    openai: { apiKey: e.OPENAI_API_KEY, baseURL: e.OPENAI_BASE_URL, model: e.OPENAI_IMAGE_MODEL },
    task: provider === 'task' ? loadTaskConfig(env) : undefined,
    allowedOrigins: e.FRAMEFILL_ALLOWED_ORIGINS.split(',')
      .map((o) => o.trim().replace(/\/+$/, ''))
      .filter(Boolean),
    resultTtlMs: e.FRAMEFILL_RESULT_TTL_HOURS * 3_600_000,
    resultsMaxBytes: Math.round(e.FRAMEFILL_RESULTS_MAX_MB * 1024 * 1024),
    upstreamConcurrency: e.FRAMEFILL_UPSTREAM_CONCURRENCY,
    upstreamTimeoutMs: e.FRAMEFILL_UPSTREAM_TIMEOUT_S * 1000,
    draftDelayMs: e.FRAMEFILL_DRAFT_DELAY_MS,
    bodyLimitBytes: e.FRAMEFILL_BODY_LIMIT_BYTES,
    logPrompts: e.FRAMEFILL_LOG_PROMPTS,
    imagesPerMinute: e.FRAMEFILL_UPSTREAM_IMAGES_PER_MINUTE,
    partialImages: e.FRAMEFILL_PARTIAL_IMAGES,
    prices: e.FRAMEFILL_PRICES ? loadPrices(e.FRAMEFILL_PRICES) : DEFAULT_PRICES,
    refundStartedCancels: e.FRAMEFILL_CANCEL_REFUND === 'started',
    trustProxy: trustProxyOf(e.FRAMEFILL_TRUST_PROXY),
    caps: {
      streamsPerToken: e.FRAMEFILL_MAX_STREAMS_PER_TOKEN,
      streamsPerAddress: e.FRAMEFILL_MAX_STREAMS_PER_ADDRESS,
      uploadsPerToken: e.FRAMEFILL_MAX_UPLOADS_PER_TOKEN,
      jobsPerToken: e.FRAMEFILL_MAX_JOBS_PER_TOKEN,
    },
    shutdownGraceMs: e.FRAMEFILL_SHUTDOWN_GRACE_S * 1000,
    headersTimeoutMs: e.FRAMEFILL_HEADERS_TIMEOUT_S * 1000,
    requestTimeoutMs: Math.max(e.FRAMEFILL_REQUEST_TIMEOUT_S, e.FRAMEFILL_HEADERS_TIMEOUT_S) * 1000,
    authFailureLimit: e.FRAMEFILL_AUTH_FAILURE_LIMIT,
    authFailureWindowMs: e.FRAMEFILL_AUTH_FAILURE_WINDOW_S * 1000,
  };
}

/** An operator's price table (FRAMEFILL_PRICES): a JSON file naming every quality × tier in whole credits. */
function loadPrices(file: string): PriceTable {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(
      `FRAMEFILL_PRICES=${file} could not be read as JSON (${error instanceof Error ? error.message : String(error)}).`,
    );
  }
  const parsed = PriceTableSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `FRAMEFILL_PRICES=${file}: ${issue?.path.join('.') || 'the table'}: ${issue?.message ?? 'invalid'}. ` +
        'It must give whole credits (1 or more) for every quality (low, medium, high) and tier (1K, 2K, 4K), e.g. ' +
        JSON.stringify(DEFAULT_PRICES),
    );
  }
  return parsed.data;
}

function trustProxyOf(value: string | undefined): TrustProxy {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  return value
    .split(',')
    .map((address) => address.trim())
    .filter(Boolean);
}

// ── Task-API reseller (FRAMEFILL_PROVIDER=task): kie.ai's createTask / recordInfo interface (README, "Choosing a
// provider"). Its own block, read only when it is the provider, so a missing key or URL is named at start-up.
const TaskEnvSchema = z.object({
  TASK_API_BASE_URL: z.url({ error: 'TASK_API_BASE_URL must be an http(s) URL, e.g. https://api.kie.ai' }).optional(),
  TASK_API_KEY: z.string().trim().min(1).optional(),
  TASK_API_MODEL_TEXT: z.string().trim().min(1).default('gpt-image-2-text-to-image'),
  TASK_API_MODEL_IMAGE: z.string().trim().min(1).default('gpt-image-2-image-to-image'),
  // Where references are uploaded (`<url>/api/file-stream-upload`); the base URL unless set; `off`: no upload API.
  TASK_API_UPLOAD_URL: z.union([z.literal('off'), z.url()]).optional(),
  // Polling recordInfo: the first wait, growing by half each time up to the second (kie asks for 2–3 s, then more).
  TASK_API_POLL_MS: int(2000, 1),
  TASK_API_POLL_MAX_MS: int(15_000, 1),
});

export interface TaskConfig {
  baseURL: string;
  apiKey: string;
  modelText: string;
  modelImage: string;
  /** Base URL of the file-upload API; undefined when there is none (image-to-image is then refused). */
  uploadURL: string | undefined;
  /** First wait between polls, growing by half each poll up to `pollMaxMs`. */
  pollMs: number;
  pollMaxMs: number;
}

export function loadTaskConfig(env: NodeJS.ProcessEnv): TaskConfig {
  const parsed = TaskEnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid configuration: ${issue?.path.join('.') ?? 'env'}: ${issue?.message ?? 'invalid'}`);
  }
  const e = parsed.data;
  const missing = [e.TASK_API_BASE_URL ? '' : 'TASK_API_BASE_URL', e.TASK_API_KEY ? '' : 'TASK_API_KEY'].filter(
    Boolean,
  );
  if (!e.TASK_API_BASE_URL || !e.TASK_API_KEY) {
    throw new Error(
      `FRAMEFILL_PROVIDER=task needs ${missing.join(' and ')}: set the reseller's API base URL (e.g. TASK_API_BASE_URL=https://api.kie.ai) and its API key, or use another FRAMEFILL_PROVIDER.`,
    );
  }
  const baseURL = e.TASK_API_BASE_URL.replace(/\/+$/, '');
  return {
    baseURL,
    apiKey: e.TASK_API_KEY,
    modelText: e.TASK_API_MODEL_TEXT,
    modelImage: e.TASK_API_MODEL_IMAGE,
    uploadURL: e.TASK_API_UPLOAD_URL === 'off' ? undefined : (e.TASK_API_UPLOAD_URL ?? baseURL).replace(/\/+$/, ''),
    pollMs: e.TASK_API_POLL_MS,
    pollMaxMs: Math.max(e.TASK_API_POLL_MAX_MS, e.TASK_API_POLL_MS),
  };
}
