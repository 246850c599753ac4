// Frames become reference images: one message per export, in order, within the long-edge limit.
import { describe, expect, it } from 'vitest';
import { MainToPanel, type MainToPanelPayload, parseMessage } from '../../core/messages';
import { readImageHeader } from '../../stand-in/figma';
import { loadPlugin } from './harness';

type Exported = MainToPanelPayload<'REFERENCE_EXPORTED'>;

describe('exporting references', () => {
  it('16 frames of mixed sizes: one REFERENCE_EXPORTED each, in order, within maxEdge, then one closing message', async () => {
    const p = await loadPlugin();
    const sizes: Array<[number, number]> = [
      [1920, 1080],
      [1080, 1350],
      [300, 200],
      [4000, 1000],
      [1000, 4000],
      [512, 512],
      [2048, 2048],
      [2049, 10],
      [64, 900],
      [1440, 900],
      [375, 812],
      [3000, 3000],
      [1280, 720],
      [100, 100],
      [2500, 1600],
      [800, 2400],
    ];
    const frames = sizes.map(([w, h], i) =>
      p.fake.frame(w, h, { name: `Ref ${i}`, fill: { r: i / 16, g: 0.2, b: 0.8 } }),
    );
    const from = p.fake.uiMessages.length;
    const closed = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'r1', nodeIds: frames.map((f) => f.id), maxEdge: 1024 },
      'REFERENCES_EXPORTED',
    );
    const posted = p.fake.uiMessages.slice(from) as Array<[string, unknown]>;
    expect(posted.map(([name]) => name)).toEqual([...Array(16).fill('REFERENCE_EXPORTED'), 'REFERENCES_EXPORTED']);
    const images = posted.slice(0, 16).map(([, payload]) => payload as Exported);
    expect(images.map((m) => m.index)).toEqual([...Array(16).keys()]);
    expect(images.map((m) => m.image.nodeId)).toEqual(frames.map((f) => f.id));
    for (const [i, m] of images.entries()) {
      // Every message is valid on the panel's side, and the size it states is the PNG's own.
      expect(parseMessage(MainToPanel, ['REFERENCE_EXPORTED', m]).ok).toBe(true);
      const header = readImageHeader(m.image.bytes);
      expect(header).toEqual({ format: 'png', width: m.image.width, height: m.image.height });
      expect(Math.max(m.image.width, m.image.height)).toBeLessThanOrEqual(1024);
      const [w, h] = sizes[i] as [number, number];
      const expectedScale = Math.min(1, 1024 / Math.max(w, h));
      expect(m.image.width).toBe(Math.max(1, Math.round(w * expectedScale)));
      expect(m.image.height).toBe(Math.max(1, Math.round(h * expectedScale)));
      expect(m.total).toBe(16);
    }
    expect(closed).toEqual({ requestId: 'r1', nodeIds: frames.map((f) => f.id), missing: [] });
    // The export is the frame's own rectangle.
    expect(p.fake.exports.every((e) => e.settings?.useAbsoluteBounds === true && e.settings.format === 'PNG')).toBe(
      true,
    );
  });

  it('a 300×200 frame is exported at its own size, never upscaled', async () => {
    const p = await loadPlugin();
    const small = p.fake.frame(300, 200);
    const from = p.fake.uiMessages.length;
    await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'small', nodeIds: [small.id], maxEdge: 2048 },
      'REFERENCES_EXPORTED',
    );
    const exported = await p.fake.waitForMessage<Exported>('REFERENCE_EXPORTED', from);
    expect([exported.image.width, exported.image.height]).toEqual([300, 200]);
    expect(p.fake.exports[0]?.settings?.constraint).toEqual({ type: 'SCALE', value: 1 });
  });

  it('a frame deleted before the export is listed in missing, and the others still export', async () => {
    const p = await loadPlugin();
    const [a, gone, b] = [p.fake.frame(400, 300), p.fake.frame(400, 300), p.fake.frame(400, 300)];
    gone!.remove();
    const closed = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'r2', nodeIds: [a!.id, gone!.id, b!.id], maxEdge: 2048 },
      'REFERENCES_EXPORTED',
    );
    expect(closed).toEqual({ requestId: 'r2', nodeIds: [a!.id, b!.id], missing: [gone!.id] });
    expect(p.fake.messages('REFERENCE_EXPORTED').map((m) => (m as Exported).index)).toEqual([0, 2]);
    expect(p.fake.uncaughtErrors).toEqual([]);
  });

  it('a 17th reference is refused: nothing is exported and the main thread stays usable', async () => {
    const p = await loadPlugin();
    const frames = Array.from({ length: 17 }, () => p.fake.frame(100, 100));
    const from = p.fake.uiMessages.length;
    p.send('EXPORT_REFERENCES', { requestId: 'too-many', nodeIds: frames.map((f) => f.id), maxEdge: 1024 });
    await p.fake.settle();
    expect(p.fake.uiMessages.slice(from)).toEqual([
      [
        'REFERENCES_EXPORTED',
        { requestId: 'too-many', nodeIds: [], missing: [], error: expect.stringMatching(/at most 16 references/) },
      ],
    ]);
    expect(p.fake.exports).toEqual([]);
    expect(p.warnings.some((w) => /ignored a panel message \(invalid EXPORT_REFERENCES/.test(w))).toBe(true);
    const closed = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'ok', nodeIds: frames.slice(0, 16).map((f) => f.id), maxEdge: 1024 },
      'REFERENCES_EXPORTED',
    );
    expect(closed.nodeIds).toHaveLength(16);
  });
});

