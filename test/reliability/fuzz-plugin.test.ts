// Random panel messages fed to the BUILT sandbox bundle (build/main.js) in the vm harness: random JSON, arrays with
// real message names and random or mutated payloads, binary junk. Main never throws, never posts an invalid
// message, and stays usable: it still answers PANEL_READY and still places an image afterwards.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MainToPanel, PanelToMain, type Provenance, parseMessage } from '../../core/messages';
import { encodeSolidPng, type FakeNode } from '../../stand-in/figma';
import { loadPlugin } from '../plugin/harness';
import { recordFigures, size } from './support';

const CASES = size(10_000, 50_000);
const NAMES = Object.keys(PanelToMain);

const provenance: Provenance = {
  prompt: 'a fuzzed harbour',
  aspectRatio: '1:1',
  resolution: '1K',
  model: 'gpt-image-2',
  jobId: '0b7f6a52-2a6c-4c8e-9d4e-3f1a2b3c4d5e',
  referenceIds: [],
  costCredits: 6,
  createdAt: '2026-03-01T10:00:00.000Z',
};

describe('fuzzing the plugin main thread with panel messages', () => {
  it(`survives ${CASES} random messages and stays usable`, async () => {
    let target!: FakeNode;
    const plugin = await loadPlugin({
      setup: (f) => {
        target = f.frame(400, 400, { name: 'Target' });
        f.select([target]);
      },
    });
    const valid = {
      requestId: 'r-1',
      targetId: target.id,
      bytes: await encodeSolidPng(8, 8, { r: 1, g: 0, b: 0, a: 1 }),
      width: 8,
      height: 8,
      provenance,
      nodeIds: [target.id],
      maxEdge: 2048,
      settings: {},
      message: 'hi',
      width2: 300,
    };
    const payload = fc.oneof(
      fc.jsonValue(),
      fc.dictionary(
        fc.constantFrom(...Object.keys(valid), 'requestId', 'pendingJobs', 'tray', 'error'),
        fc.oneof(fc.jsonValue(), fc.uint8Array({ maxLength: 64 }), fc.constantFrom(...Object.values(valid))),
      ),
      // A valid payload with one field replaced by junk.
      fc
        .tuple(fc.constantFrom(...Object.keys(valid)), fc.oneof(fc.jsonValue(), fc.uint8Array({ maxLength: 32 })))
        .map(([key, junk]) => ({ ...valid, [key]: junk })),
    );
    const message = fc.oneof(
      fc.tuple(fc.constantFrom(...NAMES), payload),
      fc.tuple(fc.string({ maxLength: 20 }), payload),
      fc.jsonValue(),
      fc.uint8Array({ maxLength: 64 }),
      fc.array(fc.jsonValue(), { maxLength: 4 }),
    );
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 10 }), async (batch) => {
        for (const raw of batch) plugin.fake.sendRawFromPanel(raw);
        sent += batch.length;
        await plugin.fake.settle();
        expect(plugin.fake.uncaughtErrors).toEqual([]);
      }),
      { numRuns: Math.ceil(CASES / 5.5), seed: 777, endOnFailure: true },
    );
    expect(sent).toBeGreaterThanOrEqual(CASES * 0.9);

    // Everything main posted back is a valid main → panel message.
    for (const posted of plugin.fake.uiMessages) expect(parseMessage(MainToPanel, posted).ok).toBe(true);
    // Still usable: it answers the panel opening and places an image in the target.
    await plugin.open();
    const from = plugin.fake.uiMessages.length;
    plugin.send('PLACE_IMAGE', {
      requestId: 'after-fuzz',
      targetId: target.id,
      bytes: await encodeSolidPng(64, 64, { r: 0, g: 0.5, b: 1, a: 1 }),
      width: 64,
      height: 64,
      provenance,
    });
    const placed = await plugin.fake.waitForMessage<{ requestId: string }>('IMAGE_PLACED', from);
    expect(placed.requestId).toBe('after-fuzz');
    recordFigures('fuzz_plugin', { messages: sent, uncaught_errors: plugin.fake.uncaughtErrors.length });
  }, 300_000);
});
