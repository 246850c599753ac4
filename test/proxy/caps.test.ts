// Caps per client (issue 15, finding 5): open event streams per token and per address, uploads in progress per
// token, jobs queued or running per token. Past a cap the answer is 429 rate_limited with Retry-After before any
// work — never a failed job — and other tokens are served meanwhile.
import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorBodySchema, JobSchema } from '../../core/api';
import type { Provider } from '../../proxy/providers/types';
import type { Engine } from '../../proxy/store';
import {
  ENGINES,
  generateAndWait,
  generationForm,
  startTestProxy,
  submitGeneration,
  type TestProxy,
} from '../helpers/proxy';

const fields = { prompt: 'a lighthouse', aspect_ratio: '1:1', resolution: '1K' };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Jobs of the held accounts run until canceled (an upstream call that takes its time); every other job completes
 * at once with a grey PNG.
 */
function holdingProvider(held: ReadonlySet<string>): Provider {
  return {
    name: 'draft',
    model: 'holding',
    async generate(req, signal) {
      if (held.has(req.accountId)) {
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      }
      const size = req.size === 'auto' ? { width: 1024, height: 1024 } : req.size;
      return {
        bytes: await sharp({ create: { ...size, channels: 3, background: '#888' } })
          .png()
          .toBuffer(),
      };
    },
  };
}

/** A token-mode proxy with the tokens `held` and `other`; the jobs of those named in `holding` never finish. */
async function proxyWith(engine: Engine, env: Record<string, string> = {}, holding = ['held']) {
  const heldIds = new Set<string>();
  const proxy = await startTestProxy(env, { provider: holdingProvider(heldIds), engine });
  cleanups.push(() => proxy.close(0));
  const held = await proxy.ledger.createToken('held', 10_000);
  const other = await proxy.ledger.createToken('other', 10_000);
  for (const { account } of [held, other]) if (holding.includes(account.name)) heldIds.add(account.id);
  return { proxy, held: held.token, other: other.token };
}

async function submit(proxy: TestProxy, token: string): Promise<Response> {
  return submitGeneration(proxy.url, fields, { token });
}

async function runningJob(proxy: TestProxy, token: string): Promise<string> {
  const response = await submit(proxy, token);
  expect(response.status).toBe(202);
  return JobSchema.parse(await response.json()).id;
}

interface Opened {
  status: number;
  retryAfter?: string;
  code?: string;
  close: () => void;
}

