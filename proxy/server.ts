// The proxy's HTTP app (DESIGN.md §5): middleware in order — request log, CORS, origin check, auth, body
// limit — then the routes, read top to bottom like the API table. Every error is a FramefillError rendered
// once in `onError`.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { getConnInfo } from '@hono/node-server/conninfo';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import {
  type Account as AccountBody,
  type Capabilities,
  type GenerationFields,
  GenerationFieldsSchema,
  type Health,
  isJobId,
  isTerminal,
  type JobEvent,
} from '../core/api';
import { ASPECT_RATIOS, isExperimentalSize, type OutputSize, QUALITIES, SIZES, sizeFor, TIERS } from '../core/formats';
import {
  countPromptChars,
  MAX_REFERENCES,
  PROMPT_MAX_CHARS,
  REFERENCE_MAX_BYTES,
  REFERENCE_MAX_EDGE,
  REFERENCE_MIME_TYPES,
  type ReferenceMime,
} from '../core/limits';
import { DEFAULT_PRICES, priceOf } from '../core/pricing';
import { validateGeneration } from '../core/validate';
import packageJson from '../package.json';
import { ArrivingReferences } from './arriving';
import type { Config } from './config';
import { FramefillError } from './errors';
import { referenceDimensions, referenceMimeOf } from './images';
import { type JobStore, jobView } from './jobs';
import type { Account, Ledger } from './ledger';
import type { Logger } from './log';
import { readMultipart } from './multipart';
import type { Provider, SpooledReference } from './providers/types';
import { countedBody } from './request-body';
import { type EarlyStart, type JobRunner, terminalEvents } from './runner';

export interface AppDeps {
  config: Config;
  ledger: Ledger;
  store: JobStore;
  runner: JobRunner;
  provider: Provider;
  log: Logger;
  /** Where uploads are spooled while a request arrives and until its job ends. */
  uploadsDir: string;
  /** Origins of the proxy itself (`http://localhost:PORT`…): the playground it serves may post to it. */
  selfOrigins: () => readonly string[];
  /** SSE keep-alive comment interval; 15 s unless a test shortens it. */
  keepAliveMs?: number;
  /** The folder holding build/playground.html and the bundles it loads. */
  staticDir?: string;
  /** Per-reference byte cap; §4's 50 MB unless a test lowers it. */
  referenceMaxBytes?: number;
}

type Env = {
  /** Set by @hono/node-server; absent under app.request() in unit tests. */
  Bindings: { incoming?: IncomingMessage } | undefined;
  Variables: { account: Account; body: AsyncIterable<Uint8Array> | null };
};

const KEEP_ALIVE_MS = 15_000;
/** A prompt of 20,000 four-byte characters plus generous whitespace; the other fields are tiny. */
const MAX_FIELD_BYTES = 1024 * 1024;
const TEXT_FIELDS = new Set(['prompt', 'aspect_ratio', 'resolution', 'quality', 'output_format']);
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const PLAYGROUND_FILES: Record<string, string> = {
  'playground.js': 'text/javascript; charset=utf-8',
  'main.js': 'text/javascript; charset=utf-8',
  'ui.html': 'text/html; charset=utf-8',
};

