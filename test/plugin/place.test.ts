// Placing a generated image: into the target's fills, or a new frame; failures keep the image and say why.
import { describe, expect, it } from 'vitest';
import type { MainToPanelPayload, Provenance } from '../../core/messages';
import { encodeSolidPng, type FakeNode } from '../../stand-in/figma';
import { webp } from '../helpers/images';
import { loadPlugin } from './harness';

type Placed = MainToPanelPayload<'IMAGE_PLACED'>;
type Failed = MainToPanelPayload<'PLACE_FAILED'>;

const provenance = (over: Partial<Provenance> = {}): Provenance => ({
  prompt: 'A misty harbour at dawn, fishing boats, soft light',
  aspectRatio: '16:9',
  resolution: '2K',
  model: 'gpt-image-2',
  jobId: '0b7f6a52-2a6c-4c8e-9d4e-3f1a2b3c4d5e',
  referenceIds: ['1:5'],
  costCredits: 8,
  createdAt: '2026-03-01T10:00:00.000Z',
  ...over,
});

const png = (w: number, h: number) => encodeSolidPng(w, h, { r: 0.2, g: 0.4, b: 0.6, a: 1 });

async function placeRequest(
  targetId: string | null,
  bytes: Uint8Array<ArrayBuffer>,
  w: number,
  h: number,
  over?: Partial<Provenance>,
) {
  return { requestId: `place-${Math.random()}`, targetId, bytes, width: w, height: h, provenance: provenance(over) };
}

function placedOrFailed(p: Awaited<ReturnType<typeof loadPlugin>>, requestId: string, from: number) {
  return Promise.race([
    p.fake.waitForMessage<Placed>('IMAGE_PLACED', from).then((m) => ({ placed: m, failed: undefined })),
    p.fake.waitForMessage<Failed>('PLACE_FAILED', from).then((m) => ({ placed: undefined, failed: m })),
  ]).then((r) => {
    expect((r.placed ?? r.failed)?.requestId).toBe(requestId);
    return r;
  });
}

async function place(p: Awaited<ReturnType<typeof loadPlugin>>, request: Awaited<ReturnType<typeof placeRequest>>) {
  const from = p.fake.uiMessages.length;
  p.send('PLACE_IMAGE', request);
  return placedOrFailed(p, request.requestId, from);
}

/** A 1280×720 frame "Hero", selected, with a 2560×1440 image placed in it. */
async function placedInHero() {
  let target!: FakeNode;
  const p = await loadPlugin({
    setup: (f) => {
      target = f.frame(1280, 720, { name: 'Hero' });
      f.select([target]);
    },
  });
  await place(p, await placeRequest(target.id, await png(2560, 1440), 2560, 1440));
  return { p, target };
}

