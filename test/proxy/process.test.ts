// The built proxy as a process: the CLI, start-up output, the non-loopback refusal, a crash and a graceful
// stop mid-job, and the memory a body over the cap costs.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorBodySchema, JobSchema } from '../../core/api';
import { jpeg } from '../helpers/images';
import {
  api,
  generateAndWait,
  ROOT,
  readEvents,
  runProxyCli,
  spawnProxy,
  submitGeneration,
  tempDataDir,
} from '../helpers/proxy';

beforeAll(() => {
  execFileSync(process.execPath, ['build.mjs', '--no-typecheck', '--quiet', '--proxy-only'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
});

const fields = { prompt: 'a lighthouse', aspect_ratio: '16:9', resolution: '2K' };

describe('the CLI', () => {
  it('creates a token (alone on the last line), lists, credits and revokes it', async () => {
    const env = { FRAMEFILL_DATA_DIR: tempDataDir() };
    const created = await runProxyCli(['token', 'create', '--name', 'alice', '--credits', '40'], env);
    expect(created.code).toBe(0);
    const token = created.stdout.trim().split('\n').at(-1)!;
    expect(token).toMatch(/^ff_[A-Za-z0-9_-]{40,}$/);
    const listed = await runProxyCli(['token', 'list'], env);
    expect(listed.stdout).toContain('alice');
    expect(listed.stdout).toContain('balance 40');
    expect(listed.stdout).not.toContain(token);
    expect((await runProxyCli(['token', 'credit', 'alice', '10'], env)).stdout).toContain('50 credits');
    const server = await spawnProxy(env);
    try {
      expect(server.output()).toContain('mode:      tokens');
      const ok = await api(`${server.url}/v1/account`, { headers: { Authorization: `Bearer ${token}` } });
      expect(await ok.json()).toMatchObject({ name: 'alice', balance_credits: 50 });
      expect((await runProxyCli(['token', 'revoke', 'alice'], env)).code).toBe(0);
      const revoked = await api(`${server.url}/v1/account`, { headers: { Authorization: `Bearer ${token}` } });
      expect(revoked.status).toBe(401);
    } finally {
      await server.stop();
    }
    const duplicate = await runProxyCli(['token', 'create', '--name', 'alice', '--credits', '1'], env);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('already exists');
    expect((await runProxyCli(['frobnicate'], env)).code).toBe(2);
  });

  it('prints the URL, provider, mode, data dir, playground and Figma import steps on start', async () => {
    const dataDir = tempDataDir();
    const server = await spawnProxy({ FRAMEFILL_DATA_DIR: dataDir });
    try {
      const out = server.output();
      expect(out).toContain(`http://localhost:${server.port}`);
      expect(out).toMatch(/provider:\s+draft/);
      expect(out).toMatch(/mode:\s+local/);
      expect(out).toContain(dataDir);
      expect(out).toContain(`http://localhost:${server.port}/playground`);
      expect(out).toContain('Plugins ▸ Development ▸ Import plugin from manifest…');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('refuses to start on a non-loopback HOST without tokens, with a clear message and exit code 1', async () => {
    const result = await runProxyCli([], { HOST: '0.0.0.0', PORT: '0', FRAMEFILL_DATA_DIR: tempDataDir() });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Refusing to start');
    expect(result.stderr).toContain('token create');
  });
});

describe('stopping mid-job', () => {
  it('after a crash, the running job is interrupted with its credits released; completed results stay downloadable', async () => {
    const dataDir = tempDataDir();
    const first = await spawnProxy({ FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_DRAFT_DELAY_MS: '0' });
    const done = await generateAndWait(first.url, fields);
    await first.stop();
    const second = await spawnProxy({ FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_DRAFT_DELAY_MS: '60000' });
    const running = JobSchema.parse(await (await submitGeneration(second.url, fields)).json());
    await readEvents(second.url, running.id, {
      until: (e) => e.event === 'status' && (e.data as { status: string }).status === 'running',
    });
    expect((await (await api(`${second.url}/v1/account`)).json()).balance_credits).toBe(1_000_000 - 16);
    expect(await second.stop('SIGKILL')).toBe('SIGKILL');

    const third = await spawnProxy({ FRAMEFILL_DATA_DIR: dataDir });
    try {
      const job = JobSchema.parse(await (await api(`${third.url}/v1/generations/${running.id}`)).json());
      expect(job.status).toBe('interrupted');
      expect(job.error?.code).toBe('interrupted');
      const { events } = await readEvents(third.url, running.id);
      expect(events.map((e) => e.event)).toEqual(['status', 'failed']);
      expect(events[0]!.data).toEqual({ id: running.id, status: 'interrupted' });
      expect(await (await api(`${third.url}/v1/account`)).json()).toMatchObject({
        balance_credits: 1_000_000 - 8,
        spent_credits: 8,
        jobs_in_flight: 0,
      });
      const image = await api(`${third.url}/v1/generations/${done.id}/image`);
      expect(image.status).toBe(200);
      expect(image.headers.get('Content-Type')).toBe('image/jpeg');
    } finally {
      await third.stop();
    }
  });

  it('on SIGINT, takes no new job, lets the running one finish, keeps its image until fetched, then exits 0', async () => {
    const dataDir = tempDataDir();
    const server = await spawnProxy({
      FRAMEFILL_DATA_DIR: dataDir,
      FRAMEFILL_DRAFT_DELAY_MS: '800',
      FRAMEFILL_SHUTDOWN_GRACE_S: '60',
    });
    const job = JobSchema.parse(await (await submitGeneration(server.url, fields)).json());
    const events = readEvents(server.url, job.id);
    await until(() => /"status":"running"/.test(server.output()));
    server.child.kill('SIGINT');
    await until(() => server.output().includes('SIGINT: no new jobs'));
    const refused = await submitGeneration(server.url, fields);
    expect(refused.status).toBe(503);
    expect(ErrorBodySchema.parse(await refused.json()).error.code).toBe('interrupted');
    expect((await events).events.at(-1)?.event).toBe('completed');
    // Paid and finished: the proxy waits for the panel to fetch it, however long the grace allows.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.child.exitCode).toBeNull();
    const image = await api(`${server.url}/v1/generations/${job.id}/image`);
    expect(image.status).toBe(200);
    expect((await image.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    expect(await server.exited).toBe(0);
    const after = await spawnProxy({ FRAMEFILL_DATA_DIR: dataDir });
    try {
      const stored = JobSchema.parse(await (await api(`${after.url}/v1/generations/${job.id}`)).json());
      expect(stored.status).toBe('completed');
    } finally {
      await after.stop();
    }
  });

  it('on SIGTERM, stops within the grace period when nobody fetches the finished image', async () => {
    const server = await spawnProxy({ FRAMEFILL_DRAFT_DELAY_MS: '300', FRAMEFILL_SHUTDOWN_GRACE_S: '3' });
    const job = JobSchema.parse(await (await submitGeneration(server.url, fields)).json());
    await until(() => /"status":"running"/.test(server.output()));
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(server.output()).toContain(`"id":"${job.id}","status":"completed"`);
  });
});

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition never became true');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Peak resident memory of a process, in bytes (Linux). */
function peakRss(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

describe('memory under the body cap', () => {
  it('refuses a streamed body over the cap with 413 without the server growing by the body’s size', async () => {
    const cap = 150 * 1024 * 1024;
    const server = await spawnProxy({ FRAMEFILL_BODY_LIMIT_BYTES: String(cap) });
    try {
      const pid = server.child.pid!;
      await api(`${server.url}/v1/health`);
      const before = peakRss(pid);
      const image = await jpeg(64, 64);
      const fileBytes = 45 * 1024 * 1024;
      const chunk = Buffer.alloc(1024 * 1024);
      const boundary = 'memory-test';
      let sent = 0;
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: server.port,
            path: '/v1/generations',
            method: 'POST',
            headers: {
              'Content-Type': `multipart/form-data; boundary=${boundary}`,
              'Transfer-Encoding': 'chunked',
              Authorization: `Bearer ${server.localToken}`,
            },
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        const write = async () => {
          const field = (name: string, value: string) =>
            `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
          req.write(field('prompt', 'memory') + field('aspect_ratio', '1:1') + field('resolution', '1K'));
          for (let f = 0; f < 4; f++) {
            req.write(
              `--${boundary}\r\nContent-Disposition: form-data; name="reference"; filename="r${f}.jpg"\r\n\r\n`,
            );
            req.write(image);
            for (let written = image.length; written < fileBytes; written += chunk.length) {
              if (req.destroyed) return;
              sent += chunk.length;
              if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
            }
            req.write('\r\n');
          }
          req.end(`--${boundary}--\r\n`);
        };
        write().catch(() => undefined);
      });
      expect(status).toBe(413);
      expect(ErrorBodySchema.parse(JSON.parse(body)).error.code).toBe('payload_too_large');
      const grown = peakRss(pid) - before;
      console.log(
        `body cap ${cap / 2 ** 20} MiB: sent ${(sent / 2 ** 20).toFixed(0)} MiB, server peak RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB`,
      );
      expect(sent).toBeGreaterThan(cap * 0.9);
      // Received chunks are freed when V8 next collects, which it does only after tens of MB of them (40–55 MiB
      // here); a body held whole would grow the server by the cap, 150 MiB.
      expect(grown).toBeLessThan(cap / 2);
    } finally {
      await server.stop();
    }
  });
});
