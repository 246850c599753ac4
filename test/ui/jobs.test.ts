// @vitest-environment happy-dom
// The job runner against a scripted proxy: an unreachable proxy is "offline", never a failure; waits, cancels
// and interruptions read as the proxy reported them; a job the proxy never accepted is resent under its key.
import { describe, expect, it } from 'vitest';
import { ERROR_ADVICE } from '../../core/api';
import type { PanelToMainName } from '../../core/messages';
import { cancelLabel, shortfallText, statusText } from '../../ui/components/JobStrip';
import { errorSentence } from '../../ui/errors';
import { type JobCard, type JobPhase, JobRunner } from '../../ui/jobs';
import { ProxyClient } from '../../ui/proxy-client';
import { png } from '../helpers/images';

const JOB_ID = '3f2b8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a7b';
const PROXY = 'http://localhost:8787';

function job(status = 'queued') {
  return {
    id: JOB_ID,
    status,
    prompt_chars: 5,
    aspect_ratio: '16:9',
    resolution: '4K',
    width: 3840,
    height: 2160,
    quality: 'medium',
    output_format: 'png',
    references: 0,
    cost_credits: 12,
    created_at: new Date().toISOString(),
    model: 'draft',
  };
}

const json = (value: unknown, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });
const sse = (...events: [string, unknown][]) =>
  new Response(events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join(''), {
    headers: { 'content-type': 'text/event-stream' },
  });
const unreachable = () => Promise.reject(new TypeError('Failed to fetch'));

type Route = (url: string, init?: RequestInit) => Response | Promise<Response>;

/** A runner whose proxy answers through `route`; records every card state and every message to main. */
function runnerWith(route: Route) {
  const seen: JobCard[] = [];
  const sent: { name: PanelToMainName; payload: unknown }[] = [];
  const keys: string[] = [];
  let settled = 0;
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    if (init?.method === 'POST') keys.push(new Headers(init.headers).get('Idempotency-Key') ?? '');
    return route(url, init);
  }) as typeof globalThis.fetch;
  const runner = new JobRunner({
    send: (name, payload) => sent.push({ name, payload }),
    clientFor: (proxyUrl) => new ProxyClient({ baseUrl: proxyUrl, fetch, backoffMs: [1] }),
    onChange: (cards) => seen.push(...cards),
    onSettled: () => settled++,
  });
  const start = () =>
    runner.start({
      proxyUrl: PROXY,
      targetId: '1:1',
      targetName: 'Hero',
      referenceIds: [],
      plannedCost: 12,
      request: {
        prompt: 'a hero',
        aspectRatio: '16:9',
        resolution: '4K',
        quality: 'medium',
        outputFormat: 'png',
        references: [],
      },
    });
  const card = () => runner.cards()[0] as JobCard;
  const phases = () => [...new Set(seen.map((c) => c.phase))];
  return { runner, start, card, phases, seen, sent, keys, settled: () => settled };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  expect(check()).toBe(true);
}