describe('placing an image', () => {
  it('a 2560×1440 PNG into a selected frame: one IMAGE fill with FILL, provenance, Regenerate, one undo step', async () => {
    let target!: FakeNode;
    const p = await loadPlugin({
      setup: (f) => {
        target = f.frame(1280, 720, { name: 'Hero' });
        f.select([target]);
      },
    });
    const request = await placeRequest(target.id, await png(2560, 1440), 2560, 1440);
    const { placed } = await place(p, request);
    expect(placed).toEqual({ requestId: request.requestId, nodeId: target.id, createdFrame: false });
    expect(target.fills).toHaveLength(1);
    expect(target.fills[0]).toMatchObject({ type: 'IMAGE', scaleMode: 'FILL' });
    const hash = (target.fills[0] as { imageHash: string }).imageHash;
    expect(await p.figma.getImageByHash(hash)?.getSizeAsync()).toEqual({ width: 2560, height: 1440 });
    expect(JSON.parse(target.getPluginData('framefill'))).toMatchObject(provenance());
    expect(target.getRelaunchData()).toEqual({ regenerate: expect.stringContaining('A misty harbour') });
    expect(p.fake.undoCommits).toBe(1);
    const note = p.fake.notifications.at(-1);
    expect(note?.message).toMatch(/Placed/);
    expect(Array.from(note?.message ?? '').length).toBeLessThanOrEqual(100);
    // Nothing new was created on the page.
    expect(p.fake.page.children).toHaveLength(1);
  });

  it('SWAP_IMAGE puts another variation into the placed node as one undo step; undo brings the first back', async () => {
    const { p, target } = await placedInHero();
    const first = (target.fills[0] as { imageHash: string }).imageHash;
    const second = await encodeSolidPng(2560, 1440, { r: 0.9, g: 0.1, b: 0.1, a: 1 });
    const from = p.fake.uiMessages.length;
    const requestId = 'swap-1';
    p.send('SWAP_IMAGE', {
      requestId,
      nodeId: target.id,
      bytes: second,
      width: 2560,
      height: 1440,
      provenance: provenance({ variation: 1 }),
    });
    const { placed } = await placedOrFailed(p, requestId, from);
    expect(placed).toEqual({ requestId, nodeId: target.id, createdFrame: false });
    const swapped = (target.fills[0] as { imageHash: string }).imageHash;
    expect(swapped).not.toBe(first);
    expect(target.fills[0]).toMatchObject({ type: 'IMAGE', scaleMode: 'FILL' });
    expect(JSON.parse(target.getPluginData('framefill'))).toMatchObject({ variation: 1 });
    expect(p.fake.undoCommits).toBe(2);
    p.figma.triggerUndo();
    expect((target.fills[0] as { imageHash: string }).imageHash).toBe(first);
    expect(JSON.parse(target.getPluginData('framefill')).variation).toBeUndefined();
  });

  it('tells the panel which variation a layer shows after a swap, and again after the designer undoes it', async () => {
    const { p, target } = await placedInHero();
    const jobId = JSON.parse(target.getPluginData('framefill')).jobId as string;
    await p.fake.settle();
    expect(p.fake.messages('LAYER_VARIATION')).toEqual([{ nodeId: target.id, jobId, variation: 0 }]);
    const afterPlace = p.fake.uiMessages.length;
    const bytes = await encodeSolidPng(2560, 1440, { r: 0.9, g: 0.1, b: 0.1, a: 1 });
    const swap = { nodeId: target.id, bytes, width: 2560, height: 1440 };
    p.send('SWAP_IMAGE', { ...swap, requestId: 'swap-a', provenance: provenance({ variation: 2 }) });
    expect(await p.fake.waitForMessage('LAYER_VARIATION', afterPlace)).toEqual({
      nodeId: target.id,
      jobId,
      variation: 2,
    });
    const afterSwap = p.fake.uiMessages.length;
    p.figma.triggerUndo();
    // Back to the placed image: it carries no variation, so it is the first.
    expect(await p.fake.waitForMessage('LAYER_VARIATION', afterSwap)).toEqual({
      nodeId: target.id,
      jobId,
      variation: 0,
    });
    // A change to a layer without provenance, or to anything but plugin data, says nothing.
    const beforeRename = p.fake.uiMessages.length;
    target.name = 'Hero, renamed';
    p.fake.frame(10, 10).setPluginData('other', 'x');
    await p.fake.settle();
    expect(p.fake.uiMessages.length).toBe(beforeRename);
  });

  it('follows the page the designer is on: a layer changed on the page they left is not told', async () => {
    let second!: FakeNode;
    let hero!: FakeNode;
    const p = await loadPlugin({
      pages: 2,
      setup: (f) => {
        hero = f.frame(1280, 720, { name: 'Hero' });
        second = f.pages[1]!;
        f.select([hero]);
      },
    });
    await place(p, await placeRequest(hero.id, await png(2560, 1440), 2560, 1440));
    await p.fake.settle();
    const told = p.fake.messages('LAYER_VARIATION').length;
    const onSecond = p.fake.frame(100, 100, { parent: second });
    onSecond.setPluginData('framefill', hero.getPluginData('framefill'));
    await p.fake.settle();
    expect(p.fake.messages('LAYER_VARIATION')).toHaveLength(told);
    p.fake.switchPage(second);
    await p.fake.settle();
    hero.setPluginData('framefill', hero.getPluginData('framefill'));
    onSecond.setPluginData(
      'framefill',
      JSON.stringify({ ...JSON.parse(hero.getPluginData('framefill')), variation: 3 }),
    );
    await p.fake.settle();
    expect(p.fake.messages('LAYER_VARIATION').slice(told)).toEqual([
      expect.objectContaining({ nodeId: onSecond.id, variation: 3 }),
    ]);
  });

  it('SWAP_IMAGE into a node that is gone fails and keeps the image in the panel', async () => {
    const p = await loadPlugin();
    const from = p.fake.uiMessages.length;
    p.send('SWAP_IMAGE', {
      requestId: 'swap-2',
      nodeId: '99:99',
      bytes: await png(64, 64),
      width: 64,
      height: 64,
      provenance: provenance({ variation: 2 }),
    });
    const { failed } = await placedOrFailed(p, 'swap-2', from);
    expect(failed).toMatchObject({ code: 'place_failed', message: expect.stringMatching(/gone.*kept in the panel/) });
  });

  it('nothing selected: a new frame of the image ratio (pixels ÷ density), named from the prompt, selected and in view', async () => {
    const p = await loadPlugin();
    p.figma.viewport.center = { x: 5000, y: 3000 };
    const { placed } = await place(p, await placeRequest(null, await png(1536, 2048), 1536, 2048));
    expect(placed?.createdFrame).toBe(true);
    const frame = (await p.figma.getNodeByIdAsync(placed!.nodeId)) as FakeNode;
    expect([frame.width, frame.height]).toEqual([768, 1024]);
    expect(frame.name).toBe('A misty harbour at dawn, fishing boats,…');
    expect(frame.absoluteBoundingBox).toMatchObject({ x: 5000 - 384, y: 3000 - 512 });
    expect(p.figma.currentPage.selection.map((n) => n.id)).toEqual([frame.id]);
    expect(p.figma.viewport.scrolledTo.at(-1)).toEqual([frame.id]);
    expect(frame.fills[0]).toMatchObject({ type: 'IMAGE', scaleMode: 'FILL' });
    expect(p.fake.undoCommits).toBe(1);
  });

  it('nothing selected over a row of frames: the new frame keeps a gap from every neighbour', async () => {
    const p = await loadPlugin({
      setup: (f) => {
        f.frame(400, 600, { name: 'Left', x: 0, y: 0 });
        f.frame(400, 600, { name: 'Middle', x: 420, y: 0 });
        f.frame(400, 600, { name: 'Right', x: 840, y: 0 });
      },
    });
    p.figma.viewport.center = { x: 620, y: 300 };
    const { placed } = await place(p, await placeRequest(null, await png(1024, 1024), 1024, 1024));
    const frame = (await p.figma.getNodeByIdAsync(placed!.nodeId)) as FakeNode;
    const box = frame.absoluteBoundingBox;
    for (const other of p.fake.page.children.filter((n) => n !== frame)) {
      const b = other.absoluteBoundingBox;
      const apart =
        box.x >= b.x + b.width + 40 ||
        b.x >= box.x + box.width + 40 ||
        box.y >= b.y + b.height + 40 ||
        b.y >= box.y + box.height + 40;
      expect(apart, `${other.name} at ${JSON.stringify(b)} vs ${JSON.stringify(box)}`).toBe(true);
    }
    expect(box.x).toBe(840 + 400 + 40);
  });

  it('with an unusable selection, the new frame goes beside it', async () => {
    let text!: FakeNode;
    const p = await loadPlugin({
      setup: (f) => {
        text = f.node('TEXT', 300, 50, { x: 100, y: 200 });
        f.select([text]);
      },
    });
    const { placed } = await place(p, await placeRequest(null, await png(1024, 1024), 1024, 1024));
    const frame = (await p.figma.getNodeByIdAsync(placed!.nodeId)) as FakeNode;
    expect(frame.absoluteBoundingBox).toEqual({ x: 440, y: 200, width: 512, height: 512 });
  });

  it('a target deleted while its job ran gets a new frame where it was', async () => {
    let parent!: FakeNode;
    let target!: FakeNode;
    const p = await loadPlugin({
      setup: (f) => {
        parent = f.frame(2000, 2000, { name: 'Page layout', x: 1000 });
        target = f.frame(600, 400, { name: 'Card image', parent, x: 50, y: 80 });
        f.select([target]);
      },
    });
    target.remove();
    const { placed } = await place(p, await placeRequest(target.id, await png(1280, 720), 1280, 720));
    expect(placed?.createdFrame).toBe(true);
    const frame = (await p.figma.getNodeByIdAsync(placed!.nodeId)) as FakeNode;
    expect(frame.parent?.id).toBe(parent.id);
    expect([frame.name, frame.x, frame.y, frame.width, frame.height]).toEqual(['Card image', 50, 80, 600, 400]);
    expect(frame.fills[0]).toMatchObject({ type: 'IMAGE', scaleMode: 'FILL' });
  });

  it('a 5000-px image answers PLACE_FAILED image_too_large, keeps the canvas as it was, and a retry still works', async () => {
    let target!: FakeNode;
    const p = await loadPlugin({
      setup: (f) => {
        target = f.frame(500, 500);
        f.select([target]);
      },
    });
    const fillsBefore = target.fills;
    const request = await placeRequest(target.id, await png(5000, 200), 5000, 200);
    const { failed } = await place(p, request);
    expect(failed).toEqual({
      requestId: request.requestId,
      code: 'image_too_large',
      message: expect.stringMatching(/4096/),
    });
    expect(failed?.message).toMatch(/kept/);
    expect(target.fills).toBe(fillsBefore);
    expect(p.fake.undoCommits).toBe(0);
    expect(p.fake.imageCount()).toBe(0);
    // The panel still has the bytes; a smaller image placed right after goes through.
    const { placed } = await place(p, await placeRequest(target.id, await png(2048, 2048), 2048, 2048));
    expect(placed?.nodeId).toBe(target.id);
    expect(p.fake.uncaughtErrors).toEqual([]);
  });

  it('corrupt bytes answer invalid_image', async () => {
    const p = await loadPlugin();
    const garbage = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    const { failed } = await place(p, await placeRequest(null, garbage, 10, 10));
    expect(failed?.code).toBe('invalid_image');
    expect(p.fake.page.children).toHaveLength(0);
  });

  it('WebP bytes answer invalid_image before createImage, which refuses them', async () => {
    const p = await loadPlugin();
    const { failed } = await place(p, await placeRequest(null, new Uint8Array(await webp(64, 48)), 64, 48));
    expect(failed?.code).toBe('invalid_image');
    expect(failed?.message).toContain('could not be read as PNG, JPEG or GIF');
    expect(p.fake.imageCount()).toBe(0);
    expect(p.fake.uncaughtErrors).toEqual([]);
  });

  it('a locked target (or one inside a locked frame) answers target_locked and is left alone', async () => {
    let inner!: FakeNode;
    const p = await loadPlugin({
      setup: (f) => {
        const outer = f.frame(1000, 1000, { locked: true });
        inner = f.frame(400, 300, { parent: outer });
      },
    });
    const { failed } = await place(p, await placeRequest(inner.id, await png(1280, 720), 1280, 720));
    expect(failed?.code).toBe('target_locked');
    expect(failed?.message).toMatch(/Unlock/);
    expect(inner.fills[0]?.type).toBe('SOLID');
  });

  it('the worst-case provenance, 20,000 four-byte characters, is stored whole within 100 kB', async () => {
    let target!: FakeNode;
    const p = await loadPlugin({ setup: (f) => (target = f.frame(400, 400)) });
    const prompt = '😀'.repeat(20_000);
    const referenceIds = Array.from({ length: 16 }, (_, i) => `${'9'.repeat(190)}:${i}`);
    const { placed } = await place(
      p,
      await placeRequest(target.id, await png(1024, 1024), 1024, 1024, {
        prompt,
        referenceIds,
        model: 'm'.repeat(200),
      }),
    );
    expect(placed).toBeDefined();
    const stored = target.getPluginData('framefill');
    expect(new TextEncoder().encode(stored).length).toBeLessThanOrEqual(100_000);
    expect(JSON.parse(stored).prompt).toBe(prompt);
  });

  it('a prompt that JSON escaping inflates past 100 kB is cut, marked, and the image still placed', async () => {
    let target!: FakeNode;
    const p = await loadPlugin({ setup: (f) => (target = f.frame(400, 400)) });
    const prompt = `start ${'\u0001'.repeat(19_990)}`;
    const { placed } = await place(p, await placeRequest(target.id, await png(64, 64), 64, 64, { prompt }));
    expect(placed).toBeDefined();
    const stored = JSON.parse(target.getPluginData('framefill'));
    expect(stored.promptTruncated).toBe(true);
    expect(stored.prompt.startsWith('start ')).toBe(true);
    expect(new TextEncoder().encode(target.getPluginData('framefill')).length).toBeLessThanOrEqual(100_000);
  });
});

