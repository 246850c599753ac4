// @vitest-environment happy-dom
// When Figma refuses to put an image into a layer (locked, gone, too large), the job card says main's sentence —
// what happened and what to do — and nothing about the proxy, which did its part.
import { describe, expect, it } from 'vitest';
import type { PanelToMainName } from '../../core/messages';
import { statusText } from '../../ui/components/JobStrip';
import { errorSentence } from '../../ui/errors';
import { type JobCard, JobRunner } from '../../ui/jobs';
import { ProxyClient } from '../../ui/proxy-client';
import { png } from '../helpers/images';

const JOB_ID = '4f2b8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a7b';
const PROXY = 'http://localhost:8787';
const LOCKED =
  '“Hero” is locked. The image is kept in the panel. Unlock the layer and place it again, or place it in a new frame.';

const json = (value: unknown, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  expect(check()).toBe(true);
}

async function placedJob(count: number) {
  const bytes = await Promise.all(
    Array.from({ length: count }, async (_, seed) => new Uint8Array(await png(16, 9, seed + 1))),
  );
  const images = bytes.map((_, index) => ({
    index,
    width: 16,
    height: 9,
    mime: 'image/png',
    bytes: 10,
    url: `/v1/generations/${JOB_ID}/image?index=${index}`,
    thumbnail_url: `/v1/generations/${JOB_ID}/thumbnail?index=${index}`,
  }));
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    if (init?.method === 'POST') {
      return json(
        {
          id: JOB_ID,
          status: 'queued',
          prompt_chars: 6,
          aspect_ratio: '16:9',
          resolution: '1K',
          width: 1280,
          height: 720,
          quality: 'medium',
          output_format: 'png',
          references: 0,
          cost_credits: 6 * count,
          created_at: new Date().toISOString(),
          model: 'draft',
          n: count,
        },
        202,
      );
    }
    if (url.endsWith('/events')) {
      const done = { id: JOB_ID, width: 16, height: 9, mime: 'image/png', bytes: 10, url: images[0]?.url, images };
      return new Response(`event: completed\ndata: ${JSON.stringify(done)}\n\n`, {
        headers: { 'content-type': 'text/event-stream' },
      });
    }
    const index = Number(new URL(url).searchParams.get('index') ?? 0);
    return new Response(bytes[index], { headers: { 'content-type': 'image/png' } });
  }) as typeof globalThis.fetch;
  const sent: { name: PanelToMainName; payload: unknown }[] = [];
  const runner = new JobRunner({
    send: (name, payload) => sent.push({ name, payload }),
    clientFor: (proxyUrl) => new ProxyClient({ baseUrl: proxyUrl, fetch }),
    onChange: () => undefined,
    onSettled: () => undefined,
  });
  await runner.start({
    proxyUrl: PROXY,
    targetId: '1:1',
    targetName: 'Hero',
    referenceIds: [],
    plannedCost: 6 * count,
    request: {
      prompt: 'a hero',
      aspectRatio: '16:9',
      resolution: '1K',
      quality: 'medium',
      outputFormat: 'png',
      references: [],
      n: count,
    },
  });
  await until(() => sent.some((m) => m.name === 'PLACE_IMAGE'));
  const card = () => runner.cards()[0] as JobCard;
  const last = (name: PanelToMainName) => sent.filter((m) => m.name === name).at(-1)?.payload as { requestId: string };
  return { runner, card, last };
}

describe('a placement Figma refuses', () => {
  it('says main’s sentence alone, not the proxy’s “unexpected error” advice', async () => {
    const { runner, card, last } = await placedJob(1);
    runner.onPlaceFailed({ requestId: last('PLACE_IMAGE').requestId, code: 'target_locked', message: LOCKED });
    expect(card().phase).toBe('place_failed');
    expect(errorSentence(card().error!, PROXY)).toBe(LOCKED);
  });

  it('a refused swap says main’s sentence alone too', async () => {
    const { runner, card, last } = await placedJob(2);
    runner.onImagePlaced({ requestId: last('PLACE_IMAGE').requestId, nodeId: '1:1', createdFrame: false });
    await until(() => (card().variations?.length ?? 0) === 2);
    runner.swap(card().key, 1);
    runner.onPlaceFailed({ requestId: last('SWAP_IMAGE').requestId, code: 'target_locked', message: LOCKED });
    expect(card().shown).toBe(0);
    expect(errorSentence(card().error!, PROXY)).toBe(LOCKED);
  });
});

describe('a variation whose layer is gone', () => {
  const GONE =
    'The layer that showed this job is gone. The image is kept in the panel. Place the variation in a new frame or download it.';

  it('is offered in a new frame, as main’s sentence says, and the strip then follows that frame', async () => {
    const { runner, card, last } = await placedJob(3);
    runner.onImagePlaced({ requestId: last('PLACE_IMAGE').requestId, nodeId: '1:1', createdFrame: false });
    await until(() => (card().variations?.length ?? 0) === 3);
    runner.swap(card().key, 2);
    runner.onPlaceFailed({ requestId: last('SWAP_IMAGE').requestId, code: 'place_failed', message: GONE });
    expect(card()).toMatchObject({ swapFailed: 2, swapping: undefined });

    const before = last('PLACE_IMAGE');
    runner.placeInNewFrame(card().key);
    const request = last('PLACE_IMAGE') as unknown as {
      requestId: string;
      targetId: string | null;
      bytes: Uint8Array;
      provenance: { variation?: number };
    };
    expect(request.requestId).not.toBe(before.requestId);
    expect(request).toMatchObject({ targetId: null, provenance: { variation: 2 } });
    expect(Array.from(request.bytes)).toEqual(Array.from(card().variations?.[2]?.bytes ?? []));
    runner.onImagePlaced({ requestId: request.requestId, nodeId: '5:5', createdFrame: true });
    expect(card()).toMatchObject({
      phase: 'placed',
      placedNodeId: '5:5',
      createdFrame: true,
      shown: 2,
      swapFailed: undefined,
      error: undefined,
    });
    // Said as what happened: undo there removes the new frame, it brings no other variation back.
    expect(statusText(card())).toBe('Placed variation 3 of 3 in a new frame.');
  });
});
