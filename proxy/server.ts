// The proxy's HTTP app (DESIGN.md §5): middleware in order — request log, CORS, origin check, auth, per-client
// caps — then the routes, read top to bottom like the API table. Every error is a FramefillError rendered once in
// `onError`.
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { type Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import {
  type Account as AccountBody,
  type Capabilities,
  type GenerationList,
  type Health,
  HISTORY_PAGE_DEFAULT,
  HISTORY_PAGE_MAX,
  isJobId,
  isTerminal,
} from '../core/api';
import { ASPECT_RATIOS, isExperimentalSize, QUALITIES, SIZES, sizeFor, TIERS } from '../core/formats';
import {
  countPromptChars,
  MASK_MAX_BYTES,
  MAX_REFERENCES,
  PROMPT_MAX_CHARS,
  REFERENCE_MAX_BYTES,
  REFERENCE_MAX_EDGE,
  REFERENCE_MIME_TYPES,
} from '../core/limits';
import { type PriceTable, priceOf } from '../core/pricing';
import { searchProblem } from '../core/validate';
import packageJson from '../package.json';
import type { Config } from './config';
import { prepareJob } from './edits';
import { FramefillError } from './errors';
import { streamJobEvents } from './events';
import { decodeCursor, encodeCursor, type JobImageRow, type JobRow, type JobStore, jobView } from './jobs';
import type { Account, Ledger } from './ledger';
import type { Logger } from './log';
import { authenticate } from './middleware/auth';
import { type ClientCaps, capUploads } from './middleware/caps';
import { clientAddressFrom } from './middleware/client-address';
import { corsFor } from './middleware/cors';
import { refuseForeignOrigins } from './middleware/origin';
import { requestLog } from './middleware/request-log';
import type { Provider } from './providers/types';
import type { JobRunner } from './runner';
import type { Store } from './store';
import type { JobNotices } from './store/notices';
import type { ResultStore } from './store/results';
import { ClientGone, payloadTooLarge, receiveSubmission } from './submissions';

export interface AppDeps {
  config: Config;
  ledger: Ledger;
  store: JobStore;
  runner: JobRunner;
  /** The database (for health), the result images and the job notices, shared by every replica on PostgreSQL. */
  db: Store;
  results: ResultStore;
  notices: JobNotices;
  /** This replica's id, recorded on the jobs it accepts. */
  owner: string;
  /** How long a job's lease lasts from its acceptance (renewed while this replica runs). */
  leaseMs: number;
  provider: Provider;
  prices: PriceTable;
  log: Logger;
  localToken: string;
  caps: ClientCaps;
  /** Where uploads are written while a request arrives and until its job ends. */
  uploadsDir: string;
  /** Origins of the proxy itself (`http://localhost:PORT`…): the playground it serves may post to it. */
  selfOrigins: () => readonly string[];
  /** Told when a completed job's image was fetched (shutdown waits for those of jobs it let finish). */
  onImageFetched?: (id: string) => void;
  /** SSE keep-alive comment interval; 15 s unless a test shortens it. */
  keepAliveMs?: number;
  /** The folder holding build/playground.html and the bundles it loads. */
  staticDir?: string;
  /** Per-reference byte cap; §4's 50 MB unless a test lowers it. */
  referenceMaxBytes?: number;
}

type Env = { Variables: { account: Account; client: string; local?: boolean; clientGone?: boolean } };

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const PLAYGROUND_FILES: Record<string, string> = {
  'playground.js': 'text/javascript; charset=utf-8',
  'main.js': 'text/javascript; charset=utf-8',
  'ui.html': 'text/html; charset=utf-8',
};

export function createApp(deps: AppDeps): Hono<Env> {
  const { config, ledger, store, runner, provider, log } = deps;
  const app = new Hono<Env>();
  // While the store does not answer, the stricter reading (local mode's Host check) holds, and health still answers;
  // everything else fails on the store anyway.
  const localMode = async () => config.loopbackOnly && !(await ledger.hasTokens().catch(() => false));
  const clientAddress = clientAddressFrom(config.trustProxy);

  app.use('*', requestLog(log));
  app.use('/v1/*', corsFor(config.allowedOrigins));
  app.use(
    '*',
    refuseForeignOrigins({ localMode, allowedOrigins: config.allowedOrigins, selfOrigins: deps.selfOrigins }),
  );
  app.use(
    '/v1/*',
    authenticate({
      ledger,
      localMode,
      localToken: deps.localToken,
      clientAddress,
      failureLimit: config.authFailureLimit,
      failureWindowMs: config.authFailureWindowMs,
    }),
  );

  app.get('/v1/health', async (c) => {
    const reachable = await deps.db.ping();
    const body: Health = {
      ok: reachable,
      version: packageJson.version,
      provider: provider.name,
      model: provider.model,
      store: { engine: deps.db.engine, reachable },
    };
    return c.json(body, reachable ? 200 : 503);
  });

  app.get('/v1/capabilities', (c) =>
    c.json({
      ...capabilities(provider, deps.prices),
      cancel_refund: config.refundStartedCancels ? 'started' : 'queued',
    }),
  );

  app.post('/v1/generations', capUploads(deps.caps), async (c) => {
    const account = c.var.account;
    const idempotencyKey = idempotencyKeyOf(c);
    if (!runner.acceptingJobs) {
      throw new FramefillError('interrupted', 'The proxy is shutting down: generate again in a moment.');
    }
    const declared = Number(c.req.header('Content-Length') ?? Number.NaN);
    if (declared > config.bodyLimitBytes) throw payloadTooLarge(config.bodyLimitBytes);
    // A cheap first look before the upload is read; the count that decides is taken inside the job's transaction.
    deps.caps.admitQueued(await store.inFlight(account.id));
    const submission = await receiveSubmission(c.req.raw.body, c.req.header('Content-Type'), {
      uploadsDir: deps.uploadsDir,
      referenceMaxBytes: deps.referenceMaxBytes,
      maxBodyBytes: config.bodyLimitBytes,
    }).catch((error: unknown) => {
      if (error instanceof ClientGone) c.set('clientGone', true);
      throw error;
    });
    const { fields, references } = submission;
    try {
      const size = sizeFor(fields.aspect_ratio, fields.resolution);
      const prepared = await prepareJob(submission, size ?? 'auto');
      const { row, replayed } = await store.create({
        accountId: account.id,
        promptChars: countPromptChars(fields.prompt),
        aspectRatio: fields.aspect_ratio,
        resolution: fields.resolution,
        width: size && size !== 'auto' ? size.width : null,
        height: size && size !== 'auto' ? size.height : null,
        quality: fields.quality,
        outputFormat: fields.output_format,
        references: references.map(({ mime, width, height, bytes }) => ({ mime, width, height, bytes })),
        cost: priceOf(fields.resolution, fields.quality, deps.prices) * fields.n,
        model: provider.model,
        idempotencyKey,
        requestHash: submission.requestHash,
        n: fields.n,
        prompt: fields.prompt,
        owner: deps.owner,
        leaseUntil: Date.now() + deps.leaseMs,
        admit: (inFlight) => deps.caps.admitQueued(inFlight),
      });
      if (replayed) {
        await rm(submission.dir, { recursive: true, force: true });
        c.header('Idempotent-Replayed', 'true');
      } else {
        runner.enqueue(row, fields.prompt, prepared.references, submission.dir, prepared.edit);
      }
      c.header('Location', `/v1/generations/${row.id}`);
      return c.json(jobView(row, await store.images(row.id)), 202);
    } catch (error) {
      await rm(submission.dir, { recursive: true, force: true });
      throw error;
    }
  });

  // History: the caller's jobs, newest first, a page at a time; never another token's.
  app.get('/v1/generations', async (c) => {
    const query = historyQuery(c);
    const rows = await store.listFor(c.var.account.id, { ...query, limit: query.limit + 1 });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    const images = await store.imagesOf(page.map((row) => row.id));
    return c.json({
      jobs: page.map((row) => jobView(row, images.get(row.id))),
      next_cursor: rows.length > query.limit && last ? encodeCursor(last) : null,
    } satisfies GenerationList);
  });

  app.get('/v1/generations/:id', async (c) => {
    const row = await jobOf(c, store);
    return c.json(jobView(row, await store.images(row.id)));
  });

  app.get('/v1/generations/:id/events', async (c) => {
    const id = (await jobOf(c, store)).id;
    const release = deps.caps.openStream(c.var.account.id, c.var.client);
    return streamJobEvents(c, {
      id,
      store,
      notices: deps.notices,
      keepAliveMs: deps.keepAliveMs,
      onClose: release,
    });
  });

  app.get('/v1/generations/:id/image', async (c) => {
    const { row, image } = await imageOf(c, store);
    if (!image.result_file) throw expiredImage(image);
    const stored = await deps.results.open(row.id, image.image_index, image.mime);
    if (!stored) throw expiredImage(image);
    // Told once the response has been handed to the socket (the shutdown drain waits for it before closing).
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing) outgoing.once('finish', () => deps.onImageFetched?.(row.id));
    else deps.onImageFetched?.(row.id);
    return c.body(stored.body instanceof Uint8Array ? viewOf(stored.body) : stored.body, 200, {
      'Content-Type': image.mime,
      'Content-Length': String(stored.size),
      'Cache-Control': 'private, max-age=86400, immutable',
    });
  });

  app.get('/v1/generations/:id/thumbnail', async (c) => {
    const { image } = await imageOf(c, store);
    if (!image.thumbnail || !image.thumbnail_mime) {
      throw new FramefillError('not_found', 'This image was made before thumbnails existed: open the image itself.');
    }
    return c.body(viewOf(image.thumbnail), 200, {
      'Content-Type': image.thumbnail_mime,
      'Content-Length': String(image.thumbnail.byteLength),
      'Cache-Control': 'private, max-age=86400, immutable',
    });
  });

  app.delete('/v1/generations/:id', async (c) => {
    const row = await jobOf(c, store);
    await runner.cancel(row.id);
    return c.json(jobView((await store.get(row.id)) ?? row, await store.images(row.id)));
  });

  app.get('/v1/account', async (c) => {
    const account = (await ledger.accountById(c.var.account.id))!;
    return c.json({
      name: account.name,
      balance_credits: account.balance,
      spent_credits: account.spent,
      jobs_in_flight: await store.inFlight(account.id),
    } satisfies AccountBody);
  });

  // The playground (a dev tool) is served in local mode only, from the build folder, if it was built. The page
  // carries the local token, so it is never served with CORS headers (a foreign page cannot read it).
  app.get('/playground', async (c) =>
    servePlayground(c, deps.staticDir, 'playground.html', (await localMode()) ? deps.localToken : undefined),
  );
  app.get('/playground/:file', async (c) => {
    const file = c.req.param('file');
    return servePlayground(
      c,
      deps.staticDir,
      PLAYGROUND_FILES[file] ? file : undefined,
      (await localMode()) ? deps.localToken : undefined,
    );
  });

  app.notFound((c) =>
    c.json(
      new FramefillError('not_found', 'No such route. The API lives under /v1 (see GET /v1/capabilities).').toBody(),
      404,
    ),
  );

  app.onError((error, c) => {
    // hono/bearer-auth answers with a ready response (our §6 body).
    if (error instanceof HTTPException) return error.getResponse();
    const known = error instanceof FramefillError ? error : new FramefillError('internal', undefined, { cause: error });
    if (!(error instanceof FramefillError) && !(error instanceof ClientGone)) {
      log({ kind: 'error', method: c.req.method, path: c.req.path, error: error.message });
    }
    if (known.retryAfter !== undefined) c.header('Retry-After', String(Math.ceil(known.retryAfter)));
    // An upload refused part-way has unread bytes in flight: close the connection after this answer, so the
    // client does not reuse a socket the server is about to drop.
    if (c.req.method === 'POST') c.header('Connection', 'close');
    const body = {
      error: {
        ...known.toBody().error,
        ...(known.retryAfter !== undefined ? { retry_after: known.retryAfter } : {}),
      },
    };
    return c.json(body, known.status);
  });

  return app;
}

