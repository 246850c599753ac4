// "Cancel after the previews is a free image" (issue 15, finding 2), tried as the attacker did, over HTTP against the
// OpenAI stand-in sending full-size partial images: the previews that reach the client are at most 512 px on the
// long edge in their decoded pixels, and a cancel after the upstream call started is charged (refunded only with
// FRAMEFILL_CANCEL_REFUND=started); a cancel before it started returns everything and never calls the upstream.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AccountSchema, JobSchema } from '../../core/api';
import { LOCAL_ACCOUNT_CREDITS } from '../../proxy/ledger';
import { api, ENGINES, readEvents, type SseEvent, submitGeneration } from '../helpers/proxy';
import { useProxyOnFakeOpenAI } from '../openai/fixtures';

const fourK = { prompt: 'a lighthouse at dusk', aspect_ratio: '16:9', resolution: '4K', quality: 'high' };

/** The preview's real pixels, decoded from the bytes sent, beside what the event says. */
async function decoded(event: SseEvent) {
  const data = event.data as { b64: string; width: number; height: number; mime: string };
  const meta = await sharp(Buffer.from(data.b64, 'base64')).metadata();
  return { declared: [data.width, data.height], real: [meta.width, meta.height], format: meta.format };
}

describe.each(ENGINES)('on %s', (engine) => {
  const setUp = useProxyOnFakeOpenAI(engine);

  async function account(url: string) {
    return AccountSchema.parse(await (await api(`${url}/v1/account`)).json());
  }

  /** Submits a 16:9 4K job whose upstream sends two full-size (3840 × 2160) partials, then never finishes. */
  async function jobReadTillPartials(env: Record<string, string> = {}) {
    const { fake, proxy } = await setUp(
      { FRAMEFILL_PARTIAL_IMAGES: '2', ...env },
      { partials: { scale: 1, sent: () => 2 } },
    );
    fake.failNext({ kind: 'stall-after-partials' });
    const { id, cost_credits: cost } = JobSchema.parse(await (await submitGeneration(proxy.url, fourK)).json());
    let partials = 0;
    const { events } = await readEvents(proxy.url, id, {
      until: (event) => event.event === 'partial' && ++partials === 2,
    });
    return { fake, proxy, id, cost, partials: events.filter((e) => e.event === 'partial') };
  }

  describe('previews', () => {
    it('full-size partials from the upstream reach the client at most 512 px on the long edge, in their real pixels', async () => {
      const { fake, partials } = await jobReadTillPartials();
      expect(fake.requests[0]?.json).toMatchObject({ size: '3840x2160', partial_images: 2 });
      expect(partials).toHaveLength(2);
      for (const partial of partials) {
        const { declared, real, format } = await decoded(partial);
        expect(real).toEqual(declared);
        expect(Math.max(...(real as number[]))).toBeLessThanOrEqual(512);
        expect(real).toEqual([512, 288]);
        expect(format).toBe('jpeg');
      }
    });
  });

  describe('an honest cancel', () => {
    it('after the previews: the started upstream call is aborted and the job charged, and the job and event say so', async () => {
      const { fake, proxy, id, cost } = await jobReadTillPartials();
      const canceled = await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' });
      expect(JobSchema.parse(await canceled.json())).toMatchObject({ status: 'canceled', credits_returned: false });
      const { events } = await readEvents(proxy.url, id);
      expect(events.at(-1)).toEqual({ event: 'canceled', data: { id, credits_returned: false } });
      await expect.poll(() => fake.requests[0]?.closedByClient).toBe(true);
      expect(await proxy.ledger.rowsForJob(id)).toEqual([
        { kind: 'reserve', amount: -cost },
        { kind: 'charge', amount: cost },
      ]);
      expect(await account(proxy.url)).toMatchObject({
        balance_credits: LOCAL_ACCOUNT_CREDITS - cost,
        spent_credits: cost,
        jobs_in_flight: 0,
      });
    });

    it('after the previews with FRAMEFILL_CANCEL_REFUND=started: aborted and refunded', async () => {
      const { proxy, id, cost } = await jobReadTillPartials({ FRAMEFILL_CANCEL_REFUND: 'started' });
      const canceled = await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' });
      expect(JobSchema.parse(await canceled.json())).toMatchObject({ status: 'canceled', credits_returned: true });
      const { events } = await readEvents(proxy.url, id);
      expect(events.at(-1)).toEqual({ event: 'canceled', data: { id, credits_returned: true } });
      expect(await proxy.ledger.rowsForJob(id)).toEqual([
        { kind: 'reserve', amount: -cost },
        { kind: 'release', amount: cost },
      ]);
      expect(await account(proxy.url)).toMatchObject({ balance_credits: LOCAL_ACCOUNT_CREDITS, spent_credits: 0 });
    });

    it('before the upstream call started: every credit returned, and the upstream never called for it', async () => {
      const { fake, proxy } = await setUp({ FRAMEFILL_UPSTREAM_CONCURRENCY: '1' });
      let release = () => {};
      fake.failNext({ kind: 'hold', until: new Promise<void>((resolve) => (release = resolve)) });
      const first = JobSchema.parse(await (await submitGeneration(proxy.url, fourK)).json());
      const second = JobSchema.parse(await (await submitGeneration(proxy.url, fourK)).json());
      await fake.received(1);
      const canceled = await api(`${proxy.url}/v1/generations/${second.id}`, { method: 'DELETE' });
      expect(JobSchema.parse(await canceled.json())).toMatchObject({ status: 'canceled', credits_returned: true });
      const { events } = await readEvents(proxy.url, second.id);
      expect(events.at(-1)).toEqual({ event: 'canceled', data: { id: second.id, credits_returned: true } });
      expect(await proxy.ledger.rowsForJob(second.id)).toEqual([
        { kind: 'reserve', amount: -second.cost_credits },
        { kind: 'release', amount: second.cost_credits },
      ]);
      release();
      expect((await readEvents(proxy.url, first.id)).events.at(-1)?.event).toBe('completed');
      expect(fake.requests).toHaveLength(1);
      expect(await account(proxy.url)).toMatchObject({
        balance_credits: LOCAL_ACCOUNT_CREDITS - first.cost_credits,
        spent_credits: first.cost_credits,
      });
    });
  });
});
