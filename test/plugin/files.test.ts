// Two files open on one machine share Figma's clientStorage: each keeps its own tray, pending and placed
// jobs, and a job never lands in the wrong file.
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type PendingJob, type Provenance } from '../../core/messages';
import { encodeSolidPng } from '../../stand-in/figma';
import { loadPlugin } from './harness';

const provenance = (over: Partial<Provenance> = {}): Provenance => ({
  prompt: 'Terracotta rooftops at noon, long shadows',
  aspectRatio: '16:9',
  resolution: '1K',
  model: 'gpt-image-2',
  jobId: '5b0c7c1e-0d8f-4c55-8a51-6a3c1f9e2b10',
  referenceIds: [],
  costCredits: 6,
  createdAt: '2026-03-04T09:00:00.000Z',
  ...over,
});

const pendingFor = (targetId: string, over: Partial<Provenance> = {}): PendingJob => ({
  jobId: over.jobId ?? provenance().jobId,
  proxyUrl: 'http://localhost:8787',
  targetId,
  targetName: 'Hero',
  provenance: provenance(over),
});

describe('two files sharing one clientStorage', () => {
  it('a job started in file A is never offered in file B, and is resumed when Framefill opens in A again', async () => {
    const fileA = await loadPlugin({ setup: (f) => f.frame(1280, 720, { name: 'Hero A' }) });
    const heroA = fileA.fake.page.children[0]!;
    fileA.send('SAVE_STORAGE', { pendingJobs: [pendingFor(heroA.id)] });
    await fileA.fake.settle();

    // File B's first layer has the same id, as ids are only unique within a file.
    const fileB = await loadPlugin({
      sharedStorage: fileA.fake.storage,
      setup: (f) => f.frame(1280, 720, { name: 'Hero B' }),
    });
    const heroB = fileB.fake.page.children[0]!;
    expect(heroB.id).toBe(heroA.id);
    expect(fileB.opened?.storage.pendingJobs).toEqual([]);

    // The job finishes while B is open: B's panel has nothing to place. Back in A, the job is there.
    const reopenedA = await loadPlugin({ file: fileA.fake });
    expect(reopenedA.opened?.storage.pendingJobs).toEqual([pendingFor(heroA.id)]);
    const bytes = await encodeSolidPng(1280, 720, { r: 0.9, g: 0.5, b: 0.3, a: 1 });
    const placed = await reopenedA.request(
      'PLACE_IMAGE',
      { requestId: 'a-1', targetId: heroA.id, bytes, width: 1280, height: 720, provenance: provenance() },
      'IMAGE_PLACED',
    );
    expect(placed).toEqual({ requestId: 'a-1', nodeId: heroA.id, createdFrame: false });
    expect(heroA.fills[0]).toMatchObject({ type: 'IMAGE' });
    expect(heroB.fills[0]).toMatchObject({ type: 'SOLID' });
  });

  it("A's tray is A's: B opens with an empty tray and never exports A's layer ids", async () => {
    const fileA = await loadPlugin({ setup: (f) => f.frame(400, 400, { name: 'Mood A' }) });
    const moodA = fileA.fake.page.children[0]!;
    fileA.send('SAVE_STORAGE', { tray: [{ nodeId: moodA.id, name: 'Mood A' }] });
    await fileA.fake.settle();
    const fileB = await loadPlugin({ sharedStorage: fileA.fake.storage, setup: (f) => f.frame(400, 400) });
    expect(fileB.opened?.storage.tray).toEqual([]);
    expect(fileB.fake.exports).toEqual([]);
    expect((await loadPlugin({ file: fileA.fake })).opened?.storage.tray).toEqual([
      { nodeId: moodA.id, name: 'Mood A' },
    ]);
  });

  it('each file has its own random document id, written once into its plugin data', async () => {
    const fileA = await loadPlugin();
    const fileB = await loadPlugin({ sharedStorage: fileA.fake.storage });
    const idA = fileA.fake.root.getPluginData('documentId');
    expect(idA).toMatch(/^[0-9a-z]{12,40}$/);
    expect(fileB.fake.root.getPluginData('documentId')).not.toBe(idA);
    await loadPlugin({ file: fileA.fake });
    expect(fileA.fake.root.getPluginData('documentId')).toBe(idA);
  });
});

