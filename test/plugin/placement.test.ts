// Where a replacement frame goes when the target was deleted while its job ran: its old parent only when
// Figma allows it and the designer can see it, its old place in an auto-layout flow, its rotation.
import { describe, expect, it } from 'vitest';
import type { MainToPanelPayload, Provenance } from '../../core/messages';
import { encodeSolidPng, type FakeNode } from '../../stand-in/figma';
import { loadPlugin, type Plugin } from './harness';

const provenance: Provenance = {
  prompt: 'Paper lanterns over a night market',
  aspectRatio: '16:9',
  resolution: '1K',
  model: 'gpt-image-2',
  jobId: '9e1f3c55-7a2b-4c1d-8e6f-0a1b2c3d4e5f',
  referenceIds: [],
  costCredits: 6,
  createdAt: '2026-03-05T20:00:00.000Z',
};

/** The target is seen by the plugin (selected), deleted, then its image arrives. */
async function placeAfterDelete(p: Plugin, target: FakeNode): Promise<MainToPanelPayload<'IMAGE_PLACED'>> {
  await p.selectAndWait([target]);
  const targetId = target.id;
  target.remove();
  const bytes = await encodeSolidPng(1280, 720, { r: 0.1, g: 0.2, b: 0.7, a: 1 });
  return p.request(
    'PLACE_IMAGE',
    { requestId: `place-${targetId}`, targetId, bytes, width: 1280, height: 720, provenance },
    'IMAGE_PLACED',
  );
}

describe('a deleted target gets a new frame', () => {
  it('in its old parent, at its position, when that parent is on the current page', async () => {
    let card!: FakeNode;
    let target!: FakeNode;
    const p = await loadPlugin({
      setup: (f) => {
        card = f.frame(1000, 800, { name: 'Card', x: 100, y: 100 });
        target = f.frame(640, 360, { name: 'Hero', parent: card, x: 40, y: 60 });
      },
    });
    const placed = await placeAfterDelete(p, target);
    const frame = (await p.figma.getNodeByIdAsync(placed.nodeId)) as FakeNode;
    expect(placed.createdFrame).toBe(true);
    expect(frame.parent).toBe(card);
    expect([frame.name, frame.x, frame.y, frame.width, frame.height]).toEqual(['Hero', 40, 60, 640, 360]);
    expect(p.fake.page.selection).toEqual([frame]);
  });

  it('whose old parent is on another page: on the current page beside the selection, selected there', async () => {
    let board!: FakeNode;
    let target!: FakeNode;
    const p = await loadPlugin({
      pages: 2,
      setup: (f) => {
        board = f.frame(2000, 2000, { name: 'Board', parent: f.pages[1] });
        target = f.frame(640, 360, { name: 'Hero', parent: board });
      },
    });
    const anchor = p.fake.frame(300, 300, { name: 'Anchor', x: 500, y: 200 });
    // The plugin saw the target on page 2; the designer went back to page 1 and selected something there.
    p.fake.switchPage(p.fake.pages[1]!);
    await p.selectAndWait([target]);
    target.remove();
    p.fake.switchPage(p.fake.pages[0]!);
    await p.selectAndWait([anchor]);
    const bytes = await encodeSolidPng(1280, 720, { r: 0.1, g: 0.2, b: 0.7, a: 1 });
    const placed = await p.request(
      'PLACE_IMAGE',
      { requestId: 'other-page', targetId: target.id, bytes, width: 1280, height: 720, provenance },
      'IMAGE_PLACED',
    );
    const frame = (await p.figma.getNodeByIdAsync(placed.nodeId)) as FakeNode;
    expect(frame.page()).toBe(p.fake.pages[0]);
    expect(frame.parent).toBe(p.fake.pages[0]);
    expect(frame.x).toBeGreaterThan(800);
    expect(p.fake.pages[0]!.selection).toEqual([frame]);
    expect(board.children).toEqual([]);
    expect(p.fake.uncaughtErrors).toEqual([]);
  });

  it('whose old parent is an instance: on the current page, never inside the instance (Figma refuses it)', async () => {
    let instance!: FakeNode;
    const p = await loadPlugin({
      setup: (f) => {
        instance = f.instance(800, 600, [{ type: 'RECTANGLE', width: 400, height: 300, name: 'Photo', x: 20 }], {
          name: 'Card instance',
          x: 100,
        });
      },
    });
    const photo = instance.children[0]!;
    expect(photo.id).toBe(`I${instance.id};${photo.id.split(';')[1]}`);
    // The sub-layer goes when its main component drops it while the job runs.
    const placed = await placeAfterDelete(p, photo);
    const frame = (await p.figma.getNodeByIdAsync(placed.nodeId)) as FakeNode;
    expect(placed.createdFrame).toBe(true);
    expect(frame.parent).toBe(p.fake.page);
    expect(instance.children).toEqual([]);
    expect(p.fake.page.selection).toEqual([frame]);
  });

  it('in an auto-layout parent: at the target’s old index, since x and y are ignored there', async () => {
    let row!: FakeNode;
    let target!: FakeNode;
    const p = await loadPlugin({
      setup: (f) => {
        row = f.frame(2000, 400, { name: 'Row', layoutMode: 'HORIZONTAL', itemSpacing: 20 });
        f.frame(300, 300, { name: 'First', parent: row });
        target = f.frame(400, 300, { name: 'Hero', parent: row });
        f.frame(300, 300, { name: 'Last', parent: row });
      },
    });
    expect(target.x).toBe(320);
    const placed = await placeAfterDelete(p, target);
    expect(row.children.map((c) => c.name)).toEqual(['First', 'Hero', 'Last']);
    expect(row.children[1]?.id).toBe(placed.nodeId);
    expect(row.children[1]?.x).toBe(320);
  });

  it('keeps the target’s rotation and position', async () => {
    let target!: FakeNode;
    const p = await loadPlugin({
      setup: (f) => {
        target = f.frame(640, 360, { name: 'Tilted', x: 200, y: 900, rotation: 30 });
      },
    });
    const placed = await placeAfterDelete(p, target);
    const frame = (await p.figma.getNodeByIdAsync(placed.nodeId)) as FakeNode;
    expect([frame.rotation, frame.x, frame.y, frame.width, frame.height]).toEqual([30, 200, 900, 640, 360]);
  });
});
