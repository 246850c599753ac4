// Opening the panel: storage restored (or reset with a notice), relaunch pre-fill, and a protocol that
// ignores what it does not understand.
import { describe, expect, it } from 'vitest';
import type { Provenance } from '../../core/messages';
import { DEFAULT_SETTINGS } from '../../core/messages';
import type { FakeNode } from '../../stand-in/figma';
import { loadPlugin } from './harness';

const provenance: Provenance = {
  prompt: 'Sunlit reading nook, plants, warm tones',
  aspectRatio: '4:3',
  resolution: '4K',
  model: 'gpt-image-2',
  jobId: '4a1d1d55-2f9a-4a37-9d51-2b58d1c9e0aa',
  referenceIds: ['2:7', '2:9'],
  costCredits: 12,
  createdAt: '2026-03-02T08:30:00.000Z',
};

describe('opening the panel', () => {
  it('shows the panel with Figma theme colours and answers PANEL_READY with STORAGE_LOADED, then SELECTION_CHANGED', async () => {
    const p = await loadPlugin({ openPanel: false });
    expect(p.fake.ui.options).toMatchObject({ themeColors: true, width: 360, height: 640 });
    expect(p.fake.ui.html).toContain('Framefill panel');
    await p.open();
    expect(p.fake.uiMessages.map((m) => (m as unknown[])[0])).toEqual(['STORAGE_LOADED', 'SELECTION_CHANGED']);
    const [, storage] = p.fake.uiMessages[0] as [string, Record<string, unknown>];
    expect(storage).toEqual({ settings: DEFAULT_SETTINGS, tray: [], pendingJobs: [], relaunch: null });
  });

  it('restores saved settings, tray and pending jobs when the plugin is opened again in the same file', async () => {
    const settings = { ...DEFAULT_SETTINGS, token: 'ff_abc', density: 3 };
    const tray = [{ nodeId: '1:4', name: 'Mood board' }];
    const pendingJobs = [
      { jobId: 'job-1', proxyUrl: 'http://localhost:8787', targetId: '1:9', targetName: 'Hero', provenance },
    ];
    const first = await loadPlugin();
    first.send('SAVE_STORAGE', { settings, tray, pendingJobs });
    await first.fake.settle();
    const again = await loadPlugin({ file: first.fake });
    expect(again.opened?.storage).toEqual({ settings, tray, pendingJobs, relaunch: null });
  });

  it('settings are per user: a reopened plugin in another file reads them back, but not the tray', async () => {
    const p = await loadPlugin();
    const tray = [{ nodeId: '1:2', name: 'Logo' }];
    const settings = { ...DEFAULT_SETTINGS, proxyUrl: 'https://framefill.example.com' };
    p.send('SAVE_STORAGE', { tray, settings });
    await p.fake.settle();
    const otherFile = await loadPlugin({ sharedStorage: p.fake.storage });
    expect(otherFile.opened?.storage.settings.proxyUrl).toBe('https://framefill.example.com');
    expect(otherFile.opened?.storage.tray).toEqual([]);
  });

  it('corrupt clientStorage is reset with a notice instead of a crash', async () => {
    const id = 'corruptfile0001';
    const p = await loadPlugin({
      setup: (f) => f.root.setPluginData('documentId', id),
      storage: {
        'framefill.settings': { proxyUrl: 42, density: 'lots' },
        [`framefill.file.${id}.tray`]: 'not a list',
        [`framefill.file.${id}.pendingJobs`]: { prompts: [], jobs: [{ jobId: 'ok' }] },
      },
    });
    const storage = p.opened!.storage;
    expect(storage.settings).toEqual(DEFAULT_SETTINGS);
    expect(storage.tray).toEqual([]);
    expect(storage.pendingJobs).toEqual([]);
    expect(storage.notice).toMatch(/settings and reference tray and pending jobs could not be read and were reset/);
    expect([...p.fake.storage.keys()]).toEqual(['framefill.files']);
    expect(p.fake.uncaughtErrors).toEqual([]);
  });

  it('a reference size of 8192 saved by an older version is read back as the largest allowed, keeping the rest', async () => {
    const p = await loadPlugin({
      storage: { 'framefill.settings': { ...DEFAULT_SETTINGS, token: 'ff_keep', referenceMaxEdge: 8192 } },
    });
    expect(p.opened?.storage.settings).toEqual({ ...DEFAULT_SETTINGS, token: 'ff_keep', referenceMaxEdge: 4096 });
    expect(p.opened?.storage.notice).toBeUndefined();
  });
});

describe('relaunch from the Regenerate button', () => {
  it('pre-fills the panel from the node provenance, with that node selected as the target', async () => {
    let placed!: FakeNode;
    const p = await loadPlugin({
      command: 'regenerate',
      setup: (f) => {
        placed = f.frame(1024, 768, { name: 'Nook' });
        placed.setPluginData('framefill', JSON.stringify(provenance));
        f.select([placed]);
      },
    });
    expect(p.opened?.storage.relaunch).toEqual({ targetId: placed.id, provenance });
    expect(p.opened?.storage.notice).toBeUndefined();
    expect(p.opened?.selection.targets.map((t) => t.id)).toEqual([placed.id]);
  });

  it('unreadable provenance opens an empty panel with a notice', async () => {
    const p = await loadPlugin({
      command: 'regenerate',
      setup: (f) => {
        const node = f.frame(100, 100);
        node.setPluginData('framefill', '{"prompt": 3');
        f.select([node]);
      },
    });
    expect(p.opened?.storage.relaunch).toBeNull();
    expect(p.opened?.storage.notice).toMatch(/could not be read/);
  });
});

describe('the message protocol', () => {
  it('invalid and unknown panel messages are ignored and counted, never thrown', async () => {
    const p = await loadPlugin();
    const from = p.fake.uiMessages.length;
    p.fake.sendRawFromPanel({ type: 'legacy-shape' });
    p.fake.sendRawFromPanel(['SELF_DESTRUCT', {}]);
    p.fake.sendRawFromPanel(['PLACE_IMAGE', { requestId: 'x', bytes: 'not bytes' }]);
    p.fake.sendRawFromPanel(['RESIZE', { width: 10 }]);
    p.fake.sendRawFromPanel(null);
    await p.fake.settle();
    expect(p.fake.uncaughtErrors).toEqual([]);
    // The refused PLACE_IMAGE carried a request id: the panel waiting on it is answered, never left hanging.
    expect(p.fake.uiMessages.slice(from)).toEqual([
      ['PLACE_FAILED', { requestId: 'x', code: 'place_failed', message: expect.stringMatching(/could not be placed/) }],
    ]);
    expect(p.warnings.filter((w) => /ignored a panel message/.test(w))).toHaveLength(5);
    // Still answering afterwards.
    const node = p.fake.frame(1200, 1200);
    expect((await p.selectAndWait([node])).targets[0]?.ratio).toBe('1:1');
  });

  it('NOTIFY shows a toast of at most 100 characters; RESIZE resizes the panel', async () => {
    const p = await loadPlugin();
    p.send('NOTIFY', { message: 'x'.repeat(300), error: true });
    p.send('RESIZE', { width: 420, height: 700 });
    await p.fake.settle();
    const note = p.fake.notifications.at(-1);
    expect(note?.error).toBe(true);
    expect(Array.from(note?.message ?? '')).toHaveLength(100);
    expect(p.fake.ui.size).toEqual({ width: 420, height: 700 });
  });
});
