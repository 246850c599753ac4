// The built bundle on QuickJS (WebAssembly), the kind of engine Figma runs plugin code in: build/main.js
// parses and runs unchanged, and the whole message protocol works through it with the stand-in's `figma`
// bridged in: selection, exports, placement, relaunch, storage.
import path from 'node:path';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import type { MainToPanelPayload, Provenance } from '../../core/messages';
import { encodeSolidPng, type FakeNode, readImageHeader } from '../../stand-in/figma';
import { loadPluginInQuickJS } from './quickjs-harness';

const root = path.resolve(import.meta.dirname, '../..');

const provenance: Provenance = {
  prompt: 'Fog over pine hills, early morning, muted greens',
  aspectRatio: '16:9',
  resolution: '1K',
  model: 'gpt-image-2',
  jobId: '3f6e2d1c-8b7a-4c9d-a1e2-f3b4c5d6e7f8',
  referenceIds: [],
  costCredits: 6,
  createdAt: '2026-03-06T07:30:00.000Z',
};

describe('build/main.js on QuickJS', () => {
  it('parses and starts: showUI with theme colours, STORAGE_LOADED then SELECTION_CHANGED on PANEL_READY', async () => {
    const p = await loadPluginInQuickJS();
    expect(p.refused).toBeUndefined();
    expect(p.fake.ui.options).toMatchObject({ themeColors: true, width: 360, height: 640 });
    expect(p.fake.uiMessages).toEqual([]);
    const opened = await p.open();
    expect(p.fake.uiMessages.map((m) => (m as unknown[])[0])).toEqual(['STORAGE_LOADED', 'SELECTION_CHANGED']);
    expect(opened.storage.relaunch).toBeNull();
    expect(p.guestErrors).toEqual([]);
  });

  it('selection: targets with ratio and tier, unusable layers with their reason', async () => {
    const p = await loadPluginInQuickJS();
    await p.open();
    const hero = p.fake.frame(1920, 1080, { name: 'Hero' });
    const text = p.fake.node('TEXT', 200, 40, { name: 'Caption' });
    const changed = await p.selectAndWait([hero, text]);
    expect(changed.targets).toEqual([
      { id: hero.id, name: 'Hero', width: 1920, height: 1080, ratio: '16:9', cropFraction: 0, suggestedTier: '4K' },
    ]);
    expect(changed.unusable.map((u) => u.name)).toEqual(['Caption']);
    expect(changed.selectionCount).toBe(2);
  });

  it('exports: one REFERENCE_EXPORTED per frame with real PNG bytes, a rotated frame by its bounds, then the closing message', async () => {
    const p = await loadPluginInQuickJS();
    await p.open();
    const wide = p.fake.frame(4000, 1000, { name: 'Wide', fill: { r: 1, g: 0, b: 0 } });
    const turned = p.fake.frame(4000, 1000, { name: 'Turned', rotation: 90 });
    const from = p.fake.uiMessages.length;
    const closed = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'q1', nodeIds: [wide.id, turned.id, '999:999'], maxEdge: 2048 },
      'REFERENCES_EXPORTED',
    );
    expect(closed).toEqual({ requestId: 'q1', nodeIds: [wide.id, turned.id], missing: ['999:999'] });
    const images = p.fake.uiMessages
      .slice(from)
      .filter((m) => (m as unknown[])[0] === 'REFERENCE_EXPORTED')
      .map((m) => (m as [string, MainToPanelPayload<'REFERENCE_EXPORTED'>])[1].image);
    expect(images.map((i) => [i.name, i.width, i.height])).toEqual([
      ['Wide', 2048, 512],
      ['Turned', 512, 2048],
    ]);
    expect(readImageHeader(images[0]!.bytes)).toEqual({ format: 'png', width: 2048, height: 512 });
  });

  it('placement, then NOTIFY and RESIZE: the image fills the target with provenance and Regenerate; a refused request is answered', async () => {
    let target!: FakeNode;
    const p = await loadPluginInQuickJS({
      setup: (f) => {
        target = f.frame(1280, 720, { name: 'Hero' });
      },
    });
    await p.open();
    const bytes = await encodeSolidPng(1280, 720, { r: 0.2, g: 0.5, b: 0.3, a: 1 });
    const placed = await p.request(
      'PLACE_IMAGE',
      { requestId: 'p1', targetId: target.id, bytes, width: 1280, height: 720, provenance },
      'IMAGE_PLACED',
    );
    expect(placed).toEqual({ requestId: 'p1', nodeId: target.id, createdFrame: false });
    expect(target.fills[0]).toMatchObject({ type: 'IMAGE', scaleMode: 'FILL' });
    expect(JSON.parse(target.getPluginData('framefill'))).toEqual(provenance);
    expect(target.getRelaunchData()).toEqual({ regenerate: expect.stringContaining('Fog over pine hills') });
    expect(p.fake.undoCommits).toBe(1);

    const refused = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'big', nodeIds: [target.id], maxEdge: 8192 },
      'REFERENCES_EXPORTED',
    );
    expect(refused.error).toMatch(/reference size must be 256–4096 px/);

    p.send('NOTIFY', { message: 'y'.repeat(150), error: true });
    p.send('RESIZE', { width: 420, height: 700 });
    await p.fake.settle();
    expect(p.fake.notifications.at(-1)).toMatchObject({ error: true, message: `${'y'.repeat(99)}…` });
    expect(p.fake.ui.size).toEqual({ width: 420, height: 700 });
  });

  it('relaunch: run from the Regenerate button, the panel is pre-filled from the layer', async () => {
    let placed!: FakeNode;
    const p = await loadPluginInQuickJS({
      command: 'regenerate',
      setup: (f) => {
        placed = f.frame(1280, 720, { name: 'Placed' });
        placed.setPluginData('framefill', JSON.stringify(provenance));
        f.select([placed]);
      },
    });
    const opened = await p.open();
    expect(opened.storage.relaunch).toEqual({ targetId: placed.id, provenance });
  });

  it('storage: saved per file under its document id, and read back when the plugin opens again there', async () => {
    const p = await loadPluginInQuickJS();
    await p.open();
    const tray = [{ nodeId: '1:2', name: 'Mood' }];
    p.send('SAVE_STORAGE', { tray });
    await p.fake.settle();
    const id = p.fake.root.getPluginData('documentId');
    expect(p.fake.storage.get(`framefill.file.${id}.tray`)).toEqual(tray);
    const again = await loadPluginInQuickJS({ file: p.fake });
    expect((await again.open()).storage.tray).toEqual(tray);
    const otherFile = await loadPluginInQuickJS({ sharedStorage: p.fake.storage });
    expect((await otherFile.open()).storage.tray).toEqual([]);
  });

  it('needs no built-in newer than ES2020: with those taken away, it still opens, exports and places', async () => {
    const prelude = `
      delete Object.hasOwn; delete Object.groupBy; delete Promise.any; delete globalThis.AggregateError;
      delete globalThis.WeakRef; delete globalThis.FinalizationRegistry; delete globalThis.structuredClone;
      for (const name of ['at', 'findLast', 'findLastIndex', 'toSorted', 'toReversed', 'toSpliced', 'with'])
        delete Array.prototype[name];
      for (const name of ['at', 'replaceAll', 'isWellFormed', 'toWellFormed']) delete String.prototype[name];
      if (Object.hasOwn || [].at || ''.replaceAll) throw new Error('not taken away');`;
    let target!: FakeNode;
    const p = await loadPluginInQuickJS({
      prelude,
      setup: (f) => {
        target = f.frame(1280, 720, { name: 'Hero' });
      },
    });
    expect(p.refused).toBeUndefined();
    await p.open();
    const exported = await p.request(
      'EXPORT_REFERENCES',
      { requestId: 'old-engine', nodeIds: [target.id], maxEdge: 512 },
      'REFERENCES_EXPORTED',
    );
    expect(exported.nodeIds).toEqual([target.id]);
    const bytes = await encodeSolidPng(1280, 720, { r: 0.4, g: 0.4, b: 0.4, a: 1 });
    const placed = await p.request(
      'PLACE_IMAGE',
      { requestId: 'old-engine-place', targetId: target.id, bytes, width: 1280, height: 720, provenance },
      'IMAGE_PLACED',
    );
    expect(placed.createdFrame).toBe(false);
    expect(p.guestErrors).toEqual([]);
  });

  it('the same source bundled for newer syntax targets runs too: es2020 is kept for older engines, not needed here', async () => {
    for (const target of ['es2020', 'es2022', 'esnext']) {
      const result = await esbuild.build({
        entryPoints: [path.join(root, 'src/main.ts')],
        bundle: true,
        write: false,
        format: 'iife',
        platform: 'neutral',
        mainFields: ['module', 'main'],
        minify: true,
        target,
      });
      const p = await loadPluginInQuickJS({ code: result.outputFiles[0]!.text });
      expect({ target, refused: p.refused }).toEqual({ target, refused: undefined });
      expect((await p.open()).storage.tray).toEqual([]);
    }
  });
});