export function capabilities(provider: Provider, prices: PriceTable): Capabilities {
  const sizes: Capabilities['sizes'] = {};
  for (const ratio of ASPECT_RATIOS) {
    sizes[ratio] = {};
    for (const tier of TIERS) {
      const size = SIZES[ratio][tier];
      if (size) {
        sizes[ratio][tier] =
          size === 'auto'
            ? 'auto'
            : { width: size.width, height: size.height, ...(isExperimentalSize(size) ? { experimental: true } : {}) };
      }
    }
  }
  return {
    model: provider.model,
    provider: provider.name,
    ratios: [...ASPECT_RATIOS],
    tiers: [...TIERS],
    qualities: [...QUALITIES],
    sizes,
    prices,
    limits: {
      prompt_max_chars: PROMPT_MAX_CHARS,
      max_references: MAX_REFERENCES,
      reference_max_bytes: REFERENCE_MAX_BYTES,
      reference_max_edge: REFERENCE_MAX_EDGE,
      reference_mime_types: [...REFERENCE_MIME_TYPES],
      mask_max_bytes: MASK_MAX_BYTES,
    },
  };
}

function idempotencyKeyOf(c: Context<Env>): string | undefined {
  const key = c.req.header('Idempotency-Key');
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new FramefillError('invalid_request', 'Idempotency-Key must be 1–255 visible ASCII characters.', {
      field: 'Idempotency-Key',
    });
  }
  return key;
}

