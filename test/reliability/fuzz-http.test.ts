// Bad input over real HTTP, property-based (fast-check): mutated and random multipart bodies, random fields and
// headers, hostile job ids, JSON or other types where multipart is expected, huge prompts, images with valid headers
// and corrupt data, decompression bombs. Every answer is < 500 and, when an error, a §6 code with its documented
// status; the built proxy (a child process) never crashes and its memory stays bounded.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS, ErrorBodySchema, JobSchema } from '../../core/api';
import { png } from '../helpers/images';
import { api, ROOT, runProxyCli, type SpawnedProxy, spawnProxy, tempDataDir } from '../helpers/proxy';
import { recordFigures, SOAK, size } from './support';

/** Cases per property; the properties below add up to 10,000 (50,000 in soak). */
const RUNS = {
  multipart: size(2500, 12_500),
  fields: size(2000, 10_000),
  headers: size(1500, 7500),
  ids: size(2000, 10_000),
  bodies: size(1000, 5000),
  images: size(1000, 5000),
};
const BODY_LIMIT = 4 * 1024 * 1024;

let server: SpawnedProxy;
/** No credits: every valid submission ends in 402 after all validation ran, so nothing gets rendered. */
let poor: string;
/** Credits: valid submissions are accepted (202), then canceled at once. */
let rich: string;
let cases = 0;
const statuses: Record<number, number> = {};
let pngFixture: Buffer;
let rssBefore = 0;
let heapBefore = 0;
let heapGrownMiB: number | undefined;
const heapFile = path.join(tempDataDir(), 'heap');

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}

/** The proxy's JavaScript heap after a full collection (test/reliability/heap-probe.cjs answers SIGUSR2). */
async function heapAfterCollection(): Promise<number> {
  const lines = () => (existsSync(heapFile) ? readFileSync(heapFile, 'utf8').trim().split('\n').filter(Boolean) : []);
  const before = lines().length;
  server.child.kill('SIGUSR2');
  while (lines().length === before) await new Promise((resolve) => setTimeout(resolve, 20));
  return Number(lines().at(-1));
}

beforeAll(async () => {
  execFileSync(process.execPath, ['build.mjs', '--no-typecheck', '--quiet', '--proxy-only'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const dataDir = tempDataDir();
  const create = async (name: string, credits: number) =>
    (
      await runProxyCli(['token', 'create', '--name', name, '--credits', String(credits)], {
        FRAMEFILL_DATA_DIR: dataDir,
      })
    ).stdout
      .trim()
      .split('\n')
      .at(-1)!;
  poor = await create('poor', 0);
  rich = await create('rich', 1_000_000_000);
  server = await spawnProxy(
    {
      FRAMEFILL_DATA_DIR: dataDir,
      FRAMEFILL_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      // One job may run (and sleeps); the rest stay queued until canceled.
      FRAMEFILL_UPSTREAM_CONCURRENCY: '1',
      FRAMEFILL_DRAFT_DELAY_MS: '600000',
      // Random Authorization headers are part of the fuzz; the failed-auth limit has its own test.
      FRAMEFILL_AUTH_FAILURE_LIMIT: '100000000',
      FRAMEFILL_TEST_HEAP_FILE: heapFile,
    },
    [],
    ['--expose-gc', '--require', path.join(ROOT, 'test/reliability/heap-probe.cjs')],
  );
  pngFixture = await png(40, 30);
  // Warm up (first requests load sharp and compile routes) before the baseline.
  for (let i = 0; i < 20; i++)
    await send(`/v1/generations`, { method: 'POST', body: multipart('w', [...validParts()]) });
  rssBefore = rss(server.child.pid!);
  heapBefore = await heapAfterCollection();
  cases = 0;
  for (const key of Object.keys(statuses)) delete statuses[Number(key)];
}, 60_000);

afterAll(async () => {
  if (!server) return;
  const rssAfter = rss(server.child.pid!);
  const alive = server.child.exitCode === null && server.child.signalCode === null;
  if (!alive) console.error(server.output().slice(-4000));
  recordFigures('fuzz_http', {
    cases,
    statuses,
    rss_before_mib: +(rssBefore / 2 ** 20).toFixed(1),
    rss_after_mib: +(rssAfter / 2 ** 20).toFixed(1),
    heap_after_collection_grew_mib: heapGrownMiB,
    alive,
  });
  await server.stop();
});

interface Part {
  name: string;
  filename?: string;
  type?: string;
  data: Buffer;
}

function multipart(boundary: string, parts: Part[], close = true): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}`;
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: ${disposition}\r\n${part.type ? `Content-Type: ${part.type}\r\n` : ''}\r\n`,
      ),
      part.data,
      Buffer.from('\r\n'),
    );
  }
  if (close) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

