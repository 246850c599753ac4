import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  MainToPanel,
  notifyText,
  PanelToMain,
  PLUGIN_DATA_MAX_BYTES,
  PROMPT_MAX_CHARS,
  ProvenanceSchema,
  parseMessage,
} from '../../core';

const provenance = {
  prompt: 'A poster',
  aspectRatio: '16:9',
  resolution: '2K',
  model: 'gpt-image-2',
  jobId: '6f1c2b1e-8d4a-4c1b-9a0e-2f3b4c5d6e7f',
  referenceIds: ['1:2'],
  costCredits: 8,
  createdAt: '2026-11-26T10:00:00.000Z',
};

describe('panel ↔ main messages', () => {
  it('accept a well-formed [NAME, payload]', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const parsed = parseMessage(PanelToMain, [
      'PLACE_IMAGE',
      { requestId: 'r1', targetId: null, bytes, width: 2560, height: 1440, provenance },
    ]);
    expect(parsed.ok).toBe(true);
    if (parsed.ok && parsed.message.name === 'PLACE_IMAGE') expect(parsed.message.payload.bytes).toBe(bytes);
  });

  it('refuse unknown names, wrong shapes and bad payloads without throwing', () => {
    expect(parseMessage(PanelToMain, ['NOPE', {}])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/unknown/),
    });
    expect(parseMessage(PanelToMain, { pluginMessage: ['PANEL_READY', {}] }).ok).toBe(false);
    expect(parseMessage(PanelToMain, ['toString', {}]).ok).toBe(false);
    expect(parseMessage(PanelToMain, ['EXPORT_REFERENCES', { requestId: 'r', nodeIds: [], maxEdge: 2048 }]).ok).toBe(
      false,
    );
    expect(parseMessage(MainToPanel, ['IMAGE_PLACED', { requestId: 'r', nodeId: '1:2' }]).ok).toBe(false);
  });

  it('refuse a 17th reference id at the schema', () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `1:${i}`);
    const message = (n: number) => ['EXPORT_REFERENCES', { requestId: 'r', nodeIds: ids(n), maxEdge: 2048 }];
    expect(parseMessage(PanelToMain, message(16)).ok).toBe(true);
    expect(parseMessage(PanelToMain, message(17)).ok).toBe(false);
  });

  it('never throw on arbitrary input (10,000 cases per direction)', () => {
    const names = [...Object.keys(PanelToMain), ...Object.keys(MainToPanel), '__proto__', 'constructor'];
    const raw = fc.oneof(
      fc.anything(),
      fc.tuple(fc.constantFrom(...names), fc.anything()),
      fc.tuple(fc.constantFrom(...names), fc.dictionary(fc.string(), fc.anything())),
    );
    fc.assert(
      fc.property(raw, (value) => {
        for (const schemas of [PanelToMain, MainToPanel]) {
          const result = parseMessage(schemas, value);
          expect(typeof result.ok).toBe('boolean');
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('settings default to the local proxy', () => {
    expect(DEFAULT_SETTINGS).toMatchObject({ proxyUrl: 'http://localhost:8787', referenceMaxEdge: 2048, density: 2 });
  });

  it('worst-case provenance (20,000 four-byte characters) fits Figma’s 100 kB plugin data', () => {
    const worst = ProvenanceSchema.parse({
      ...provenance,
      prompt: '𝕏'.repeat(PROMPT_MAX_CHARS),
      referenceIds: Array.from({ length: 16 }, (_, i) => `12345:${67890 + i}`),
    });
    expect(new TextEncoder().encode(JSON.stringify(worst)).length).toBeLessThanOrEqual(PLUGIN_DATA_MAX_BYTES);
  });

  it('cut toasts to 100 characters', () => {
    expect(notifyText('short')).toBe('short');
    expect(Array.from(notifyText('é'.repeat(150)))).toHaveLength(100);
  });
});