async function jobOf(c: Context<Env>, store: JobStore) {
  const id = c.req.param('id') ?? '';
  const row = isJobId(id) ? await store.getFor(c.var.account.id, id) : undefined;
  if (!row) throw new FramefillError('not_found');
  return row;
}

/** `?index=N` of the image routes: absent means the first; anything but a whole number is refused. */
function imageIndexOf(c: Context<Env>): number {
  const raw = c.req.query('index');
  if (raw === undefined) return 0;
  if (!/^\d{1,3}$/.test(raw)) {
    throw new FramefillError('invalid_request', `index must be a whole number from 0 (got "${raw}").`, {
      field: 'index',
    });
  }
  return Number(raw);
}

/** A job's image by `?index=N`; `not_ready` before the job completed, `not_found` for an index it does not have. */
async function imageOf(c: Context<Env>, store: JobStore): Promise<{ row: JobRow; image: JobImageRow }> {
  const row = await jobOf(c, store);
  const index = imageIndexOf(c);
  if (row.status !== 'completed') {
    throw new FramefillError(
      'not_ready',
      isTerminal(row.status)
        ? `This job ended ${row.status} and has no image. Generate it again.`
        : 'The image is not ready yet: wait for the job to complete.',
    );
  }
  const images = await store.images(row.id);
  const image = images.find((candidate) => candidate.image_index === index);
  if (!image) {
    throw new FramefillError(
      'not_found',
      images.length === 1
        ? `This job has one image: use index 0 (got ${index}).`
        : `This job has ${images.length} images: use an index from 0 to ${images.length - 1} (got ${index}).`,
      { field: 'index' },
    );
  }
  return { row, image };
}