function validParts(prompt = 'a quiet bay', reference?: Buffer): Part[] {
  return [
    { name: 'prompt', data: Buffer.from(prompt) },
    { name: 'aspect_ratio', data: Buffer.from('16:9') },
    { name: 'resolution', data: Buffer.from('1K') },
    ...(reference ? [{ name: 'reference', filename: 'r.png', type: 'image/png', data: reference }] : []),
  ];
}

/** Sends one request and checks the answer against §6; returns the status. */
async function send(
  path: string,
  init: { method: string; body?: Buffer | string; headers?: Record<string, string>; token?: string | null },
  boundary = 'w',
): Promise<number> {
  const token = init.token === undefined ? poor : init.token;
  const headers: Record<string, string> = {
    ...(init.body !== undefined && typeof init.body !== 'string'
      ? { 'Content-Type': `multipart/form-data; boundary=${boundary}` }
      : {}),
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
    ...init.headers,
  };
  let response: Response;
  try {
    response = await api(`${server.url}${path}`, {
      method: init.method,
      headers,
      ...(init.body !== undefined && !['GET', 'HEAD'].includes(init.method)
        ? { body: typeof init.body === 'string' ? init.body : new Uint8Array(init.body) }
        : {}),
    });
  } catch (error) {
    // Give an exiting child a moment to report its exit.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const alive = server.child.exitCode === null && server.child.signalCode === null;
    if (!alive) throw new Error(`the proxy died:\n${server.output().slice(-4000)}`, { cause: error });
    // A large body refused part-way: the proxy answers and closes while the client is still sending, so the
    // client may see the closed socket (EPIPE) before the answer. The proxy must still be serving.
    if ((init.body?.length ?? 0) > 64 * 1024 && (await api(`${server.url}/v1/health`)).status === 200) {
      cases++;
      statuses[0] = (statuses[0] ?? 0) + 1;
      return 0;
    }
    throw error;
  }
  cases++;
  statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  const text = await response.text();
  const where = `${init.method} ${path.slice(0, 200)} → ${response.status} ${text.slice(0, 300)}`;
  expect(response.status, where).toBeLessThan(500);
  if (response.status >= 400) {
    const body = ErrorBodySchema.safeParse(JSON.parse(text));
    expect(body.success, where).toBe(true);
    const code = body.data!.error.code;
    expect(ERROR_STATUS[code], where).toBe(response.status);
  }
  if (response.status === 202) {
    // Accepted: cancel it at once so nothing piles up (only the rich token can get here).
    const job = JobSchema.parse(JSON.parse(text));
    const canceled = await api(`${server.url}/v1/generations/${job.id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(canceled.status).toBe(200);
  }
  return response.status;
}

/** A PNG whose header claims `width` × `height` with a tiny (or corrupt) pixel stream: a decompression bomb. */
function pngClaiming(width: number, height: number, idat: Buffer = deflateSync(Buffer.alloc(64))): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const bytesArb = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const textArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '16:9',
    '1:1',
    'auto',
    '1K',
    '2K',
    '4K',
    'png',
    'jpeg',
    'webp',
    'high',
    '\u0000',
    '../../etc',
  ),
);
const opts = (numRuns: number) => ({ numRuns, seed: SOAK ? undefined : 4242, endOnFailure: true });

describe('fuzzing the HTTP API', () => {
  it('answers mutated and random multipart bodies with a §6 code, never a 5xx', async () => {
    const base = multipart('w', validParts('a lighthouse', pngFixture));
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant('flip' as const),
        at: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        to: fc.nat(255),
      }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), junk: bytesArb(64) }),
      fc.record({ kind: fc.constant('random' as const), junk: bytesArb(2048) }),
      fc.record({
        kind: fc.constant('parts' as const),
        parts: fc.array(
          fc.record({
            name: fc.oneof(
              fc.constantFrom('prompt', 'aspect_ratio', 'resolution', 'reference', 'reference[]', 'image'),
              fc.string({ maxLength: 12 }),
            ),
            filename: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
            data: fc.oneof(
              bytesArb(256),
              textArb.map((t) => Buffer.from(t)),
            ),
          }),
          { maxLength: 20 },
        ),
        close: fc.boolean(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(mutation, fc.constantFrom('w', 'x', ''), async (m, boundary) => {
        let body: Buffer;
        if (m.kind === 'truncate') body = base.subarray(0, m.at % (base.length + 1));
        else if (m.kind === 'flip') {
          body = Buffer.from(base);
          for (const at of m.at) body[at % body.length] = m.to;
        } else if (m.kind === 'insert') {
          const at = m.at % (base.length + 1);
          body = Buffer.concat([base.subarray(0, at), m.junk, base.subarray(at)]);
        } else if (m.kind === 'random') body = m.junk;
        else
          body = multipart(
            'w',
            m.parts.map((p) => ({ ...p, name: p.name.replace(/["\r\n]/g, '') })),
            m.close,
          );
        await send('/v1/generations', { method: 'POST', body }, boundary || 'w');
      }),
      opts(RUNS.multipart),
    );
  }, 300_000);

  it('answers random field values, huge prompts and repeated or unknown fields with a §6 code', async () => {
    const prompt = fc.oneof(
      { arbitrary: textArb, weight: 10 },
      { arbitrary: fc.string({ unit: 'binary', maxLength: 500 }), weight: 5 },
      {
        arbitrary: fc
          .record({
            char: fc.constantFrom('a', 'é', '😀', ' ', '\u200b', '\ud800'),
            n: fc.integer({ min: 19_990, max: 20_010 }),
          })
          .map(({ char, n }) => char.repeat(n)),
        weight: 3,
      },
      // Over the field cap, refused while it streams in; rare, as each is a megabyte.
      { arbitrary: fc.integer({ min: 1, max: 2 }).map((mb) => 'x'.repeat(mb * 1024 * 1024 + 1)), weight: 1 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          prompt: fc.option(prompt, { nil: undefined }),
          aspect_ratio: fc.option(textArb, { nil: undefined }),
          resolution: fc.option(textArb, { nil: undefined }),
          quality: fc.option(textArb, { nil: undefined }),
          output_format: fc.option(textArb, { nil: undefined }),
          extra: fc.array(fc.tuple(fc.string({ maxLength: 10 }), textArb), { maxLength: 3 }),
          repeat: fc.boolean(),
        }),
        fc.boolean(),
        async (f, accepted) => {
          const parts: Part[] = [];
          for (const name of ['prompt', 'aspect_ratio', 'resolution', 'quality', 'output_format'] as const) {
            const value = f[name];
            if (value !== undefined) parts.push({ name, data: Buffer.from(value) });
          }
          for (const [name, value] of f.extra)
            parts.push({ name: name.replace(/["\r\n]/g, '') || 'x', data: Buffer.from(value) });
          if (f.repeat && parts[0]) parts.push(parts[0]);
          await send('/v1/generations', { method: 'POST', body: multipart('w', parts), token: accepted ? rich : poor });
        },
      ),
      opts(RUNS.fields),
    );
  }, 300_000);

  it('answers random headers (Content-Type, Authorization, Idempotency-Key, Origin) and methods with a §6 code', async () => {
    const header = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary-ascii', maxLength: 300 }));
    const latin1 = (s: string) => s.replace(/[^\x20-\x7e\t]/g, '').trim();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS'),
          path: fc.constantFrom(
            '/v1/generations',
            '/v1/account',
            '/v1/health',
            '/v1/capabilities',
            '/v1/nope',
            '/',
            '/playground',
          ),
          contentType: fc.option(
            fc.oneof(
              header,
              fc.constantFrom(
                'multipart/form-data',
                'multipart/form-data; boundary=',
                'multipart/form-data; boundary="w"',
                'application/json',
                'text/plain',
              ),
            ),
            { nil: undefined },
          ),
          authorization: fc.option(
            fc.oneof(header, fc.constantFrom(`Bearer ${'x'.repeat(5000)}`, 'Bearer', 'Basic Zm9vOmJhcg==', 'bearer  ')),
            { nil: undefined },
          ),
          useRealToken: fc.boolean(),
          idempotencyKey: fc.option(header, { nil: undefined }),
          origin: fc.option(fc.oneof(header, fc.constantFrom('null', 'https://evil.example', 'http://localhost:1')), {
            nil: undefined,
          }),
          acrm: fc.option(fc.constantFrom('POST', 'GET', 'DELETE'), { nil: undefined }),
        }),
        async (h) => {
          const headers: Record<string, string> = {};
          if (h.contentType !== undefined) headers['Content-Type'] = latin1(h.contentType);
          if (h.authorization !== undefined && !h.useRealToken) headers.Authorization = latin1(h.authorization);
          if (h.idempotencyKey !== undefined) headers['Idempotency-Key'] = latin1(h.idempotencyKey);
          if (h.origin !== undefined) headers.Origin = latin1(h.origin);
          if (h.acrm !== undefined) headers['Access-Control-Request-Method'] = h.acrm;
          for (const [name, value] of Object.entries(headers)) if (value === '') delete headers[name];
          await send(h.path, {
            method: h.method,
            body: h.method === 'POST' ? multipart('w', validParts()) : undefined,
            headers,
            token: h.useRealToken ? poor : null,
          });
        },
      ),
      opts(RUNS.headers),
    );
  }, 300_000);

  it('answers hostile job ids (../, encoded, very long, unicode, near-UUIDs) on every job route with 404 not_found', async () => {
    const id = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      fc.uuid({ version: 4 }),
      fc.uuid().map((u) => u.toUpperCase()),
      fc.uuid().map((u) => `${u}/../..`),
      fc.constantFrom(
        '../../etc/passwd',
        '..%2f..%2fetc%2fpasswd',
        '%00',
        '.',
        '..',
        'a'.repeat(10_000),
        '😀'.repeat(500),
        '%E0%A4%A',
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        id,
        fc.constantFrom('', '/events', '/image'),
        fc.constantFrom('GET', 'DELETE'),
        async (raw, suffix, method) => {
          const encoded = /%/.test(raw) ? raw : encodeURIComponent(raw);
          const status = await send(`/v1/generations/${encoded}${suffix}`, { method: suffix ? 'GET' : method });
          expect(status).toBe(404);
        },
      ),
      opts(RUNS.ids),
    );
  }, 300_000);

  it('answers JSON, form-urlencoded, text or no body where multipart is expected with 400 invalid_request', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'application/json',
          'application/x-www-form-urlencoded',
          'text/plain',
          'multipart/mixed; boundary=w',
          'image/png',
          '',
        ),
        fc.oneof(
          fc.json(),
          fc.string({ maxLength: 200 }),
          fc.constant(JSON.stringify({ prompt: 'x', aspect_ratio: '1:1', resolution: '1K' })),
        ),
        async (type, body) => {
          const status = await send('/v1/generations', {
            method: 'POST',
            body,
            headers: type ? { 'Content-Type': type } : {},
          });
          expect(status).toBe(400);
        },
      ),
      opts(RUNS.bodies),
    );
  }, 300_000);

  it('refuses images with valid headers and corrupt data, and decompression bombs, without decoding them', async () => {
    const realPng = await png(300, 200);
    const image = fc.oneof(
      fc.record({
        kind: fc.constant('bomb'),
        w: fc.integer({ min: 8193, max: 100_000 }),
        h: fc.integer({ min: 1, max: 100_000 }),
      }),
      fc.record({
        kind: fc.constant('edge-bomb'),
        w: fc.integer({ min: 1000, max: 8192 }),
        h: fc.integer({ min: 1000, max: 8192 }),
      }),
      fc.record({
        kind: fc.constant('header+junk'),
        magic: fc.constantFrom('png', 'jpeg', 'webp'),
        junk: bytesArb(4096),
      }),
      fc.record({
        kind: fc.constant('png-corrupt'),
        at: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        to: fc.nat(255),
      }),
      fc.record({ kind: fc.constant('png-truncated'), at: fc.nat() }),
    );
    const MAGIC = {
      png: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
      webp: Buffer.from('RIFF\u0000\u0000\u0000\u0000WEBPVP8 ', 'latin1'),
    };
    await fc.assert(
      fc.asyncProperty(image, fc.integer({ min: 1, max: 3 }), fc.boolean(), async (img, copies, accepted) => {
        let bytes: Buffer;
        if (img.kind === 'bomb' || img.kind === 'edge-bomb') bytes = pngClaiming(img.w, img.h);
        else if (img.kind === 'header+junk') bytes = Buffer.concat([MAGIC[img.magic], img.junk]);
        else if (img.kind === 'png-corrupt') {
          bytes = Buffer.from(realPng);
          for (const at of img.at) bytes[8 + (at % (bytes.length - 8))] = img.to;
        } else bytes = realPng.subarray(0, img.at % realPng.length);
        const parts = validParts('refs', undefined);
        for (let i = 0; i < copies; i++)
          parts.push({ name: 'reference', filename: `r${i}.png`, type: 'image/png', data: bytes });
        const status = await send('/v1/generations', {
          method: 'POST',
          body: multipart('w', parts),
          token: accepted ? rich : poor,
        });
        if (img.kind === 'bomb') expect(status).toBe(413);
      }),
      opts(RUNS.images),
    );
  }, 300_000);

  it('is still alive, healthy and within bounded memory after every case', async () => {
    expect(server.child.exitCode).toBeNull();
    expect((await api(`${server.url}/v1/health`)).status).toBe(200);
    const account = await (
      await api(`${server.url}/v1/account`, { headers: { Authorization: `Bearer ${rich}` } })
    ).json();
    // Every accepted job was canceled: at most the one that had started is still winding down.
    expect(account.jobs_in_flight).toBe(0);
    expect(cases).toBeGreaterThanOrEqual(Object.values(RUNS).reduce((a, b) => a + b, 0));
    const heapGrown = (await heapAfterCollection()) - heapBefore;
    const rssGrown = rss(server.child.pid!) - rssBefore;
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    heapGrownMiB = Number(mib(heapGrown));
    console.log(
      `[reliability] fuzz: ${cases} cases, proxy heap after collection grew ${mib(heapGrown)} MiB, RSS ${mib(rssGrown)} MiB`,
    );
    // A leak keeps what each case left on the heap: 10,000 or 50,000 cases would be tens of MiB more.
    expect(heapGrown).toBeLessThan(16 * 2 ** 20);
    // RSS settles higher (the allocator's arenas and libvips' cache of decoded images are kept for reuse), at a
    // level that does not depend on the number of cases; this bound only catches a native leak on the large runs.
    expect(rssGrown).toBeLessThan(512 * 2 ** 20);
  });
});