/** Opens a job's event stream on its own connection; a 200 stays open until `close()`. */
function openStream(proxy: TestProxy, id: string, token: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    let req: ClientRequest | undefined;
    req = request(
      `${proxy.url}/v1/generations/${id}/events`,
      { agent: false, headers: bearer(token) },
      (res: IncomingMessage) => {
        const close = () => {
          res.destroy();
          req?.destroy();
        };
        if (res.statusCode === 200) {
          res.resume();
          return resolve({ status: 200, close });
        }
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'],
            code: ErrorBodySchema.parse(JSON.parse(body)).error.code,
            close,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Opens `count` streams, `batch` at a time; every one stays registered for cleanup. */
async function openStreams(proxy: TestProxy, id: string, token: string, count: number, batch = 100) {
  const opened: Opened[] = [];
  for (let i = 0; i < count; i += batch) {
    const next = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, () => openStream(proxy, id, token)),
    );
    for (const o of next) cleanups.push(o.close);
    opened.push(...next);
  }
  return opened;
}

describe.each(ENGINES)('on %s', (engine) => {
  describe('event streams', () => {
    it('2,000 streams from one token: 200 open (the default), the rest 429 with Retry-After, while another token’s job completes', async () => {
      const { proxy, held, other } = await proxyWith(engine);
      const id = await runningJob(proxy, held);
      const opened = await openStreams(proxy, id, held, 2000);
      const accepted = opened.filter((o) => o.status === 200);
      const refused = opened.filter((o) => o.status !== 200);
      expect(accepted).toHaveLength(200);
      expect(refused).toHaveLength(1800);
      for (const o of refused) expect(o).toMatchObject({ status: 429, code: 'rate_limited', retryAfter: '5' });
      // Another token, from the same address, is served: its job completes and its stream delivers it.
      const { events } = await generateAndWait(proxy.url, fields, { token: other });
      expect(events.at(-1)?.event).toBe('completed');
      // The held job is still running, not failed by the flood.
      const job = await fetch(`${proxy.url}/v1/generations/${id}`, { headers: bearer(held) });
      expect(JobSchema.parse(await job.json()).status).toBe('running');
      // A closed stream gives its slot back.
      accepted[0]?.close();
      let again = await openStream(proxy, id, held);
      while (again.status === 429) {
        again.close();
        await new Promise((resolve) => setTimeout(resolve, 20));
        again = await openStream(proxy, id, held);
      }
      cleanups.push(again.close);
      expect(again.status).toBe(200);
    });

    it('caps streams per address too (FRAMEFILL_MAX_STREAMS_PER_ADDRESS), whichever token they carry', async () => {
      const { proxy, held, other } = await proxyWith(
        engine,
        { FRAMEFILL_MAX_STREAMS_PER_ADDRESS: '5', FRAMEFILL_MAX_STREAMS_PER_TOKEN: '4' },
        ['held', 'other'],
      );
      const heldJob = await runningJob(proxy, held);
      const otherJob = await runningJob(proxy, other);
      const mine = await openStreams(proxy, heldJob, held, 5, 1);
      expect(mine.map((o) => o.status)).toEqual([200, 200, 200, 200, 429]);
      const theirs = await openStreams(proxy, otherJob, other, 2, 1);
      // The other token has one stream open: the second is the address's sixth.
      expect(theirs.map((o) => o.status)).toEqual([200, 429]);
      expect(theirs[1]?.code).toBe('rate_limited');
    });
  });

  describe('uploads and jobs', () => {
    /**
     * Starts a POST whose body never finishes arriving: an upload in progress. Resolves once its first bytes are sent;
     * `refused` tells whether the proxy answered it anyway (another request took the last upload slot first).
     */
    function stalledUpload(proxy: TestProxy, token: string): Promise<{ refused: () => boolean }> {
      return new Promise((resolve) => {
        let refused = false;
        const req = request(`${proxy.url}/v1/generations`, {
          method: 'POST',
          agent: false,
          headers: {
            ...bearer(token),
            'Content-Type': 'multipart/form-data; boundary=b',
            'Content-Length': '100000',
          },
        });
        req.on('error', () => undefined);
        req.on('response', (res) => {
          refused = true;
          res.resume();
        });
        cleanups.push(() => req.destroy());
        req.write('--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na lighthouse\r\n--b\r\n', () =>
          resolve({ refused: () => refused }),
        );
      });
    }

    /** A POST that is not a form: 429 while the token's upload slots are all taken, else 400 (never a job). */
    const probeUploads = (proxy: TestProxy, token: string) =>
      fetch(`${proxy.url}/v1/generations`, {
        method: 'POST',
        headers: { ...bearer(token), 'Content-Type': 'text/plain' },
        body: 'x',
      });

    /**
     * `count` stalled uploads that the proxy has counted. Requests that arrive together are counted in the order their
     * token lookups finish (any order on PostgreSQL): a probe may take the last slot before a stalled upload, which
     * is then refused and started again.
     */
    async function stalledUploads(proxy: TestProxy, token: string, count: number): Promise<void> {
      let stalled = await Promise.all(Array.from({ length: count }, () => stalledUpload(proxy, token)));
      for (;;) {
        const full = (await probeUploads(proxy, token)).status === 429;
        const refused = stalled.filter((s) => s.refused()).length;
        if (full && refused === 0) return;
        stalled = [
          ...stalled.filter((s) => !s.refused()),
          ...(await Promise.all(Array.from({ length: refused }, () => stalledUpload(proxy, token)))),
        ];
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }

    it('FRAMEFILL_MAX_UPLOADS_PER_TOKEN uploads in progress, then 429 with no job; another token uploads meanwhile', async () => {
      const { proxy, held, other } = await proxyWith(engine, { FRAMEFILL_MAX_UPLOADS_PER_TOKEN: '2' });
      await stalledUploads(proxy, held, 2);
      const third = await submit(proxy, held);
      const balance = (await proxy.ledger.find('held'))?.balance;
      expect(third.status).toBe(429);
      expect(third.headers.get('Retry-After')).toBe('5');
      expect(ErrorBodySchema.parse(await third.json()).error.code).toBe('rate_limited');
      expect((await submit(proxy, held)).status).toBe(429);
      expect((await proxy.ledger.find('held'))?.balance).toBe(balance);
      expect((await submit(proxy, other)).status).toBe(202);
    });

    it('uploads that arrive together do not take a token past FRAMEFILL_MAX_JOBS_PER_TOKEN', async () => {
      const { proxy, held } = await proxyWith(engine, {
        FRAMEFILL_MAX_JOBS_PER_TOKEN: '2',
        FRAMEFILL_MAX_UPLOADS_PER_TOKEN: '4',
      });
      // Four uploads pass the first look at the token's jobs (none yet), then finish arriving one after another.
      const encoded = new Response(generationForm(fields));
      const contentType = encoded.headers.get('Content-Type') ?? '';
      const body = Buffer.from(await encoded.arrayBuffer());
      const startUpload = () => {
        const req = request(`${proxy.url}/v1/generations`, {
          method: 'POST',
          agent: false,
          headers: {
            ...bearer(held),
            'Content-Type': contentType,
            'Content-Length': String(body.length),
          },
        });
        let early = false;
        const answered = new Promise<number>((resolve, reject) => {
          req.on('response', (res) => {
            early = true;
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
        });
        req.write(body.subarray(0, 10));
        return { req, answered, refused: () => early };
      };
      let uploads = Array.from({ length: 4 }, startUpload);
      // All four are past the first look once a fifth upload meets the uploads cap (a body that is not a form is
      // refused 400 after that cap, so the probe never makes a job). Requests that arrive together are counted in
      // the order their token lookups finish (any order on PostgreSQL): an upload the probe overtook for the last
      // slot is refused before its body is sent, and started again.
      for (;;) {
        const full = (await probeUploads(proxy, held)).status === 429;
        const kept = uploads.filter((u) => !u.refused());
        if (full && kept.length === uploads.length) break;
        uploads = [...kept, ...Array.from({ length: uploads.length - kept.length }, startUpload)];
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const { req } of uploads) req.end(body.subarray(10));
      const statuses = await Promise.all(uploads.map((u) => u.answered));
      expect(statuses.sort()).toEqual([202, 202, 429, 429]);
      expect(await proxy.store.inFlight((await proxy.ledger.find('held'))!.id)).toBe(2);
    });

    it('FRAMEFILL_MAX_JOBS_PER_TOKEN queued or running jobs, then 429 (never a failed job); a finished one frees a slot', async () => {
      const { proxy, held, other } = await proxyWith(engine, { FRAMEFILL_MAX_JOBS_PER_TOKEN: '3' });
      const ids = [await runningJob(proxy, held), await runningJob(proxy, held), await runningJob(proxy, held)];
      const balance = (await proxy.ledger.find('held'))?.balance;
      const fourth = await submit(proxy, held);
      expect(fourth.status).toBe(429);
      expect(fourth.headers.get('Retry-After')).toBe('5');
      expect(ErrorBodySchema.parse(await fourth.json()).error.code).toBe('rate_limited');
      expect((await proxy.ledger.find('held'))?.balance).toBe(balance);
      expect((await submit(proxy, other)).status).toBe(202);
      await fetch(`${proxy.url}/v1/generations/${ids[0]}`, { method: 'DELETE', headers: bearer(held) });
      expect((await submit(proxy, held)).status).toBe(202);
    });
  });
});