export function createApp(deps: AppDeps): Hono<Env> {
  const { config, ledger, store, runner, provider, log } = deps;
  const app = new Hono<Env>();
  const localMode = () => config.loopbackOnly && !ledger.hasTokens();

  app.use('*', requestLog(log));
  app.use('*', cors(config.allowedOrigins));
  app.use('*', refuseForeignOrigins(config, deps.selfOrigins));
  app.use('/v1/*', authenticate(ledger, config));
  app.use('/v1/*', limitBody(config.bodyLimitBytes));

  app.get('/v1/health', (c) =>
    c.json({ ok: true, version: packageJson.version, provider: provider.name, model: provider.model } satisfies Health),
  );

  app.get('/v1/capabilities', (c) => c.json(capabilities(provider)));

  app.post('/v1/generations', async (c) => {
    const account = c.var.account;
    const idempotencyKey = c.req.header('Idempotency-Key');
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new FramefillError('invalid_request', 'Idempotency-Key must be 1–255 visible ASCII characters.', {
        field: 'Idempotency-Key',
      });
    }
    const uploadDir = path.join(deps.uploadsDir, randomUUID());
    const mimes: ReferenceMime[] = [];
    const references: SpooledReference[] = [];
    const maxBytes = deps.referenceMaxBytes ?? REFERENCE_MAX_BYTES;
    // The upstream request may start while the references still arrive (see startEarly), once the text fields
    // that came first are valid, the balance covers the cost and no earlier job holds this Idempotency-Key.
    const arriving = new ArrivingReferences();
    let early: EarlyStart | undefined;
    const startEarly = (fields: ReadonlyMap<string, string>) => {
      let draft: GenerationFields;
      try {
        draft = generationFields(fields, 1);
      } catch {
        return; // The same check runs again on the whole form, and answers then.
      }
      if ((ledger.accountById(account.id)?.balance ?? 0) < priceOf(draft.resolution, draft.quality)) return;
      if (idempotencyKey !== undefined && store.idempotencyKeyInUse(account.id, idempotencyKey)) return;
      early = runner.startEarly({
        id: randomUUID(),
        prompt: draft.prompt.trim(),
        aspectRatio: draft.aspect_ratio,
        resolution: draft.resolution,
        quality: draft.quality,
        outputFormat: draft.output_format,
        arriving,
      });
      // Whatever the first attempt left unread is of no use to a retry, which reads the spool.
      const release = () => arriving.release();
      void early?.result.then(release, release);
    };
    try {
      const form = await readMultipart(c.var.body, c.req.header('Content-Type'), uploadDir, {
        maxFileBytes: maxBytes,
        maxFiles: MAX_REFERENCES,
        maxFieldBytes: MAX_FIELD_BYTES,
        checkFileStart: (head, index) => {
          mimes[index] = referenceMimeOf(head, index);
        },
        observer: {
          fileStarted: (index, file, bytesOnDisk, fields) => {
            arriving.started(index, file, mimes[index]!, bytesOnDisk);
            if (index === 0) startEarly(fields);
          },
          // Kept in memory only for an upstream request that is already reading them.
          fileData: (index, chunk) => {
            if (early) arriving.received(index, chunk);
          },
          fileWritten: (index, bytesOnDisk) => arriving.written(index, bytesOnDisk),
          fileEnded: (index) => arriving.ended(index),
        },
        checkFile: async (part, index) => {
          if (part.name !== 'reference' && part.name !== 'reference[]') {
            throw new FramefillError(
              'invalid_request',
              `Unexpected file field "${part.name}": send images as "reference".`,
              {
                field: part.name,
              },
            );
          }
          const { width, height } = await referenceDimensions(part.file, index, part.head);
          references[index] = { file: part.file, mime: mimes[index]!, width, height };
        },
        fileTooLarge: (index) =>
          new FramefillError(
            'reference_too_large',
            `Reference ${index + 1} is over ${maxBytes / 1024 / 1024} MB. Lower the reference size in Settings.`,
            { field: 'reference' },
          ),
        tooManyFiles: (count) =>
          new FramefillError(
            'too_many_references',
            `${count} references sent; at most ${MAX_REFERENCES} are allowed. Remove some from the tray.`,
            { field: 'reference' },
          ),
        fieldTooLarge: (name) =>
          name === 'prompt'
            ? new FramefillError(
                'prompt_too_long',
                `Shorten the prompt to ${PROMPT_MAX_CHARS.toLocaleString('en-US')} characters or fewer.`,
                { field: 'prompt' },
              )
            : new FramefillError('invalid_request', `The field "${name}" is too long.`, { field: name }),
      });
      const fields = generationFields(form.fields, references.length);
      const size = sizeFor(fields.aspect_ratio, fields.resolution) as OutputSize;
      const requestHash = createHash('sha256')
        .update(
          JSON.stringify({
            fields: [fields.prompt, fields.aspect_ratio, fields.resolution, fields.quality, fields.output_format],
            references: form.files.map((f) => [f.bytes, f.crc32]),
          }),
        )
        .digest('hex');
      const { row, replayed } = store.create({
        ...(early ? { id: early.id } : {}),
        accountId: account.id,
        promptChars: countPromptChars(fields.prompt),
        aspectRatio: fields.aspect_ratio,
        resolution: fields.resolution,
        width: size === 'auto' ? null : size.width,
        height: size === 'auto' ? null : size.height,
        quality: fields.quality,
        outputFormat: fields.output_format,
        references: references.map((r, i) => ({
          mime: r.mime,
          width: r.width,
          height: r.height,
          bytes: form.files[i]?.bytes ?? 0,
        })),
        cost: priceOf(fields.resolution, fields.quality),
        model: provider.model,
        idempotencyKey,
        requestHash,
      });
      if (replayed) {
        if (early) runner.abandon(early);
        arriving.refuse(new FramefillError('internal', 'replayed'));
        await rm(uploadDir, { recursive: true, force: true });
        c.header('Idempotent-Replayed', 'true');
      } else if (early) {
        runner.adopt(early, row, references, uploadDir);
        arriving.accept();
      } else {
        runner.enqueue(row, fields.prompt.trim(), references, uploadDir);
      }
      c.header('Location', `/v1/generations/${row.id}`);
      return c.json(jobView(row), 202);
    } catch (error) {
      arriving.refuse(error);
      if (early) runner.abandon(early);
      await rm(uploadDir, { recursive: true, force: true });
      throw error;
    }
  });

  app.get('/v1/generations/:id', (c) => c.json(jobView(jobOf(c, store))));

  app.get('/v1/generations/:id/events', (c) => {
    const id = jobOf(c, store).id;
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const inbox: JobEvent[] = [];
      let wake: (() => void) | undefined;
      let closed = false;
      // Subscribe before reading the row: both happen in this tick, so no transition falls between them.
      const unsubscribe = runner.subscribe(id, (event) => {
        inbox.push(event);
        wake?.();
      });
      stream.onAbort(() => {
        closed = true;
        wake?.();
      });
      try {
        const row = store.get(id);
        if (!row) return;
        await stream.writeSSE({ event: 'status', data: JSON.stringify({ id, status: row.status }) });
        if (isTerminal(row.status)) {
          for (const event of terminalEvents(row))
            await stream.writeSSE({ event: event.event, data: JSON.stringify(event.data) });
          return;
        }
        const partial = runner.lastPartial(id);
        if (partial) await stream.writeSSE({ event: 'partial', data: JSON.stringify({ id, ...partial }) });
        const keepAliveMs = deps.keepAliveMs ?? KEEP_ALIVE_MS;
        while (!closed) {
          const event = inbox.shift();
          if (!event) {
            const timedOut = await new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(true), keepAliveMs);
              wake = () => {
                clearTimeout(timer);
                resolve(false);
              };
            });
            wake = undefined;
            if (timedOut && !closed) await stream.write(': keep-alive\n\n');
            continue;
          }
          await stream.writeSSE({ event: event.event, data: JSON.stringify(event.data) });
          if (event.event === 'completed' || event.event === 'failed' || event.event === 'canceled') return;
        }
      } finally {
        unsubscribe();
      }
    });
  });

  app.get('/v1/generations/:id/image', async (c) => {
    const row = jobOf(c, store);
    if (row.status !== 'completed' || !row.result_file || !row.mime) {
      throw new FramefillError(
        'not_ready',
        isTerminal(row.status)
          ? `This job ended ${row.status} and has no image. Generate it again.`
          : 'The image is not ready yet: wait for the job to complete.',
      );
    }
    const size = await stat(row.result_file).catch(() => undefined);
    if (!size) throw new FramefillError('not_found');
    return c.body(Readable.toWeb(createReadStream(row.result_file)) as ReadableStream, 200, {
      'Content-Type': row.mime,
      'Content-Length': String(size.size),
      'Cache-Control': 'private, max-age=86400, immutable',
    });
  });

  app.delete('/v1/generations/:id', (c) => {
    const row = jobOf(c, store);
    runner.cancel(row.id);
    return c.json(jobView(store.get(row.id) ?? row));
  });

  app.get('/v1/account', (c) => {
    const account = ledger.accountById(c.var.account.id)!;
    return c.json({
      name: account.name,
      balance_credits: account.balance,
      spent_credits: account.spent,
      jobs_in_flight: store.inFlight(account.id),
    } satisfies AccountBody);
  });

  // The playground (a dev tool) is served in local mode only, from the build folder, if it was built.
  app.get('/playground', (c) => servePlayground(c, deps.staticDir, 'playground.html', localMode()));
  app.get('/playground/:file', (c) => {
    const file = c.req.param('file');
    return servePlayground(c, deps.staticDir, PLAYGROUND_FILES[file] ? file : undefined, localMode());
  });

  app.notFound((c) =>
    c.json(
      new FramefillError('not_found', 'No such route. The API lives under /v1 (see GET /v1/capabilities).').toBody(),
      404,
    ),
  );

  app.onError((error, c) => {
    const known = error instanceof FramefillError ? error : new FramefillError('internal', undefined, { cause: error });
    if (!(error instanceof FramefillError)) {
      log({ kind: 'error', method: c.req.method, path: c.req.path, error: error.message });
    }
    if (known.code === 'rate_limited' && known.retryAfter !== undefined) {
      c.header('Retry-After', String(Math.ceil(known.retryAfter)));
    }
    // An upload refused part-way has unread bytes in flight: close the connection after this answer, so
    // the client does not reuse a socket the server is about to drop.
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

export function capabilities(provider: Provider): Capabilities {
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
    prices: DEFAULT_PRICES,
    limits: {
      prompt_max_chars: PROMPT_MAX_CHARS,
      max_references: MAX_REFERENCES,
      reference_max_bytes: REFERENCE_MAX_BYTES,
      reference_max_edge: REFERENCE_MAX_EDGE,
      reference_mime_types: [...REFERENCE_MIME_TYPES],
    },
  };
}

function jobOf(c: Context<Env>, store: JobStore) {
  const id = c.req.param('id') ?? '';
  const row = isJobId(id) ? store.getFor(c.var.account.id, id) : undefined;
  if (!row) throw new FramefillError('not_found');
  return row;
}

function requestLog(log: Logger): MiddlewareHandler<Env> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    log({
      kind: 'request',
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  };
}

/**
 * The plugin iframe's origin is `null`, and Figma documents that it can only call APIs answering
 * `Access-Control-Allow-Origin: *` (https://developers.figma.com/docs/plugins/making-network-requests/):
 * `null` and no Origin get `*`, configured origins are echoed, any other origin gets no CORS headers.
 */
function cors(allowedOrigins: readonly string[]): MiddlewareHandler<Env> {
  return async (c, next) => {
    const origin = c.req.header('Origin');
    const allow =
      origin === undefined || origin === 'null' ? '*' : allowedOrigins.includes(origin) ? origin : undefined;
    const headers: Record<string, string> = allow
      ? {
          'Access-Control-Allow-Origin': allow,
          'Access-Control-Expose-Headers': 'Retry-After, Location, Idempotent-Replayed',
          ...(allow === '*' ? {} : { Vary: 'Origin' }),
        }
      : { Vary: 'Origin' };
    if (c.req.method === 'OPTIONS' && c.req.header('Access-Control-Request-Method')) {
      return c.body(null, 204, {
        ...headers,
        ...(allow
          ? {
              'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
              'Access-Control-Allow-Headers': 'Authorization, Content-Type, Idempotency-Key',
              'Access-Control-Max-Age': '600',
            }
          : {}),
      });
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}

/**
 * A web page the user visits must not spend their credits through a form post to localhost (§7): POST and
 * DELETE from a present, non-`null`, unlisted Origin are refused. In local mode the Host must be a loopback
 * name too, so a DNS-rebound page cannot pose as localhost.
 */
function refuseForeignOrigins(config: Config, selfOrigins: () => readonly string[]): MiddlewareHandler<Env> {
  return async (c, next) => {
    const forbidden = () => new FramefillError('forbidden_origin', undefined, { field: 'Origin' });
    if (config.loopbackOnly) {
      const host = c.req.header('Host') ?? '';
      if (!/^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i.test(host)) throw forbidden();
    }
    const origin = c.req.header('Origin');
    const changesState = c.req.method === 'POST' || c.req.method === 'DELETE';
    if (
      changesState &&
      origin !== undefined &&
      origin !== 'null' &&
      !config.allowedOrigins.includes(origin) &&
      !selfOrigins().includes(origin)
    ) {
      throw forbidden();
    }
    await next();
  };
}

function authenticate(ledger: Ledger, config: Config): MiddlewareHandler<Env> {
  const failures = new AuthFailures(config.authFailureLimit, config.authFailureWindowMs);
  return async (c, next) => {
    if (c.req.path === '/v1/health' || c.req.path === '/v1/capabilities' || c.req.method === 'OPTIONS') {
      return next();
    }
    if (ledger.hasTokens() || !config.loopbackOnly) {
      const header = c.req.header('Authorization') ?? '';
      const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
      const client = token ? clientAddress(c) : '';
      if (token) failures.check(client);
      const account = token ? ledger.authenticate(token) : undefined;
      if (!account) {
        if (token) failures.record(client);
        throw new FramefillError(
          'unauthorized',
          token
            ? 'This token is unknown or revoked: paste a valid one in Settings.'
            : 'The proxy needs a token: paste the one your admin gave you in Settings.',
        );
      }
      c.set('account', account);
    } else {
      c.set('account', ledger.localAccount());
    }
    return next();
  };
}

function clientAddress(c: Context<Env>): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // Not served by @hono/node-server (app.request() in a unit test): one shared bucket.
    return 'unknown';
  }
}

/**
 * Guessing tokens: a client whose wrong tokens reach `limit` within a window gets `429 rate_limited` (with
 * Retry-After) for every authenticated request until the window ends — a right token too, or the limit would be
 * an oracle. A missing token is not counted (a panel not set up yet is no attack). The map is bounded.
 */
class AuthFailures {
  private readonly clients = new Map<string, { count: number; resetAt: number }>();
  private static readonly MAX_CLIENTS = 10_000;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  check(client: string): void {
    const entry = this.live(client);
    if (entry && entry.count >= this.limit) {
      throw new FramefillError('rate_limited', 'Too many wrong tokens from this client: wait, then check the token.', {
        retryAfter: Math.max(1, Math.ceil((entry.resetAt - Date.now()) / 1000)),
      });
    }
  }

  record(client: string): void {
    const entry = this.live(client);
    if (entry) {
      entry.count++;
      return;
    }
    if (this.clients.size >= AuthFailures.MAX_CLIENTS) {
      const now = Date.now();
      for (const [key, value] of this.clients) if (value.resetAt <= now) this.clients.delete(key);
      const oldest = this.clients.keys().next();
      if (this.clients.size >= AuthFailures.MAX_CLIENTS && !oldest.done) this.clients.delete(oldest.value);
    }
    this.clients.set(client, { count: 1, resetAt: Date.now() + this.windowMs });
  }

  private live(client: string): { count: number; resetAt: number } | undefined {
    const entry = this.clients.get(client);
    if (entry && entry.resetAt <= Date.now()) {
      this.clients.delete(client);
      return undefined;
    }
    return entry;
  }
}

/**
 * Caps a request body while it streams in (never after buffering it): a declared Content-Length over the
 * cap is refused at once, and a chunked body errors as soon as the count passes it.
 */
function limitBody(maxBytes: number): MiddlewareHandler<Env> {
  return async (c, next) => {
    const tooLarge = () =>
      new FramefillError(
        'payload_too_large',
        `The request is over ${Math.floor(maxBytes / 1024 / 1024)} MB: use fewer or smaller reference images.`,
      );
    const declared = Number(c.req.header('Content-Length') ?? Number.NaN);
    if (declared > maxBytes) throw tooLarge();
    const incoming = c.env?.incoming;
    const source = incoming && c.req.method !== 'GET' && c.req.method !== 'HEAD' ? incoming : c.req.raw.body;
    c.set('body', source ? countedBody(source, maxBytes, tooLarge) : null);
    return next();
  };
}

async function servePlayground(c: Context<Env>, dir: string | undefined, file: string | undefined, local: boolean) {
  const folder = dir ?? defaultStaticDir();
  if (!local || !file || !existsSync(path.join(folder, 'playground.html'))) throw new FramefillError('not_found');
  const full = path.join(folder, file);
  const bytes = await readFile(full).catch(() => undefined);
  if (!bytes) throw new FramefillError('not_found');
  const type =
    file === 'playground.html' ? 'text/html; charset=utf-8' : (PLAYGROUND_FILES[file] ?? 'application/octet-stream');
  return c.body(new Uint8Array(bytes), 200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
}

/** build/ beside build/proxy.mjs, or ../build from proxy/ when running from source (tests). */
function defaultStaticDir(): string {
  const here = path.dirname(new URL(import.meta.url).pathname);
  return path.basename(here) === 'build' ? here : path.resolve(here, '../build');
}

/** The text fields of a generation, validated (core's rules first, for their codes, then the schema). */
function generationFields(form: ReadonlyMap<string, string>, referenceCount: number): GenerationFields {
  const raw = Object.fromEntries([...form].filter(([name]) => TEXT_FIELDS.has(name)));
  const problem = validateGeneration({
    prompt: raw.prompt ?? '',
    aspectRatio: raw.aspect_ratio ?? '',
    resolution: raw.resolution ?? '',
    referenceCount,
  });
  if (problem) throw new FramefillError(problem.code, problem.message, { field: problem.field });
  const parsed = GenerationFieldsSchema.safeParse(raw);
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? 'body');
    throw new FramefillError('invalid_request', `The field "${field}" has an unsupported value.`, { field });
  }
  return parsed.data;
}
