// Security: tokens on every route but health and capabilities, stored hashed and compared in constant time,
// another token's job as absent as a missing one, local mode's token, no secret in the logs, failed-auth rate
// limiting, CORS, slow clients cut off by the header and request timeouts, the data dir's modes, and credit
// amounts on the command line.
import { execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorBodySchema, JobSchema } from '../../core/api';
import { Ledger } from '../../proxy/ledger';
import { openSqlite } from '../../proxy/store/sqlite';
import { startFakeOpenAI } from '../fakes/openai-upstream';
import { png } from '../helpers/images';
import {
  BUILT_PROXY,
  generateAndWait,
  ROOT,
  readEvents,
  runProxyCli,
  spawnProxy,
  startTestProxy,
  submitGeneration,
  tempDataDir,
} from '../helpers/proxy';
import { openDbReadOnly } from './support';

// Wraps the real timingSafeEqual so a test can see the ledger use it (ESM exports cannot be spied on otherwise).
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

beforeAll(() => {
  execFileSync(process.execPath, ['build.mjs', '--no-typecheck', '--quiet', '--proxy-only'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
});

const fields = { prompt: 'a lighthouse', aspect_ratio: '1:1', resolution: '1K' };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Every authenticated route, for a given job id. */
function routes(id: string): Array<{ method: string; path: string; form?: boolean }> {
  return [
    { method: 'POST', path: '/v1/generations', form: true },
    { method: 'GET', path: `/v1/generations/${id}` },
    { method: 'GET', path: `/v1/generations/${id}/events` },
    { method: 'GET', path: `/v1/generations/${id}/image` },
    { method: 'DELETE', path: `/v1/generations/${id}` },
    { method: 'GET', path: '/v1/account' },
  ];
}

function call(url: string, route: { method: string; path: string; form?: boolean }, headers: Record<string, string>) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return fetch(`${url}${route.path}`, { method: route.method, headers, ...(route.form ? { body: form } : {}) });
}

describe('tokens', () => {
  it('every route but health and capabilities refuses a missing, wrong or revoked token with 401 unauthorized', async () => {
    const proxy = await startTestProxy();
    try {
      const { token } = await proxy.ledger.createToken('alice', 100);
      const { token: revoked } = await proxy.ledger.createToken('mallory', 100);
      const { id } = await generateAndWait(proxy.url, fields, { token });
      await proxy.ledger.revoke('mallory');
      const refusals: Array<Record<string, string>> = [
        {},
        bearer('ff_wrong'),
        bearer(`${token}x`),
        bearer(revoked),
        { Authorization: token },
        { Authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` },
      ];
      for (const route of routes(id)) {
        for (const headers of refusals) {
          const response = await call(proxy.url, route, headers);
          expect(response.status, `${route.method} ${route.path} ${JSON.stringify(headers)}`).toBe(401);
          expect(ErrorBodySchema.parse(await response.json()).error.code).toBe('unauthorized');
        }
        expect((await call(proxy.url, route, bearer(token))).status).toBeLessThan(400);
      }
      for (const open of ['/v1/health', '/v1/capabilities'])
        expect((await fetch(`${proxy.url}${open}`)).status).toBe(200);
      // Nothing was charged by the refused submissions.
      expect((await proxy.ledger.find('mallory'))?.balance).toBe(100);
    } finally {
      await proxy.close();
    }
  });

  it('stores tokens only as SHA-256 hashes: the token itself is nowhere in the database files', async () => {
    const proxy = await startTestProxy();
    const { token } = await proxy.ledger.createToken('alice', 10);
    await proxy.close();
    const db = openDbReadOnly(proxy.dataDir);
    try {
      const row = db.prepare("SELECT token_hash FROM accounts WHERE name = 'alice'").get() as { token_hash: string };
      expect(row.token_hash).toBe(crypto.createHash('sha256').update(token).digest('hex'));
    } finally {
      db.close();
    }
    for (const file of readdirSync(proxy.dataDir).filter((f) => f.startsWith('framefill.sqlite'))) {
      expect(readFileSync(path.join(proxy.dataDir, file)).includes(Buffer.from(token))).toBe(false);
    }
  });

  it('compares token hashes with crypto.timingSafeEqual', async () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    const proxy = await startTestProxy();
    try {
      const { token } = await proxy.ledger.createToken('alice', 10);
      spy.mockClear();
      expect((await fetch(`${proxy.url}/v1/account`, { headers: bearer(token) })).status).toBe(200);
      expect(spy).toHaveBeenCalledTimes(1);
      const [a, b] = spy.mock.calls[0]!;
      expect(Buffer.from(a as Uint8Array).toString('hex')).toBe(
        crypto.createHash('sha256').update(token).digest('hex'),
      );
      expect((a as Uint8Array).byteLength).toBe((b as Uint8Array).byteLength);
    } finally {
      await proxy.close();
    }
  });

  it("answers 404 not_found for another token's job on every job route, and leaves that job alone", async () => {
    const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '400' });
    try {
      const { token: alice } = await proxy.ledger.createToken('alice', 100);
      const { token: bob } = await proxy.ledger.createToken('bob', 100);
      const job = JobSchema.parse(await (await submitGeneration(proxy.url, fields, { token: alice })).json());
      for (const route of routes(job.id).filter((r) => r.path.includes(job.id))) {
        const response = await call(proxy.url, route, bearer(bob));
        expect(response.status, `${route.method} ${route.path}`).toBe(404);
        expect(ErrorBodySchema.parse(await response.json()).error.code).toBe('not_found');
      }
      const { events } = await readEvents(proxy.url, job.id, { token: alice });
      expect(events.at(-1)?.event).toBe('completed');
      expect((await proxy.ledger.find('bob'))?.balance).toBe(100);
    } finally {
      await proxy.close();
    }
  });
});

describe('logs', () => {
  it('never hold the OpenAI key, a token (right or wrong) or a prompt, through successes and failures', async () => {
    const key = 'sk-proj-DISTINCTIVEkey0123456789abcdef';
    const prompt = 'PROMPT-DISTINCTIVE purple giraffe over Reykjavik';
    const fake = await startFakeOpenAI({ apiKey: key });
    const dataDir = tempDataDir();
    const created = await runProxyCli(['token', 'create', '--name', 'logs', '--credits', '1000'], {
      FRAMEFILL_DATA_DIR: dataDir,
    });
    const token = created.stdout.trim().split('\n').at(-1)!;
    const wrong = 'ff_WRONGdistinctiveTOKEN0123456789';
    const server = await spawnProxy({
      FRAMEFILL_DATA_DIR: dataDir,
      FRAMEFILL_PROVIDER: 'openai',
      OPENAI_API_KEY: key,
      OPENAI_BASE_URL: fake.url,
      FRAMEFILL_UPSTREAM_TIMEOUT_S: '2',
    });
    try {
      const reference = await png(32, 32);
      expect((await generateAndWait(server.url, { ...fields, prompt }, { token })).events.at(-1)?.event).toBe(
        'completed',
      );
      await generateAndWait(server.url, { ...fields, prompt }, { token, references: [{ bytes: reference }] });
      for (const fault of [
        { kind: 'unauthorized' },
        { kind: 'moderation' },
        { kind: 'status', status: 500 },
        { kind: 'status', status: 500 },
        { kind: 'malformed-json' },
        { kind: 'hang' },
      ] as const) {
        fake.failNext(fault);
        await generateAndWait(server.url, { ...fields, prompt: `${prompt} ${fault.kind}` }, { token });
      }
      for (let i = 0; i < 3; i++) await fetch(`${server.url}/v1/account`, { headers: bearer(wrong) });
      await submitGeneration(server.url, { ...fields, prompt: '' }, { token });
      await submitGeneration(server.url, { ...fields, prompt: 'x'.repeat(20_001) }, { token });
    } finally {
      await server.stop();
      await fake.close();
    }
    const output = server.output();
    expect(output).toContain('"kind":"request"');
    expect(output).toContain('"status":"failed"');
    for (const secret of [key, key.slice(-12), token, token.slice(3, 20), wrong, prompt, 'PROMPT-DISTINCTIVE']) {
      expect(output.includes(secret), `log holds ${secret.slice(0, 8)}…`).toBe(false);
    }
  });
});

describe('failed authentication', () => {
  it('rate-limits a client after repeated wrong tokens: 429 rate_limited with Retry-After, a right token too, until the window ends', async () => {
    const proxy = await startTestProxy({ FRAMEFILL_AUTH_FAILURE_LIMIT: '5', FRAMEFILL_AUTH_FAILURE_WINDOW_S: '2' });
    try {
      const { token } = await proxy.ledger.createToken('alice', 10);
      for (let i = 0; i < 5; i++) {
        expect((await fetch(`${proxy.url}/v1/account`, { headers: bearer(`ff_guess${i}`) })).status).toBe(401);
      }
      for (const headers of [bearer('ff_guess5'), bearer(token)]) {
        const limited = await fetch(`${proxy.url}/v1/account`, { headers });
        expect(limited.status).toBe(429);
        const retryAfter = Number(limited.headers.get('Retry-After'));
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(2);
        const body = ErrorBodySchema.parse(await limited.json());
        expect(body.error.code).toBe('rate_limited');
        expect(body.error.retry_after).toBe(retryAfter);
      }
      // A missing token is no guess: still 401. The open routes stay open.
      expect((await fetch(`${proxy.url}/v1/account`)).status).toBe(401);
      expect((await fetch(`${proxy.url}/v1/health`)).status).toBe(200);
      // Once the window has passed, the right token works again.
      let status = 429;
      while (status === 429) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        status = (await fetch(`${proxy.url}/v1/account`, { headers: bearer(token) })).status;
      }
      expect(status).toBe(200);
    } finally {
      await proxy.close();
    }
  });

  it('allows 20 wrong tokens per minute by default, then refuses the 21st', async () => {
    const proxy = await startTestProxy();
    try {
      await proxy.ledger.createToken('alice', 10);
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) {
        statuses.push((await fetch(`${proxy.url}/v1/account`, { headers: bearer(`ff_guess${i}`) })).status);
      }
      expect(statuses).toEqual([...Array(20).fill(401), 429]);
    } finally {
      await proxy.close();
    }
  });
});

describe('CORS', () => {
  it('allows only null (as *), no Origin (as *) and configured origins, on every route', async () => {
    const proxy = await startTestProxy({ FRAMEFILL_ALLOWED_ORIGINS: 'https://team.example' });
    try {
      const { token } = await proxy.ledger.createToken('alice', 100);
      const { id } = await generateAndWait(proxy.url, fields, { token });
      const all = [
        { method: 'GET', path: '/v1/health' },
        { method: 'GET', path: '/v1/capabilities' },
        ...routes(id).filter((r) => r.method === 'GET' && !r.path.endsWith('/events')),
      ];
      for (const route of all) {
        const headers = (origin?: string) => ({ ...bearer(token), ...(origin ? { Origin: origin } : {}) });
        const acao = async (origin?: string) =>
          (await call(proxy.url, route, headers(origin))).headers.get('Access-Control-Allow-Origin');
        expect(await acao('null')).toBe('*');
        expect(await acao()).toBe('*');
        expect(await acao('https://team.example')).toBe('https://team.example');
        expect(await acao('https://evil.example')).toBeNull();
        expect(await acao('https://team.example.evil.example')).toBeNull();
        expect(
          (await call(proxy.url, route, headers('https://evil.example'))).headers.get(
            'Access-Control-Allow-Credentials',
          ),
        ).toBeNull();
      }
      for (const route of routes(id).filter((r) => r.method !== 'GET')) {
        const refused = await call(proxy.url, route, { ...bearer(token), Origin: 'https://evil.example' });
        expect(refused.status).toBe(403);
        expect(ErrorBodySchema.parse(await refused.json()).error.code).toBe('forbidden_origin');
      }
    } finally {
      await proxy.close();
    }
  });
});

/** Opens a raw socket, writes `head`, then drips `drip` every 100 ms; resolves with what happened. */
function slowClient(port: number, head: string, drip: string, maxDrips: number) {
  return new Promise<{ closedByServer: boolean; drips: number; answer: string }>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let drips = 0;
    let answer = '';
    let timer: ReturnType<typeof setInterval> | undefined;
    const finish = (closedByServer: boolean) => {
      clearInterval(timer);
      socket.destroy();
      resolve({ closedByServer, drips, answer });
    };
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('close', () => finish(true));
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (drips >= maxDrips) return finish(false);
        drips++;
        socket.write(drip);
      }, 100);
    });
  });
}

describe('slow clients', () => {
  it('disconnects a client that sends its headers too slowly (slowloris), and keeps serving others meanwhile', async () => {
    const proxy = await startTestProxy({ FRAMEFILL_HEADERS_TIMEOUT_S: '1', FRAMEFILL_REQUEST_TIMEOUT_S: '2' });
    try {
      const head = `GET /v1/health HTTP/1.1\r\nHost: localhost:${proxy.port}\r\n`;
      const slow = Array.from({ length: 20 }, (_, i) => slowClient(proxy.port, head, `X-Slow-${i}: a\r\n`, 150));
      expect((await fetch(`${proxy.url}/v1/health`)).status).toBe(200);
      const results = await Promise.all(slow);
      for (const result of results) {
        expect(result.closedByServer).toBe(true);
        expect(result.drips).toBeLessThan(150);
        expect(result.answer).not.toContain('"ok":true');
      }
    } finally {
      await proxy.close();
    }
  });

  it('disconnects a client that sends its body too slowly', async () => {
    const proxy = await startTestProxy({ FRAMEFILL_HEADERS_TIMEOUT_S: '1', FRAMEFILL_REQUEST_TIMEOUT_S: '2' });
    try {
      const head =
        `POST /v1/generations HTTP/1.1\r\nHost: localhost:${proxy.port}\r\n` +
        'Content-Type: multipart/form-data; boundary=w\r\nContent-Length: 100000\r\n\r\n--w\r\n';
      const result = await slowClient(proxy.port, head, 'xxxxxxxxxx', 300);
      expect(result.closedByServer).toBe(true);
      expect(result.drips).toBeLessThan(300);
      expect((await fetch(`${proxy.url}/v1/health`)).status).toBe(200);
    } finally {
      await proxy.close();
    }
  });
});

describe('the local token', () => {
  it('is created at the first start (ffl_…, mode 0600), printed at every start, and needed on every route but health and capabilities', async () => {
    const dataDir = tempDataDir();
    const first = await spawnProxy({ FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_SHUTDOWN_GRACE_S: '0' });
    let token: string | undefined;
    try {
      token = first.localToken;
      expect(token).toMatch(/^ffl_[A-Za-z0-9_-]{43}$/);
      expect(first.output()).toMatch(/token:\s+ffl_\S+\n.*Settings ▸ Token/);
      expect(readFileSync(path.join(dataDir, 'local-token'), 'utf8').trim()).toBe(token);
      expect(statSync(path.join(dataDir, 'local-token')).mode & 0o777).toBe(0o600);
      const { id } = await generateAndWait(first.url, fields, { token });
      for (const route of routes(id)) {
        const refused = await call(first.url, route, {});
        expect(refused.status, `${route.method} ${route.path}`).toBe(401);
        const { error } = ErrorBodySchema.parse(await refused.json());
        expect(error.code).toBe('unauthorized');
        // The 401 says where the token comes from and where it goes.
        expect(error.message).toContain('Paste the token that `npm start` printed into Settings ▸ Token');
        expect((await call(first.url, route, bearer(`${token}x`))).status).toBe(401);
        expect((await call(first.url, route, bearer(token!))).status).toBeLessThan(400);
      }
      for (const open of ['/v1/health', '/v1/capabilities'])
        expect((await fetch(`${first.url}${open}`)).status).toBe(200);
    } finally {
      await first.stop();
    }
    const again = await spawnProxy({ FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_SHUTDOWN_GRACE_S: '0' });
    try {
      expect(again.localToken).toBe(token);
    } finally {
      await again.stop();
    }
  });

  it('`token local` prints it alone on its last line; `token rotate-local` makes a new one that the next start uses', async () => {
    const dataDir = tempDataDir();
    const env = { FRAMEFILL_DATA_DIR: dataDir };
    const local = await runProxyCli(['token', 'local'], env);
    expect(local.code).toBe(0);
    const token = local.stdout.trim().split('\n').at(-1);
    expect(token).toMatch(/^ffl_[A-Za-z0-9_-]{43}$/);
    expect((await runProxyCli(['token', 'local'], env)).stdout.trim().split('\n').at(-1)).toBe(token);
    const rotated = await runProxyCli(['token', 'rotate-local'], env);
    expect(rotated.code).toBe(0);
    const fresh = rotated.stdout.trim().split('\n').at(-1);
    expect(fresh).toMatch(/^ffl_[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(token);
    expect(statSync(path.join(dataDir, 'local-token')).mode & 0o777).toBe(0o600);
    const proxy = await spawnProxy({ ...env, FRAMEFILL_SHUTDOWN_GRACE_S: '0' });
    try {
      expect(proxy.localToken).toBe(fresh);
      expect((await fetch(`${proxy.url}/v1/account`, { headers: bearer(token!) })).status).toBe(401);
      expect((await fetch(`${proxy.url}/v1/account`, { headers: bearer(fresh!) })).status).toBe(200);
    } finally {
      await proxy.stop();
    }
  });
});

/** The proxy (or its CLI) started under `umask 000`, so no mode below comes from a careful umask. */
function spawnUnderOpenUmask(args: string[], env: Record<string, string>) {
  return spawnUnderShell('umask 000', args, env);
}

/** The built proxy (or its CLI) started by a shell that first runs `setup` (a umask, a descriptor limit). */
function spawnUnderShell(setup: string, args: string[], env: Record<string, string>) {
  const child = spawn('sh', ['-c', `${setup} && exec "$0" "$@"`, process.execPath, BUILT_PROXY, ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      FRAMEFILL_PROVIDER: 'draft',
      FRAMEFILL_DRAFT_DELAY_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  // 'close', not 'exit': the process may exit before its output has been read to the end.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const listening = () =>
    new Promise<{ url: string; token: string }>((resolve, reject) => {
      const check = () => {
        const port = /listening on http:\/\/localhost:(\d+)/.exec(output)?.[1];
        const token = /token:\s+(ffl_\S+)/.exec(output)?.[1];
        if (port && token) resolve({ url: `http://127.0.0.1:${port}`, token });
      };
      child.stdout.on('data', check);
      check();
      void exited.then((code) => reject(new Error(`proxy exited (${code}):\n${output}`)));
    });
  return { child, exited, listening, output: () => output };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('file modes', () => {
  it('keeps the data dir and every folder in it 0700, and the token file, database (with WAL and SHM), uploads and images 0600', async () => {
    // As an older version left it: folders 755.
    const dataDir = path.join(tempDataDir(), 'data');
    mkdirSync(path.join(dataDir, 'results'), { recursive: true });
    for (const dir of [dataDir, path.join(dataDir, 'results')]) chmodSync(dir, 0o755);
    const proxy = spawnUnderOpenUmask([], { FRAMEFILL_DATA_DIR: dataDir });
    try {
      const { url, token } = await proxy.listening();
      const { id } = await generateAndWait(url, fields, { token });
      // An upload in progress: a reference part that has started to arrive and never ends.
      const upload = request(`${url}/v1/generations`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'multipart/form-data; boundary=b',
          'Content-Length': '1000000',
        },
      });
      upload.on('error', () => undefined);
      upload.write(
        '--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na lighthouse\r\n' +
          '--b\r\nContent-Disposition: form-data; name="reference"; filename="r.png"\r\nContent-Type: image/png\r\n\r\n',
      );
      upload.write(await png(64, 64));
      const uploads = path.join(dataDir, 'uploads');
      await until(() => readdirSync(uploads).some((dir) => readdirSync(path.join(uploads, dir)).length > 0));
      const mode = (file: string) => statSync(file).mode & 0o777;
      const walk = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
          const full = path.join(dir, entry.name);
          return entry.isDirectory() ? [full, ...walk(full)] : [full];
        });
      const everything = walk(dataDir);
      for (const expected of ['local-token', 'framefill.sqlite', 'framefill.sqlite-wal', 'framefill.sqlite-shm']) {
        expect(everything).toContain(path.join(dataDir, expected));
      }
      expect(readdirSync(path.join(dataDir, 'results')).filter((f) => f.startsWith(id))).toHaveLength(1);
      expect(everything.filter((f) => f.startsWith(`${uploads}${path.sep}`) && statSync(f).isFile())).toHaveLength(1);
      expect(mode(dataDir)).toBe(0o700);
      for (const file of everything) {
        expect(`${path.relative(dataDir, file)} ${mode(file).toString(8)}`).toBe(
          `${path.relative(dataDir, file)} ${statSync(file).isDirectory() ? '700' : '600'}`,
        );
      }
      upload.destroy();
    } finally {
      proxy.child.kill('SIGTERM');
      await proxy.exited;
    }
  });

  it('`token create` on a fresh data dir makes it 0700 with its database 0600', async () => {
    const dataDir = path.join(tempDataDir(), 'fresh');
    const cli = spawnUnderOpenUmask(['token', 'create', '--name', 'alice', '--credits', '10'], {
      FRAMEFILL_DATA_DIR: dataDir,
    });
    expect(await cli.exited).toBe(0);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(dataDir)) {
      expect(`${file} ${(statSync(path.join(dataDir, file)).mode & 0o777).toString(8)}`).toBe(`${file} 600`);
    }
    expect(existsSync(path.join(dataDir, 'framefill.sqlite'))).toBe(true);
  });
});

