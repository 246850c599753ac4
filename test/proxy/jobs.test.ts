// Jobs over real HTTP: the event stream, cancel, failures and timeouts, the concurrency bound, and the check
// every provider result passes before a job completes.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AccountSchema, ErrorBodySchema, JobSchema, parseJobEvent } from '../../core/api';
import { FramefillError } from '../../proxy/errors';
import type { Provider } from '../../proxy/providers/types';
import { png } from '../helpers/images';
import {
  api,
  ENGINES,
  generateAndWait,
  readEvents,
  startTestProxy as startProxyOn,
  submitGeneration,
  type TestProxy,
} from '../helpers/proxy';

const fields = { prompt: 'a quiet harbour at dawn', aspect_ratio: '16:9', resolution: '1K' };

async function submit(url: string, body: Record<string, string> = fields) {
  const response = await submitGeneration(url, body);
  expect(response.status, await response.clone().text()).toBe(202);
  return JobSchema.parse(await response.json());
}

async function job(url: string, id: string) {
  return JobSchema.parse(await (await api(`${url}/v1/generations/${id}`)).json());
}

async function account(url: string) {
  return AccountSchema.parse(await (await api(`${url}/v1/account`)).json());
}

/** A provider that waits for the test to resolve or fail it, honouring abort. */
function manualProvider(result?: (size: { width: number; height: number }) => Promise<Buffer>) {
  const calls: { signal: AbortSignal; finish: () => void; fail: (e: unknown) => void }[] = [];
  const provider: Provider = {
    name: 'draft',
    model: 'manual',
    generate(request, signal) {
      return new Promise((resolve, reject) => {
        const size = request.size === 'auto' ? { width: 1024, height: 1024 } : request.size;
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        calls.push({
          signal,
          finish: () => {
            void (
              result ??
              ((s) =>
                sharp({ create: { ...s, channels: 3, background: '#888' } })
                  .png()
                  .toBuffer())
            )(size).then((bytes) => resolve({ bytes, usage: { total_tokens: 42 }, upstreamRequestId: 'req_123' }));
          },
          fail: reject,
        });
      });
    },
  };
  return { provider, calls };
}

async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition never became true');
}