describe('job runner', () => {
  it('shows "Offline — will resume" while the proxy cannot be reached, then completes and places; never Failed', async () => {
    const bytes = new Uint8Array(await png(16, 9));
    let streamDown = 3;
    let imageDown = 2;
    const t = runnerWith((url) => {
      if (url.endsWith('/v1/generations')) return json(job(), 202);
      if (url.endsWith('/events')) {
        if (streamDown-- > 0) return unreachable();
        return sse(
          ['status', { id: JOB_ID, status: 'running' }],
          ['completed', { id: JOB_ID, width: 3840, height: 2160, mime: 'image/png', bytes: bytes.length, url: '/x' }],
        );
      }
      if (url.endsWith('/image')) {
        if (imageDown-- > 0) return unreachable();
        return new Response(bytes, { headers: { 'content-type': 'image/png' } });
      }
      return json({}, 404);
    });
    await t.start();
    await until(() => t.sent.some((m) => m.name === 'PLACE_IMAGE'));
    expect(t.seen.some((c) => c.offline && statusText(c) === 'Offline — will resume')).toBe(true);
    const place = t.sent.find((m) => m.name === 'PLACE_IMAGE')?.payload as { requestId: string } | undefined;
    const requestId = place?.requestId ?? '';
    t.runner.onImagePlaced({ requestId, nodeId: '1:1', createdFrame: false });
    expect(t.card().phase).toBe('placed');
    expect(t.card().offline).toBe(false);
    expect(t.phases()).not.toContain('failed' satisfies JobPhase);
    expect(t.seen.every((c) => c.error === undefined)).toBe(true);
  });

  it("shows why a job waits, in the proxy's words", async () => {
    const reason = "Waiting for the image service's rate limit — about 40 s.";
    const t = runnerWith((url) => {
      if (url.endsWith('/v1/generations')) return json(job(), 202);
      if (url.endsWith('/events')) {
        return sse(
          ['status', { id: JOB_ID, status: 'queued', reason }],
          ['failed', { id: JOB_ID, error: { code: 'upstream_error', message: 'x' } }],
        );
      }
      return json({}, 404);
    });
    await t.start();
    await until(() => t.card().phase === 'failed');
    expect(t.seen.some((c) => c.phase === 'queued' && statusText(c) === reason)).toBe(true);
  });

  it('says what Cancel does before the click, and what it did after, from the proxy', async () => {
    for (const returned of [true, false]) {
      let canceled = false;
      const t = runnerWith((url, init) => {
        if (url.endsWith('/v1/generations')) return json(job(), 202);
        if (init?.method === 'DELETE') {
          canceled = true;
          return json(job('canceled'));
        }
        if (url.endsWith('/events')) {
          if (!canceled) {
            // Open until the cancel, like a running job's stream.
            return new Response(
              new ReadableStream({
                start(controller) {
                  const status = returned ? 'queued' : 'running';
                  controller.enqueue(
                    new TextEncoder().encode(`event: status\ndata: ${JSON.stringify({ id: JOB_ID, status })}\n\n`),
                  );
                  const timer = setInterval(() => {
                    if (canceled) {
                      clearInterval(timer);
                      controller.close();
                    }
                  }, 2);
                },
              }),
              { headers: { 'content-type': 'text/event-stream' } },
            );
          }
          return sse(['canceled', { id: JOB_ID, credits_returned: returned }]);
        }
        return json({}, 404);
      });
      await t.start();
      await until(() => t.card().phase === (returned ? 'queued' : 'running'));
      expect(cancelLabel(t.card())).toBe(
        returned ? 'Cancel — 12 credits returned' : 'Cancel — the image service has started: 12 credits charged',
      );
      // A proxy that refunds started calls (capabilities' cancel_refund: started) returns them either way.
      expect(cancelLabel(t.card(), true)).toBe('Cancel — 12 credits returned');
      await t.runner.cancel(t.card().key);
      await until(() => t.card().phase === 'canceled');
      expect(statusText(t.card())).toBe(
        returned ? 'Canceled — 12 credits returned.' : 'Canceled — the image service had started: 12 credits charged.',
      );
      t.runner.dispose();
    }
  });

  it('an interrupted job says once that the proxy restarted and the credits came back', async () => {
    const t = runnerWith((url) => {
      if (url.endsWith('/v1/generations')) return json(job(), 202);
      if (url.endsWith('/events')) {
        return sse(
          ['status', { id: JOB_ID, status: 'interrupted' }],
          ['failed', { id: JOB_ID, error: { code: 'interrupted', message: 'The proxy stopped while this job ran.' } }],
        );
      }
      return json({}, 404);
    });
    await t.start();
    await until(() => t.card().phase === 'interrupted');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(t.card().error).toBeUndefined();
    expect(statusText(t.card())).toBe(ERROR_ADVICE.interrupted);
    expect(t.phases()).not.toContain('failed');
  });

  it('turns a job failed only on an answer from the proxy, and its sentence quotes the URL that job used', async () => {
    const t = runnerWith((url) => {
      if (url.endsWith('/v1/generations')) return json(job(), 202);
      if (url.endsWith('/events')) return json({ error: { code: 'not_found', message: 'No such job.' } }, 404);
      return json({}, 404);
    });
    await t.start();
    await until(() => t.card().phase === 'failed');
    expect(t.card().proxyUrl).toBe(PROXY);
    expect(t.card().error?.code).toBe('not_found');
  });

  it('keeps a job the proxy never accepted as "not sent", and Retry resends it under the same key', async () => {
    let up = false;
    const t = runnerWith((url) => {
      if (url.endsWith('/v1/generations')) return up ? json(job(), 202) : unreachable();
      if (url.endsWith('/events')) return sse(['canceled', { id: JOB_ID, credits_returned: true }]);
      return json({}, 404);
    });
    await t.start();
    expect(t.card().phase).toBe('unsent');
    expect(statusText(t.card())).toBe('Not sent: Retry can never charge twice.');
    expect(errorSentence(t.card().error ?? { code: 'internal', message: '' }, t.card().proxyUrl)).toContain(
      `Cannot reach the Framefill proxy at ${PROXY}`,
    );
    up = true;
    await t.runner.retry(t.card().key);
    await until(() => t.card().phase === 'canceled');
    expect(t.card().jobId).toBe(JOB_ID);
    expect(t.keys.length).toBeGreaterThan(1);
    expect(new Set(t.keys).size).toBe(1);
  });
});