describe('descriptors', () => {
  it('at a 512-descriptor limit, 1,000 connections to each loopback address are cut at one shared cap and a running job still completes (no EMFILE)', async () => {
    const fake = await startFakeOpenAI({ apiKey: 'test-key' });
    let release = () => {};
    fake.failNext({ kind: 'hold', until: new Promise<void>((resolve) => (release = resolve)) });
    const proxy = spawnUnderShell('ulimit -n 512', [], {
      // Both loopback families, as by default: one server each, one descriptor budget for both.
      HOST: '127.0.0.1,::1',
      FRAMEFILL_DATA_DIR: tempDataDir(),
      FRAMEFILL_PROVIDER: 'openai',
      OPENAI_API_KEY: 'test-key',
      OPENAI_BASE_URL: fake.url,
      FRAMEFILL_PARTIAL_IMAGES: '0',
      FRAMEFILL_SHUTDOWN_GRACE_S: '0',
    });
    const flood: ReturnType<typeof connect>[] = [];
    try {
      const { url, token } = await proxy.listening();
      const port = Number(new URL(url).port);
      const submitted = await submitGeneration(url, { ...fields, quality: 'low' }, { token });
      const { id } = JobSchema.parse(await submitted.json());
      await fake.received(1);
      let streaming = () => {};
      const streamOpen = new Promise<void>((resolve) => (streaming = resolve));
      const reading = readEvents(url, id, { token, onEvent: () => streaming() });
      // Its event stream is open before the flood.
      await streamOpen;
      let closed = 0;
      for (let i = 0; i < 2000; i++) {
        const socket = connect(port, i % 2 === 0 ? '127.0.0.1' : '::1');
        socket.on('error', () => undefined);
        socket.on('close', () => closed++);
        flood.push(socket);
      }
      // The proxy holds at most (512 − its reserve) connections over both addresses; the rest are closed at once.
      await until(() => closed >= 2000 - (512 - 256));
      release();
      const { events } = await reading;
      expect(events.at(-1)?.event).toBe('completed');
      for (const socket of flood) socket.destroy();
      // The held connections free their descriptors as the proxy sees them close; until then a new one may still be
      // cut at the cap, as a client retrying would find.
      const healthy = async () => (await fetch(`${url}/v1/health`).catch(() => undefined))?.status === 200;
      while (!(await healthy())) await new Promise((resolve) => setTimeout(resolve, 20));
      expect((await fetch(`${url}/v1/generations/${id}/image`, { headers: bearer(token) })).status).toBe(200);
      expect(proxy.output()).not.toContain('EMFILE');
    } finally {
      for (const socket of flood) socket.destroy();
      proxy.child.kill('SIGTERM');
      await proxy.exited;
      await fake.close();
    }
  });
});