describe.each(ENGINES)('on %s', (engine) => {
  const startTestProxy: typeof startProxyOn = (env, opts) => startProxyOn(env, { ...opts, engine });

  describe('the event stream', () => {
    it('is text/event-stream and sends status, partial, completed in that order, then ends', async () => {
      const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '200' });
      try {
        const { id } = await submit(proxy.url);
        const { events, contentType } = await readEvents(proxy.url, id);
        expect(contentType).toContain('text/event-stream');
        const names = events.map((e) => e.event);
        expect(names[0]).toBe('status');
        expect(names.indexOf('partial')).toBeGreaterThan(names.indexOf('status'));
        expect(names.at(-1)).toBe('completed');
        expect(names.filter((n) => n === 'completed')).toHaveLength(1);
        for (const e of events) expect(parseJobEvent(e.event, JSON.stringify(e.data)), e.event).toBeDefined();
        const partial = events.find((e) => e.event === 'partial')!.data as { mime: string; b64: string; width: number };
        expect(partial.mime).toBe('image/jpeg');
        const preview = await sharp(Buffer.from(partial.b64, 'base64')).metadata();
        expect(preview.format).toBe('jpeg');
        expect(preview.width).toBeLessThanOrEqual(256);
        expect(events.at(-1)!.data).toEqual({
          id,
          width: 1280,
          height: 720,
          // JPEG when the request names no format (core/api.ts).
          mime: 'image/jpeg',
          bytes: expect.any(Number),
          url: `/v1/generations/${id}/image`,
          images: [
            {
              index: 0,
              width: 1280,
              height: 720,
              mime: 'image/jpeg',
              bytes: expect.any(Number),
              url: `/v1/generations/${id}/image?index=0`,
              thumbnail_url: `/v1/generations/${id}/thumbnail?index=0`,
            },
          ],
        });
      } finally {
        await proxy.close();
      }
    });

    it('publishes a preview handed over before the result, scaled to 512 px, and completed after it', async () => {
      const big = (
        await sharp({ create: { width: 3000, height: 3000, channels: 3, background: '#808080' } })
          .png()
          .toBuffer()
      ).toString('base64');
      const result = await sharp({ create: { width: 1024, height: 1024, channels: 3, background: '#404040' } })
        .jpeg()
        .toBuffer();
      let subscribed!: () => void;
      const listening = new Promise<void>((resolve) => (subscribed = resolve));
      let previewed!: () => void;
      const previewSeen = new Promise<void>((resolve) => (previewed = resolve));
      const provider: Provider = {
        name: 'openai',
        model: 'gpt-image-2',
        async generate(_request, _signal, onPartial) {
          await listening;
          onPartial({ index: 0, mime: 'image/png', b64: big, width: 3000, height: 3000 });
          // The result follows once the stream showed the preview: a stream still reading the preview's row when the
          // job completes skips it (the result supersedes it), which with PostgreSQL can happen at any time.
          await previewSeen;
          return { bytes: result };
        },
      };
      const proxy = await startTestProxy({}, { provider });
      try {
        const { id } = await submit(proxy.url, { ...fields, aspect_ratio: '1:1', output_format: 'jpeg' });
        const { events } = await readEvents(proxy.url, id, {
          onEvent: (event) => {
            subscribed();
            if (event.event === 'partial') previewed();
          },
        });
        expect(events.map((e) => e.event).filter((n) => n !== 'status')).toEqual(['partial', 'completed']);
        const partial = events.find((e) => e.event === 'partial')!.data as { width: number; height: number };
        expect(partial).toMatchObject({ width: 512, height: 512 });
      } finally {
        await proxy.close(0);
      }
    });

    it('gives a late subscriber the current state and the terminal event', async () => {
      const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
      try {
        const { id } = await generateAndWait(proxy.url, fields);
        const { events } = await readEvents(proxy.url, id);
        expect(events.map((e) => e.event)).toEqual(['status', 'completed']);
        expect(events[0]!.data).toEqual({ id, status: 'completed' });
      } finally {
        await proxy.close();
      }
    });

    it('replays the current state to a client that reconnects mid-job, including the last preview', async () => {
      const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '600' });
      try {
        const { id } = await submit(proxy.url);
        await readEvents(proxy.url, id, { until: (e) => e.event === 'partial' });
        const { events } = await readEvents(proxy.url, id);
        expect(events[0]).toEqual({ event: 'status', data: { id, status: 'running' } });
        expect(events[1]?.event).toBe('partial');
        expect(events.at(-1)?.event).toBe('completed');
      } finally {
        await proxy.close();
      }
    });

    it('sends keep-alive comments while a job is quiet', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({}, { provider, keepAliveMs: 20 });
      try {
        const { id } = await submit(proxy.url);
        const reading = readEvents(proxy.url, id);
        await until(() => calls.length === 1);
        await new Promise((r) => setTimeout(r, 150));
        calls[0]!.finish();
        const { comments, events } = await reading;
        expect(comments).toBeGreaterThan(0);
        expect(events.at(-1)?.event).toBe('completed');
      } finally {
        await proxy.close();
      }
    });
  });

  describe('cancel', () => {
    it('aborts a running job and charges it, since the operator is billed for a started call', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({}, { provider });
      try {
        expect((await (await api(`${proxy.url}/v1/capabilities`)).json()).cancel_refund).toBe('queued');
        const before = await account(proxy.url);
        const { id } = await submit(proxy.url);
        const reading = readEvents(proxy.url, id);
        await until(() => calls.length === 1);
        expect((await account(proxy.url)).balance_credits).toBe(before.balance_credits - 6);
        const response = await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' });
        expect(JobSchema.parse(await response.json())).toMatchObject({ status: 'canceled', credits_returned: false });
        const { events } = await reading;
        expect(events.at(-1)).toEqual({ event: 'canceled', data: { id, credits_returned: false } });
        expect(calls[0]!.signal.aborted).toBe(true);
        expect(await account(proxy.url)).toMatchObject({
          balance_credits: before.balance_credits - 6,
          spent_credits: 6,
          jobs_in_flight: 0,
        });
        expect(await proxy.ledger.rowsForJob(id)).toEqual([
          { kind: 'reserve', amount: -6 },
          { kind: 'charge', amount: 6 },
        ]);
        // Cancelling again changes nothing.
        await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' });
        expect(await proxy.ledger.rowsForJob(id)).toHaveLength(2);
      } finally {
        await proxy.close();
      }
    });

    it('refunds a started job too with FRAMEFILL_CANCEL_REFUND=started', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({ FRAMEFILL_CANCEL_REFUND: 'started' }, { provider });
      try {
        // The panel reads this to say so on its Cancel control before the click.
        expect((await (await api(`${proxy.url}/v1/capabilities`)).json()).cancel_refund).toBe('started');
        const before = await account(proxy.url);
        const { id } = await submit(proxy.url);
        await until(() => calls.length === 1);
        const response = await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' });
        expect(JobSchema.parse(await response.json())).toMatchObject({ status: 'canceled', credits_returned: true });
        expect(await account(proxy.url)).toMatchObject({ balance_credits: before.balance_credits, spent_credits: 0 });
        expect(await proxy.ledger.rowsForJob(id)).toEqual([
          { kind: 'reserve', amount: -6 },
          { kind: 'release', amount: 6 },
        ]);
      } finally {
        await proxy.close();
      }
    });

    /** Runs `meanwhile` just before the cancel's own change is made: another step of the job got there first. */
    function beforeCancelLands(proxy: TestProxy, meanwhile: (id: string) => Promise<void>): () => boolean {
      const finish = proxy.store.finish.bind(proxy.store);
      let ran = false;
      proxy.store.finish = async (id, status, error, options) => {
        if (status === 'canceled' && !ran) {
          ran = true;
          await meanwhile(id);
        }
        return finish(id, status, error, options);
      };
      return () => ran;
    }

    it('refunds a job the rate limit put back in the queue just before the cancel landed', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({}, { provider });
      try {
        const before = await account(proxy.url);
        const { id } = await submit(proxy.url);
        await until(() => calls.length === 1);
        // The image service answered 429: the job waits queued, and its refused call is not billed.
        const ran = beforeCancelLands(proxy, async (jobId) => {
          expect(await proxy.store.requeue(jobId, 'Waiting for the rate limit.')).toBe(true);
        });
        const response = await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' });
        expect(ran()).toBe(true);
        expect(JobSchema.parse(await response.json())).toMatchObject({ status: 'canceled', credits_returned: true });
        expect(await proxy.ledger.rowsForJob(id)).toEqual([
          { kind: 'reserve', amount: -6 },
          { kind: 'release', amount: 6 },
        ]);
        expect(await account(proxy.url)).toMatchObject({ balance_credits: before.balance_credits, spent_credits: 0 });
      } finally {
        await proxy.close();
      }
    });

    it('charges a queued job that started its call just before the cancel landed', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({ FRAMEFILL_UPSTREAM_CONCURRENCY: '1' }, { provider });
      try {
        const first = await submit(proxy.url);
        const second = await submit(proxy.url);
        await until(() => calls.length === 1);
        expect((await job(proxy.url, second.id)).status).toBe('queued');
        // Another replica (or this one's next slot) starts it between the cancel's look and its change.
        const ran = beforeCancelLands(proxy, async (jobId) => {
          expect(await proxy.store.start(jobId)).toBe(true);
        });
        const response = await api(`${proxy.url}/v1/generations/${second.id}`, { method: 'DELETE' });
        expect(ran()).toBe(true);
        expect(JobSchema.parse(await response.json())).toMatchObject({ status: 'canceled', credits_returned: false });
        expect(await proxy.ledger.rowsForJob(second.id)).toEqual([
          { kind: 'reserve', amount: -6 },
          { kind: 'charge', amount: 6 },
        ]);
        calls[0]!.finish();
        await readEvents(proxy.url, first.id);
      } finally {
        await proxy.close();
      }
    });

    it('ends a queued job at once without ever calling the provider', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({ FRAMEFILL_UPSTREAM_CONCURRENCY: '1' }, { provider });
      try {
        const first = await submit(proxy.url);
        const second = await submit(proxy.url);
        await until(() => calls.length === 1);
        expect((await job(proxy.url, second.id)).status).toBe('queued');
        const canceled = await api(`${proxy.url}/v1/generations/${second.id}`, { method: 'DELETE' });
        expect(JobSchema.parse(await canceled.json())).toMatchObject({ status: 'canceled', credits_returned: true });
        expect(await proxy.ledger.rowsForJob(second.id)).toEqual([
          { kind: 'reserve', amount: -6 },
          { kind: 'release', amount: 6 },
        ]);
        calls[0]!.finish();
        await readEvents(proxy.url, first.id);
        expect(calls).toHaveLength(1);
        expect((await account(proxy.url)).spent_credits).toBe(6);
      } finally {
        await proxy.close();
      }
    });
  });

  describe('rate limits', () => {
    it('a rate limit that names no wait puts the job back in the queue for 5 s, saying so; the next one 10 s', async () => {
      let calls = 0;
      const provider: Provider = {
        name: 'openai',
        model: 'gpt-image-2',
        async generate() {
          calls++;
          throw new FramefillError('rate_limited', 'OpenAI is rate-limiting the proxy.');
        },
      };
      const proxy = await startTestProxy({}, { provider });
      try {
        const { id } = await submit(proxy.url);
        const reasons: string[] = [];
        await readEvents(proxy.url, id, {
          until: (e) => {
            const data = e.data as { status?: string; reason?: string };
            if (e.event === 'status' && data.status === 'queued' && data.reason) reasons.push(data.reason);
            return reasons.length > 0;
          },
        });
        expect(reasons[0]).toMatch(/rate limit — about [45] s/);
        expect(await job(proxy.url, id)).toMatchObject({ status: 'queued', status_reason: reasons[0] });
        expect(calls).toBe(1);
        await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' });
        expect((await job(proxy.url, id)).credits_returned).toBe(true);
      } finally {
        await proxy.close();
      }
    });
  });

  describe('concurrency, failures and timeouts', () => {
    it('runs at most FRAMEFILL_UPSTREAM_CONCURRENCY jobs at once; the rest wait queued', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({ FRAMEFILL_UPSTREAM_CONCURRENCY: '2' }, { provider });
      try {
        const jobs = [await submit(proxy.url), await submit(proxy.url), await submit(proxy.url)];
        await until(() => calls.length === 2);
        expect((await job(proxy.url, jobs[2]!.id)).status).toBe('queued');
        calls[0]!.finish();
        await until(() => calls.length === 3);
        calls[1]!.finish();
        calls[2]!.finish();
        for (const j of jobs) expect((await readEvents(proxy.url, j.id)).events.at(-1)?.event).toBe('completed');
      } finally {
        await proxy.close();
      }
    });

    it('fails with the provider’s code and releases the credits', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({}, { provider });
      try {
        const { id } = await submit(proxy.url);
        await until(() => calls.length === 1);
        calls[0]!.fail(new FramefillError('content_policy', 'The model refused this prompt.'));
        const { events } = await readEvents(proxy.url, id);
        expect(events.at(-1)).toEqual({
          event: 'failed',
          data: { id, error: { code: 'content_policy', message: 'The model refused this prompt.' } },
        });
        expect((await job(proxy.url, id)).error?.code).toBe('content_policy');
        expect((await proxy.ledger.rowsForJob(id)).map((r) => r.kind)).toEqual(['reserve', 'release']);
      } finally {
        await proxy.close();
      }
    });

    it('turns an unexpected provider exception into upstream_error, never a crash', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({}, { provider });
      try {
        const { id } = await submit(proxy.url);
        await until(() => calls.length === 1);
        calls[0]!.fail(new TypeError('boom'));
        const { events } = await readEvents(proxy.url, id);
        expect(events.at(-1)?.event).toBe('failed');
        expect((await job(proxy.url, id)).error?.code).toBe('upstream_error');
      } finally {
        await proxy.close();
      }
    });

    it('aborts a job past FRAMEFILL_UPSTREAM_TIMEOUT_S with upstream_timeout and releases the credits', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({ FRAMEFILL_UPSTREAM_TIMEOUT_S: '0.2' }, { provider });
      try {
        const { id } = await submit(proxy.url);
        const { events } = await readEvents(proxy.url, id);
        expect(events.at(-1)?.event).toBe('failed');
        expect((events.at(-1)!.data as { error: { code: string } }).error.code).toBe('upstream_timeout');
        expect(calls[0]!.signal.aborted).toBe(true);
        expect((await proxy.ledger.rowsForJob(id)).map((r) => r.kind)).toEqual(['reserve', 'release']);
      } finally {
        await proxy.close();
      }
    });
  });

  describe('a completion that cannot be recorded', () => {
    it('fails the job with its credits back and keeps none of its images', async () => {
      const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
      try {
        const before = await account(proxy.url);
        const complete = proxy.store.complete.bind(proxy.store);
        let tried = false;
        proxy.store.complete = async (_id, result) => {
          tried = result.images.length === 2;
          throw new Error('the database went away');
        };
        const { id, events } = await generateAndWait(proxy.url, { ...fields, n: '2' });
        proxy.store.complete = complete;
        expect(tried).toBe(true);
        expect(events.at(-1)?.event).toBe('failed');
        expect(await account(proxy.url)).toMatchObject({ balance_credits: before.balance_credits, spent_credits: 0 });
        for (const index of [0, 1]) expect(await proxy.results.open(id, index, 'image/jpeg')).toBeUndefined();
      } finally {
        await proxy.close();
      }
    });
  });

  describe('the check of every provider result', () => {
    it('fails a result of the wrong size with upstream_error and charges nothing', async () => {
      const { provider, calls } = manualProvider(() => png(1000, 700));
      const proxy = await startTestProxy({}, { provider });
      try {
        const { id } = await submit(proxy.url);
        await until(() => calls.length === 1);
        calls[0]!.finish();
        await readEvents(proxy.url, id);
        const failed = await job(proxy.url, id);
        expect(failed.status).toBe('failed');
        expect(failed.error?.code).toBe('upstream_error');
        expect(failed.error?.message).toContain('1000×700');
        expect((await account(proxy.url)).spent_credits).toBe(0);
      } finally {
        await proxy.close();
      }
    });

    it('fails bytes that are not an image', async () => {
      const { provider, calls } = manualProvider(async () => Buffer.from('not an image at all'));
      const proxy = await startTestProxy({}, { provider });
      try {
        const { id } = await submit(proxy.url);
        await until(() => calls.length === 1);
        calls[0]!.finish();
        await readEvents(proxy.url, id);
        expect((await job(proxy.url, id)).error?.code).toBe('upstream_error');
      } finally {
        await proxy.close();
      }
    });

    it('scales an Auto result over 4096 px down to fit Figma, says so in notes, and reports the size it got', async () => {
      const { provider, calls } = manualProvider(() => png(5000, 2500));
      const proxy = await startTestProxy({}, { provider });
      try {
        const { id } = await submit(proxy.url, { prompt: 'wide', aspect_ratio: 'auto', resolution: '1K' });
        expect((await job(proxy.url, id)).width).toBeNull();
        await until(() => calls.length === 1);
        calls[0]!.finish();
        await readEvents(proxy.url, id);
        const done = await job(proxy.url, id);
        expect(done).toMatchObject({ status: 'completed', width: 4096, height: 2048 });
        expect(done.notes?.[0]).toContain('5000×2500');
        const image = await sharp(
          Buffer.from(await (await api(`${proxy.url}/v1/generations/${id}/image`)).arrayBuffer()),
        ).metadata();
        expect([image.width, image.height]).toEqual([4096, 2048]);
      } finally {
        await proxy.close();
      }
    });

    it('records usage and the upstream request id on the job without showing them in the API', async () => {
      const { provider, calls } = manualProvider();
      const proxy = await startTestProxy({}, { provider });
      try {
        const { id } = await submit(proxy.url);
        await until(() => calls.length === 1);
        calls[0]!.finish();
        await readEvents(proxy.url, id);
        const row = (await proxy.store.get(id))!;
        expect(JSON.parse(row.usage_json!)).toEqual({ total_tokens: 42 });
        expect(row.upstream_request_id).toBe('req_123');
        const text = await (await api(`${proxy.url}/v1/generations/${id}`)).text();
        expect(text).not.toContain('req_123');
        expect(text).not.toContain('total_tokens');
      } finally {
        await proxy.close();
      }
    });
  });

  describe('results', () => {
    it('removes result images after the TTL and keeps the job, its prompt and settings for History', async () => {
      const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0', FRAMEFILL_RESULT_TTL_HOURS: '0.00001' });
      try {
        const { id } = await generateAndWait(proxy.url, fields);
        const file = (await proxy.store.get(id))!.result_file!;
        const { mime } = (await proxy.store.images(id))[0]!;
        // A file beside SQLite, a row of the results table with PostgreSQL: there before, gone after.
        expect((await proxy.results.open(id, 0, mime))?.size).toBeGreaterThan(0);
        const { existsSync } = await import('node:fs');
        expect(existsSync(file)).toBe(engine === 'sqlite');
        await new Promise((r) => setTimeout(r, 100));
        expect(await proxy.cleanup()).toBe(1);
        const response = await api(`${proxy.url}/v1/generations/${id}/image`);
        expect(response.status).toBe(404);
        expect(ErrorBodySchema.parse(await response.json()).error.code).toBe('not_found');
        expect(await proxy.results.open(id, 0, mime)).toBeUndefined();
        expect(existsSync(file)).toBe(false);
        const job = JobSchema.parse(await (await api(`${proxy.url}/v1/generations/${id}`)).json());
        expect(job).toMatchObject({ status: 'completed', prompt: fields.prompt, aspect_ratio: fields.aspect_ratio });
        expect(job.images?.[0]?.expired).toBe(true);
      } finally {
        await proxy.close();
      }
    });

    it('logs requests and transitions as JSON lines without the prompt', async () => {
      const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
      try {
        const secret = 'purple-elephant-prompt';
        await generateAndWait(proxy.url, { ...fields, prompt: secret });
        const text = JSON.stringify(proxy.logs);
        expect(text).not.toContain(secret);
        expect(proxy.logs.filter((l) => l.kind === 'job').map((l) => l.status)).toEqual([
          'queued',
          'running',
          'completed',
        ]);
        expect(proxy.logs.some((l) => l.kind === 'request' && l.method === 'POST' && l.status === 202)).toBe(true);
      } finally {
        await proxy.close();
      }
    });
  });
});