describe('placing a job exactly once', () => {
  it('a PLACE_IMAGE repeated for the same job, even after the plugin restarts, places one frame', async () => {
    const first = await loadPlugin();
    const request = await placeRequest(null, await png(1024, 1024), 1024, 1024, {
      aspectRatio: '1:1',
      resolution: '1K',
    });
    const { placed } = await place(first, request);
    expect(placed?.createdFrame).toBe(true);
    expect(first.fake.page.children).toHaveLength(1);

    // Same plugin: the panel resent the job it had not heard back about.
    const again = await place(first, { ...request, requestId: 'resent' });
    expect(again.placed).toEqual({ requestId: 'resent', nodeId: placed?.nodeId, createdFrame: false });
    expect(first.fake.page.children).toHaveLength(1);
    expect(first.fake.undoCommits).toBe(1);

    // The record survives in this file's storage: the plugin reopened in the same file answers from it too.
    const reopened = await loadPlugin({ file: first.fake });
    const resent = await place(reopened, { ...request, requestId: 'after-reopen' });
    expect(resent.placed).toEqual({ requestId: 'after-reopen', nodeId: placed?.nodeId, createdFrame: false });
    expect(first.fake.page.children).toHaveLength(1);
    const other = await placeRequest(null, await png(1024, 1024), 1024, 1024, { jobId: 'another-job' });
    expect((await place(reopened, other)).placed?.createdFrame).toBe(true);
  });

  it('a job whose frame was deleted since is placed again', async () => {
    const p = await loadPlugin();
    const request = await placeRequest(null, await png(1024, 1024), 1024, 1024);
    const { placed } = await place(p, request);
    (await p.figma.getNodeByIdAsync(placed!.nodeId))?.remove();
    const again = await place(p, { ...request, requestId: 'after-delete' });
    expect(again.placed?.createdFrame).toBe(true);
    expect(again.placed?.nodeId).not.toBe(placed?.nodeId);
  });
});