function expiredImage(image: JobImageRow): FramefillError {
  return new FramefillError(
    'not_found',
    `This image was removed on ${(image.evicted_at ?? '').slice(0, 10) || 'expiry'} (results are kept for a limited time and disk space): its prompt and settings are still in History — reuse them to generate it again.`,
  );
}

function historyQuery(c: Context<Env>): { cursor?: ReturnType<typeof decodeCursor>; q?: string; limit: number } {
  const limitText = c.req.query('limit');
  let limit = HISTORY_PAGE_DEFAULT;
  if (limitText !== undefined) {
    limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : Number.NaN;
    if (!(limit >= 1 && limit <= HISTORY_PAGE_MAX)) {
      throw new FramefillError('invalid_request', `limit must be a whole number from 1 to ${HISTORY_PAGE_MAX}.`, {
        field: 'limit',
      });
    }
  }
  const cursorText = c.req.query('cursor');
  const cursor = cursorText ? decodeCursor(cursorText) : undefined;
  if (cursorText && !cursor) {
    throw new FramefillError('invalid_request', 'cursor is not one this proxy gave out: start again without it.', {
      field: 'cursor',
    });
  }
  const q = c.req.query('q')?.trim();
  const problem = q ? searchProblem(q) : undefined;
  if (problem) throw new FramefillError('invalid_request', problem, { field: 'q' });
  return { ...(cursor ? { cursor } : {}), ...(q ? { q } : {}), limit };
}

async function servePlayground(
  c: Context<Env>,
  dir: string | undefined,
  file: string | undefined,
  localToken: string | undefined,
) {
  const folder = dir ?? defaultStaticDir();
  if (!localToken || !file || !existsSync(path.join(folder, 'playground.html'))) throw new FramefillError('not_found');
  const bytes = await readFile(path.join(folder, file)).catch(() => undefined);
  if (!bytes) throw new FramefillError('not_found');
  const headers = {
    'Cache-Control': 'no-store',
    // Only the proxy's own pages may frame these (the playground frames its panel).
    'Content-Security-Policy': "frame-ancestors 'self'",
  };
  if (file === 'playground.html') {
    // The page hands the local token to its panel, so the first run needs no paste.
    const html = bytes.toString('utf8').replace('__FRAMEFILL_LOCAL_TOKEN__', localToken);
    return c.body(html, 200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
  }
  return c.body(viewOf(bytes), 200, {
    ...headers,
    'Content-Type': PLAYGROUND_FILES[file] ?? 'application/octet-stream',
  });
}

/** build/ beside build/proxy.mjs, or ../build from proxy/ when running from source (tests). */
function defaultStaticDir(): string {
  const here = path.dirname(new URL(import.meta.url).pathname);
  return path.basename(here) === 'build' ? here : path.resolve(here, '../build');
}

/**
 * The bytes as the body, without a copy (`new Uint8Array(buffer)` would copy a 4K PNG's 22 MB). Buffers from the
 * file system, node:sqlite and pg sit on plain ArrayBuffers, never shared ones.
 */
function viewOf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
}