describe('storage written before per-file state', () => {
  it('pending jobs are offered as from another file (no target), the old tray and placed record are dropped', async () => {
    const legacy = [pendingFor('1:7')];
    const p = await loadPlugin({
      storage: {
        'framefill.settings': { ...DEFAULT_SETTINGS, token: 'ff_kept' },
        'framefill.tray': [{ nodeId: '1:7', name: 'Somewhere' }],
        'framefill.pendingJobs': legacy,
        'framefill.placedJobs': [{ jobId: 'old', nodeId: '1:7' }],
      },
    });
    const storage = p.opened!.storage;
    expect(storage.settings.token).toBe('ff_kept');
    expect(storage.tray).toEqual([]);
    expect(storage.pendingJobs).toEqual([{ ...legacy[0], targetId: null, fromAnotherFile: true }]);
    expect(storage.notice).toMatch(/1 image started before this update may belong to another file: place it here/);
    expect([...p.fake.storage.keys()].filter((k) => /^framefill\.(tray|pendingJobs|placedJobs)$/.test(k))).toEqual([]);

    // Offered once: the next file opened does not get it again; this one keeps it until it is handled.
    const other = await loadPlugin({ sharedStorage: p.fake.storage });
    expect(other.opened?.storage.pendingJobs).toEqual([]);
    expect((await loadPlugin({ file: p.fake })).opened?.storage.pendingJobs).toEqual(storage.pendingJobs);
  });
});

describe('pending jobs within clientStorage (5 MB per plugin)', () => {
  it('a batch stores its prompt once, however many targets it has', async () => {
    const prompt = '🌄'.repeat(20_000);
    const jobs = Array.from({ length: 40 }, (_, i) => ({
      ...pendingFor(`1:${i + 2}`, { prompt, jobId: `job-${i}` }),
    }));
    const p = await loadPlugin();
    p.send('SAVE_STORAGE', { pendingJobs: jobs });
    await p.fake.settle();
    expect(p.fake.notifications).toEqual([]);
    const id = p.fake.root.getPluginData('documentId');
    const stored = p.fake.storage.get(`framefill.file.${id}.pendingJobs`) as { prompts: string[] };
    expect(stored.prompts).toEqual([prompt]);
    expect(JSON.stringify(stored).length).toBeLessThan(200_000);
    expect((await loadPlugin({ file: p.fake })).opened?.storage.pendingJobs).toEqual(jobs);
  });

  it('room is made from the files unopened longest: their trays and placed records go, never their pending jobs', async () => {
    // 40 other files, each with a full record of placed jobs (~170 kB): 6.8 MB, more than the 5 MB.
    const placed = Array.from({ length: 500 }, (_, i) => ({
      jobId: `${'j'.repeat(90)}${i}`,
      nodeId: `${i}:${'9'.repeat(200 - 12)}`,
    }));
    const storage: Record<string, unknown> = {};
    const opened: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const id = `otherfile${String(i).padStart(4, '0')}`;
      storage[`framefill.file.${id}.placedJobs`] = placed;
      opened[id] = 1_000 + i;
    }
    storage['framefill.file.otherfile0000.pendingJobs'] = { prompts: ['kept'], jobs: [] };
    storage['framefill.files'] = opened;
    const p = await loadPlugin({ storage });
    p.send('SAVE_STORAGE', { pendingJobs: [pendingFor('1:2', { jobId: 'mine' })] });
    await p.fake.settle();
    expect(p.fake.notifications).toEqual([]);
    const keys = [...p.fake.storage.keys()];
    // The oldest went first; the most recently opened files keep their records.
    expect(keys).not.toContain('framefill.file.otherfile0000.placedJobs');
    expect(keys).toContain('framefill.file.otherfile0039.placedJobs');
    expect(keys).toContain('framefill.file.otherfile0000.pendingJobs');
    expect((await loadPlugin({ file: p.fake })).opened?.storage.pendingJobs.map((j) => j.jobId)).toEqual(['mine']);
  });

  it('a save that would pass the budget is refused with a clear message, and what was saved stays', async () => {
    const p = await loadPlugin();
    const first = [pendingFor('1:2', { jobId: 'kept' })];
    p.send('SAVE_STORAGE', { pendingJobs: first });
    await p.fake.settle();
    // 80 different 20,000-character prompts of 4-byte characters: about 6.4 MB.
    const tooMany = Array.from({ length: 80 }, (_, i) =>
      pendingFor(`1:${i + 3}`, { jobId: `job-${i}`, prompt: `${i} ${'🌊'.repeat(19_990)}` }),
    );
    p.send('SAVE_STORAGE', { pendingJobs: tooMany });
    await p.fake.settle();
    expect(p.fake.notifications.at(-1)).toMatchObject({
      error: true,
      message: expect.stringMatching(/storage is full: running jobs won't resume if the panel closes/),
    });
    expect(p.fake.uncaughtErrors).toEqual([]);
    expect((await loadPlugin({ file: p.fake })).opened?.storage.pendingJobs).toEqual(first);
  });
});