describe('credits on the command line', () => {
  const MAX = 2 ** 31;

  it('token create --credits takes 0 … 2^31 in digits; anything else is refused with a message and creates nothing', async () => {
    const env = { FRAMEFILL_DATA_DIR: tempDataDir() };
    const bads = ['', '-1', '1e3', '0x10', '1.5', ' 5', '+5', String(MAX + 1), 'ten'];
    const results = await Promise.all(
      bads.map((bad) => runProxyCli(['token', 'create', '--name', 'bad', '--credits', bad], env)),
    );
    results.forEach((result, i) => {
      expect(result.code, `--credits "${bads[i]}"`).not.toBe(0);
      expect(result.stderr).toContain(`--credits must be a whole number from 0 to ${MAX}, written in digits`);
    });
    const noAmount = await runProxyCli(['token', 'create', '--name', 'bad', '--credits'], env);
    expect(noAmount.code).not.toBe(0);
    expect(noAmount.stderr).toContain('--credits must be a whole number from 0 to');
    expect((await runProxyCli(['token', 'list'], env)).stdout).toContain('No tokens');
    for (const [name, credits] of [
      ['zero', '0'],
      ['most', String(MAX)],
    ] as const) {
      const created = await runProxyCli(['token', 'create', '--name', name, '--credits', credits], env);
      expect(created.code).toBe(0);
      expect(created.stdout).toContain(`with ${credits} credits`);
    }
  });

  it('token credit adds 1 … 2^31 in digits, refuses "", 0, 1e3 and the rest, and keeps the balance a safe integer', async () => {
    const env = { FRAMEFILL_DATA_DIR: tempDataDir() };
    expect((await runProxyCli(['token', 'create', '--name', 'x', '--credits', '0'], env)).code).toBe(0);
    const bads = ['', '0', '1e3', '-5', '2.5', String(MAX + 1), '9007199254740991', 'lots'];
    const results = await Promise.all(bads.map((bad) => runProxyCli(['token', 'credit', 'x', bad], env)));
    results.forEach((result, i) => {
      expect(result.code, `credit "${bads[i]}"`).not.toBe(0);
      expect(result.stderr).toContain(`must be a whole number from 1 to ${MAX}, written in digits (got "${bads[i]}")`);
    });
    const db = openDbReadOnly(env.FRAMEFILL_DATA_DIR);
    try {
      // Nothing was granted by the refusals: the only grant row is the creation's 0.
      expect(db.prepare("SELECT kind, amount FROM ledger WHERE kind = 'grant'").all()).toEqual([
        { kind: 'grant', amount: 0 },
      ]);
    } finally {
      db.close();
    }
    const one = await runProxyCli(['token', 'credit', 'x', '1'], env);
    expect(one.stdout).toContain('Token "x" now has 1 credits.');
    // A balance one full grant short of the largest safe integer (as some four million grants would leave it).
    const db2 = openSqlite(env.FRAMEFILL_DATA_DIR);
    try {
      const ledger = new Ledger(db2);
      const id = (await ledger.find('x'))!.id;
      await db2.tx((q) => ledger.grantIn(q, id, Number.MAX_SAFE_INTEGER - MAX));
    } finally {
      await db2.close();
    }
    const over = await runProxyCli(['token', 'credit', 'x', String(MAX)], env);
    expect(over.code).not.toBe(0);
    expect(over.stderr).toContain(`That would take the balance past ${Number.MAX_SAFE_INTEGER}`);
    const exact = await runProxyCli(['token', 'credit', 'x', String(MAX - 1)], env);
    expect(exact.code).toBe(0);
    // Printed exactly, not rounded.
    expect(exact.stdout).toContain(`now has ${Number.MAX_SAFE_INTEGER} credits.`);
  });
});