describe('variations in the job runner', () => {
  const images = [0, 1, 2].map((index) => ({
    index,
    width: 16,
    height: 9,
    mime: 'image/png',
    bytes: 10,
    url: `/v1/generations/${JOB_ID}/image?index=${index}`,
    thumbnail_url: `/v1/generations/${JOB_ID}/thumbnail?index=${index}`,
  }));

  it('places the first, fetches the others into the strip, and swaps one in through SWAP_IMAGE', async () => {
    const bytes = await Promise.all([1, 2, 3].map(async (seed) => new Uint8Array(await png(16, 9, seed))));
    const asked: string[] = [];
    const r = runnerWith((url, init) => {
      if (init?.method === 'POST') return json({ ...job(), n: 3 }, 202);
      if (url.endsWith('/events')) {
        const done = { id: JOB_ID, width: 16, height: 9, mime: 'image/png', bytes: 10, url: images[0]!.url, images };
        return sse(['completed', done]);
      }
      const index = Number(new URL(url).searchParams.get('index') ?? 0);
      asked.push(`image ${index}`);
      return new Response(bytes[index], { headers: { 'content-type': 'image/png' } });
    });
    await r.start();
    await until(() => r.sent.some((m) => m.name === 'PLACE_IMAGE'));
    const place = r.sent.find((m) => m.name === 'PLACE_IMAGE')?.payload as { requestId: string; bytes: Uint8Array };
    expect(Array.from(place.bytes)).toEqual(Array.from(bytes[0]!));
    r.runner.onImagePlaced({ requestId: place.requestId, nodeId: '1:1', createdFrame: false });
    await until(() => (r.card().variations?.length ?? 0) === 3);
    expect(asked).toEqual(['image 0', 'image 1', 'image 2']);
    expect(r.card()).toMatchObject({ variationCount: 3, shown: 0, phase: 'placed', placedNodeId: '1:1' });
    expect(r.card().variations?.map((v) => v.fileName)).toEqual([
      'a-hero-16x9.png',
      'a-hero-16x9-v2.png',
      'a-hero-16x9-v3.png',
    ]);

    r.runner.swap(r.card().key, 1);
    const swap = r.sent.find((m) => m.name === 'SWAP_IMAGE')?.payload as {
      requestId: string;
      nodeId: string;
      bytes: Uint8Array;
      provenance: { variation?: number; jobId: string };
    };
    expect(swap).toMatchObject({ nodeId: '1:1', provenance: { variation: 1, jobId: JOB_ID } });
    expect(Array.from(swap.bytes)).toEqual(Array.from(bytes[1]!));
    expect(r.card().swapping).toBe(1);
    r.runner.onImagePlaced({ requestId: swap.requestId, nodeId: '1:1', createdFrame: false });
    expect(r.card()).toMatchObject({ shown: 1, swapping: undefined });

    // A swap Figma refuses leaves the layer's variation as it was and says why.
    r.runner.swap(r.card().key, 2);
    const refused = r.sent.filter((m) => m.name === 'SWAP_IMAGE').at(-1)?.payload as { requestId: string };
    r.runner.onPlaceFailed({ requestId: refused.requestId, code: 'target_locked', message: '“Hero” is locked.' });
    expect(r.card()).toMatchObject({ shown: 1, swapping: undefined, error: { message: '“Hero” is locked.' } });

    // The designer's undo brings the first back on the canvas: the strip follows, and the second can be swapped in
    // again. Another layer, or another job on this one, changes nothing.
    r.runner.onLayerVariation({ nodeId: '9:9', jobId: JOB_ID, variation: 2 });
    r.runner.onLayerVariation({ nodeId: '1:1', jobId: 'another-job', variation: 2 });
    expect(r.card().shown).toBe(1);
    r.runner.onLayerVariation({ nodeId: '1:1', jobId: JOB_ID, variation: 0 });
    expect(r.card().shown).toBe(0);
    const swaps = r.sent.filter((m) => m.name === 'SWAP_IMAGE').length;
    r.runner.swap(r.card().key, 1);
    expect(r.sent.filter((m) => m.name === 'SWAP_IMAGE')).toHaveLength(swaps + 1);
  });

  it('fewer variations than asked: the card shows what was charged, and the placed layer records it', async () => {
    const bytes = new Uint8Array(await png(16, 9));
    // Three asked at 4 credits each (12 reserved); the image service returned two: 8 charged, 4 returned.
    const r = runnerWith((url, init) => {
      if (init?.method === 'POST') return json({ ...job(), n: 3, cost_credits: 12 }, 202);
      if (url.endsWith('/events')) {
        const two = images.slice(0, 2);
        return sse([
          'completed',
          { id: JOB_ID, width: 16, height: 9, mime: 'image/png', bytes: 10, url: two[0]!.url, images: two },
        ]);
      }
      return new Response(bytes, { headers: { 'content-type': 'image/png' } });
    });
    await r.start();
    expect(r.card().costCredits).toBe(12);
    await until(() => r.sent.some((m) => m.name === 'PLACE_IMAGE'));
    expect(r.card()).toMatchObject({ costCredits: 8, shortfall: { asked: 3, produced: 2, returnedCredits: 4 } });
    expect(shortfallText(r.card())).toBe('2 of 3 variations came back; 1 × 4 credits returned, 8 credits charged.');
    const place = r.sent.find((m) => m.name === 'PLACE_IMAGE')?.payload as { provenance: { costCredits: number } };
    expect(place.provenance.costCredits).toBe(8);
    r.runner.dispose();
  });

  it('every variation back: the card keeps the reserved cost and says nothing more', async () => {
    const bytes = new Uint8Array(await png(16, 9));
    const r = runnerWith((url, init) => {
      if (init?.method === 'POST') return json({ ...job(), n: 3, cost_credits: 12 }, 202);
      if (url.endsWith('/events')) {
        return sse([
          'completed',
          { id: JOB_ID, width: 16, height: 9, mime: 'image/png', bytes: 10, url: images[0]!.url, images },
        ]);
      }
      return new Response(bytes, { headers: { 'content-type': 'image/png' } });
    });
    await r.start();
    await until(() => r.sent.some((m) => m.name === 'PLACE_IMAGE'));
    expect(r.card().costCredits).toBe(12);
    expect(shortfallText(r.card())).toBeUndefined();
    r.runner.dispose();
  });

  it('a resumed job that got fewer variations asks the proxy how many were asked, and says what was charged', async () => {
    const bytes = new Uint8Array(await png(16, 9));
    const sent: { name: PanelToMainName; payload: unknown }[] = [];
    let cards: JobCard[] = [];
    const fetch = (async (input: RequestInfo | URL) => {
      const url = String(input);
      if (url.endsWith('/events')) {
        const one = images.slice(0, 1);
        return sse([
          'completed',
          { id: JOB_ID, width: 16, height: 9, mime: 'image/png', bytes: 10, url: one[0]!.url, images: one },
        ]);
      }
      if (url.endsWith(`/v1/generations/${JOB_ID}`)) return json({ ...job('completed'), n: 3, cost_credits: 4 });
      return new Response(bytes, { headers: { 'content-type': 'image/png' } });
    }) as typeof globalThis.fetch;
    const runner = new JobRunner({
      send: (name, payload) => sent.push({ name, payload }),
      clientFor: (proxyUrl) => new ProxyClient({ baseUrl: proxyUrl, fetch, backoffMs: [1] }),
      onChange: (next) => {
        cards = next;
      },
      onSettled: () => undefined,
    });
    runner.resume([
      {
        jobId: JOB_ID,
        proxyUrl: PROXY,
        targetId: '1:1',
        targetName: 'Hero',
        provenance: {
          prompt: 'a hero',
          aspectRatio: '16:9',
          resolution: '4K',
          model: 'draft',
          jobId: JOB_ID,
          referenceIds: [],
          costCredits: 12,
          createdAt: new Date().toISOString(),
        },
      },
    ]);
    await until(() => sent.some((m) => m.name === 'PLACE_IMAGE'));
    expect(shortfallText(cards[0]!)).toBe('1 of 3 variations came back; 2 × 4 credits returned, 4 credits charged.');
    runner.dispose();
  });

  it('a variation whose image cannot be fetched is marked so, not left "downloading"', async () => {
    const bytes = new Uint8Array(await png(16, 9));
    const r = runnerWith((url, init) => {
      if (init?.method === 'POST') return json({ ...job(), n: 3 }, 202);
      if (url.endsWith('/events')) {
        const done = { id: JOB_ID, width: 16, height: 9, mime: 'image/png', bytes: 10, url: images[0]!.url, images };
        return sse(['completed', done]);
      }
      if (url.endsWith('index=1')) return json({ error: { code: 'internal', message: 'disk error' } }, 500);
      return new Response(bytes, { headers: { 'content-type': 'image/png' } });
    });
    await r.start();
    await until(() => (r.card().variations?.length ?? 0) === 2 && (r.card().missingVariations?.length ?? 0) === 1);
    expect(r.card().missingVariations).toEqual([1]);
    expect(r.card().variations?.map((v) => v.index)).toEqual([0, 2]);
    r.runner.dispose();
  });
});