describe('exports that cannot be carried out are answered, never left waiting', () => {
  it('a 4000×1000 frame rotated 90° is exported within maxEdge, measured on its absolute bounds', async () => {
    const p = await loadPlugin();
    const tall = p.fake.frame(4000, 1000, { name: 'Turned banner', rotation: 90 });
    expect(tall.absoluteBoundingBox).toMatchObject({ width: 1000, height: 4000 });
    const from = p.fake.uiMessages.length;
    await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'rot', nodeIds: [tall.id], maxEdge: 2048 },
      'REFERENCES_EXPORTED',
    );
    const [, exported] = p.fake.uiMessages.slice(from)[0] as [string, Exported];
    expect([exported.image.width, exported.image.height]).toEqual([512, 2048]);
  });

  it('a reference size of 8192 is refused with a sentence naming the allowed range, and the next request works', async () => {
    const p = await loadPlugin();
    const frame = p.fake.frame(800, 600);
    const refused = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'huge', nodeIds: [frame.id], maxEdge: 8192 },
      'REFERENCES_EXPORTED',
    );
    expect(refused).toEqual({
      requestId: 'huge',
      nodeIds: [],
      missing: [],
      error: expect.stringMatching(/reference size must be 256–4096 px .*Change it in Settings/),
    });
    expect(p.fake.exports).toEqual([]);
    const ok = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'ok', nodeIds: [frame.id], maxEdge: 4096 },
      'REFERENCES_EXPORTED',
    );
    expect(ok).toEqual({ requestId: 'ok', nodeIds: [frame.id], missing: [] });
  });

  it('an export that fails as a whole is answered with a sentence, and the queue still serves the next one', async () => {
    const p = await loadPlugin();
    const frames = [p.fake.frame(300, 200), p.fake.frame(200, 300)];
    const lookup = p.figma.getNodeByIdAsync;
    let calls = 0;
    p.figma.getNodeByIdAsync = async (id: string) => {
      if (++calls === 2) throw new Error('the document is not available');
      return lookup(id);
    };
    const failed = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'broken', nodeIds: frames.map((f) => f.id), maxEdge: 1024 },
      'REFERENCES_EXPORTED',
    );
    expect(failed).toEqual({
      requestId: 'broken',
      nodeIds: [frames[0]!.id],
      missing: [frames[1]!.id],
      error: expect.stringMatching(/could not export the references \(the document is not available\)/),
    });
    const from = p.fake.uiMessages.length;
    const next = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'next', nodeIds: frames.map((f) => f.id), maxEdge: 1024 },
      'REFERENCES_EXPORTED',
    );
    expect(next.requestId).toBe('next');
    expect(next.nodeIds).toEqual(frames.map((f) => f.id));
    expect(p.fake.uiMessages.slice(from).filter((m) => (m as unknown[])[0] === 'REFERENCE_EXPORTED')).toHaveLength(2);
  });
});
