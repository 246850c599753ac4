// What Framefill keeps between runs. figma.clientStorage is per plugin and per machine, shared by every file
// the designer opens (https://developers.figma.com/docs/plugins/api/figma-clientStorage), so only the
// per-user settings live there as they are; the tray, pending jobs and placed jobs are kept under this
// file's document id, a random id written once into the document's plugin data
// (https://developers.figma.com/docs/plugins/api/properties/nodes-setplugindata). Everything read back is
// validated; corrupt data is reset with a notice instead of crashing the plugin. Storage holds 5 MB per
// plugin and never images: pending jobs keep each prompt once, and a save that would pass the budget is
// refused with a sentence.
import { z } from 'zod';
import { CLIENT_STORAGE_MAX_BYTES, MAX_REFERENCE_MAX_EDGE, MIN_REFERENCE_MAX_EDGE } from '../core/limits';
import {
  DEFAULT_SETTINGS,
  type PanelToMainPayload,
  type PendingJob,
  PendingJobSchema,
  PendingJobsSchema,
  PLACED_JOBS_REMEMBERED,
  type PlacedJob,
  PlacedJobsSchema,
  ProvenanceSchema,
  type Settings,
  SettingsSchema,
  type TrayItem,
  TraySchema,
} from '../core/messages';
import { utf8Length } from './provenance';

/** The document's plugin-data key holding its id. */
export const DOCUMENT_ID_KEY = 'documentId';
const DOCUMENT_ID = /^[0-9a-z]{12,40}$/;

export const SETTINGS_KEY = 'framefill.settings';

/** Keys a version before per-file storage wrote, shared by every file. */
export const LEGACY_KEYS = {
  tray: 'framefill.tray',
  pendingJobs: 'framefill.pendingJobs',
  placedJobs: 'framefill.placedJobs',
} as const;

export function fileKeys(documentId: string) {
  return {
    tray: `framefill.file.${documentId}.tray`,
    pendingJobs: `framefill.file.${documentId}.pendingJobs`,
    placedJobs: `framefill.file.${documentId}.placedJobs`,
  } as const;
}

/**
 * Room kept free below Figma's 5 MB for the settings and the small per-file records written after a
 * refused save, so the record of a placement can always be written.
 */
const BUDGET_BYTES = CLIENT_STORAGE_MAX_BYTES - 256 * 1024;

export interface Stored {
  documentId: string;
  settings: Settings;
  tray: TrayItem[];
  pendingJobs: PendingJob[];
  placedJobs: PlacedJob[];
  notice?: string;
}

/** A random id without crypto, which Figma's sandbox does not promise. */
function randomId(): string {
  let id = Date.now().toString(36);
  while (id.length < 24) id += Math.floor(Math.random() * 36 ** 6).toString(36);
  return id.slice(0, 24);
}

/** This file's id: read from the document, or written once. A duplicated file keeps its original's id. */
export function documentId(): string {
  const existing = figma.root.getPluginData(DOCUMENT_ID_KEY);
  if (DOCUMENT_ID.test(existing)) return existing;
  const id = randomId();
  figma.root.setPluginData(DOCUMENT_ID_KEY, id);
  return id;
}

/**
 * Pending jobs as stored: the prompts once each (a batch's jobs share one), each job pointing at its prompt.
 * A 20,000-character prompt is up to 80 kB, and a batch of 20 targets would otherwise store it 20 times.
 */
const StoredPendingJobsSchema = z.object({
  prompts: z.array(z.string()),
  jobs: z
    .array(
      PendingJobSchema.extend({
        provenance: ProvenanceSchema.omit({ prompt: true }).extend({ prompt: z.number().int().nonnegative() }),
      }),
    )
    .max(500),
});
type StoredPendingJobs = z.infer<typeof StoredPendingJobsSchema>;

export function packPendingJobs(jobs: readonly PendingJob[]): StoredPendingJobs {
  const prompts: string[] = [];
  const index = new Map<string, number>();
  const packed = jobs.map((job) => {
    let at = index.get(job.provenance.prompt);
    if (at === undefined) {
      at = prompts.push(job.provenance.prompt) - 1;
      index.set(job.provenance.prompt, at);
    }
    return { ...job, provenance: { ...job.provenance, prompt: at } };
  });
  return { prompts, jobs: packed };
}

function unpackPendingJobs(stored: StoredPendingJobs): PendingJob[] | undefined {
  const jobs: PendingJob[] = [];
  for (const job of stored.jobs) {
    const prompt = stored.prompts[job.provenance.prompt];
    if (prompt === undefined) return undefined;
    jobs.push({ ...job, provenance: { ...job.provenance, prompt } });
  }
  return jobs;
}

const PackedPendingJobs = {
  safeParse(raw: unknown): { success: true; data: PendingJob[] } | { success: false } {
    const parsed = StoredPendingJobsSchema.safeParse(raw);
    const jobs = parsed.success ? unpackPendingJobs(parsed.data) : undefined;
    return jobs ? { success: true, data: jobs } : { success: false };
  },
};

/** A stored value's size as Figma counts it: the key plus the value as JSON (in UTF-8 bytes, to be safe). */
function storedSize(key: string, value: unknown): number {
  if (value === undefined) return 0;
  return utf8Length(key) + utf8Length(JSON.stringify(value) ?? '');
}

/** Sizes of every stored key, this file's and other files', kept current by this module's writes. */
const sizes = new Map<string, number>();

async function measureStorage(): Promise<void> {
  sizes.clear();
  for (const key of await figma.clientStorage.keysAsync()) {
    sizes.set(key, storedSize(key, await figma.clientStorage.getAsync(key)));
  }
}

function usedBytes(except: string): number {
  let total = 0;
  for (const [key, size] of sizes) if (key !== except) total += size;
  return total;
}

export class StorageFullError extends Error {}

/** When each file last opened Framefill (document id → ms), so room is made from the longest unopened. */
export const FILES_KEY = 'framefill.files';
const FilesIndexSchema = z.record(z.string().regex(DOCUMENT_ID), z.number());
let filesIndex: Record<string, number> = {};
let currentDocument = '';

const FILE_KEY = /^framefill\.file\.([0-9a-z]+)\.(tray|placedJobs|pendingJobs)$/;

/**
 * Frees room by dropping other files' trays and placed-job records, the files unopened longest first (a
 * file missing from the index first of all). Pending jobs are never dropped: they may be paid images.
 */
async function makeRoom(size: number, key: string): Promise<boolean> {
  const droppable = [...sizes.keys()]
    .map((k) => ({ key: k, match: FILE_KEY.exec(k) }))
    .filter(({ match }) => match && match[1] !== currentDocument && match[2] !== 'pendingJobs')
    .sort((a, b) => (filesIndex[a.match?.[1] ?? ''] ?? 0) - (filesIndex[b.match?.[1] ?? ''] ?? 0));
  for (const { key: other } of droppable) {
    if (usedBytes(key) + size <= BUDGET_BYTES) return true;
    await remove(other).catch(() => undefined);
  }
  return usedBytes(key) + size <= BUDGET_BYTES;
}

async function write(key: string, value: unknown): Promise<void> {
  const size = storedSize(key, value);
  if (usedBytes(key) + size > BUDGET_BYTES && size > (sizes.get(key) ?? 0) && !(await makeRoom(size, key))) {
    throw new StorageFullError(key);
  }
  await figma.clientStorage.setAsync(key, value);
  sizes.set(key, size);
}

/** Records that this file opened Framefill now. */
async function touchFile(id: string): Promise<void> {
  const parsed = FilesIndexSchema.safeParse(await figma.clientStorage.getAsync(FILES_KEY));
  filesIndex = parsed.success ? parsed.data : {};
  filesIndex[id] = Date.now();
  await write(FILES_KEY, filesIndex);
}

async function remove(key: string): Promise<void> {
  await figma.clientStorage.deleteAsync(key);
  sizes.delete(key);
}

const LABELS = {
  settings: 'settings',
  tray: 'reference tray',
  pendingJobs: 'pending jobs',
  placedJobs: 'record of placed images',
} as const;

type Parser<T> = { safeParse(v: unknown): { success: boolean; data?: T } };

/** Settings saved by an older version may ask for a larger reference edge than is allowed now: clamp it. */
function migrateSettings(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || !('referenceMaxEdge' in raw)) return raw;
  const edge = (raw as { referenceMaxEdge: unknown }).referenceMaxEdge;
  if (typeof edge !== 'number' || !Number.isFinite(edge)) return raw;
  return {
    ...raw,
    referenceMaxEdge: Math.min(MAX_REFERENCE_MAX_EDGE, Math.max(MIN_REFERENCE_MAX_EDGE, Math.round(edge))),
  };
}

export async function loadStorage(): Promise<Stored> {
  const id = documentId();
  currentDocument = id;
  const keys = fileKeys(id);
  const reset: string[] = [];
  const notices: string[] = [];
  await measureStorage().catch(() => undefined);
  await touchFile(id).catch(() => undefined);

  async function read<T>(key: string, label: keyof typeof LABELS, schema: Parser<T>, fallback: T): Promise<T> {
    let raw: unknown;
    try {
      raw = await figma.clientStorage.getAsync(key);
    } catch {
      reset.push(LABELS[label]);
      return fallback;
    }
    if (raw === undefined) return fallback;
    const parsed = schema.safeParse(label === 'settings' ? migrateSettings(raw) : raw);
    if (parsed.success) return parsed.data as T;
    reset.push(LABELS[label]);
    await remove(key).catch(() => undefined);
    return fallback;
  }

  const settings = await read(SETTINGS_KEY, 'settings', SettingsSchema, DEFAULT_SETTINGS);
  const tray = await read(keys.tray, 'tray', TraySchema, [] as TrayItem[]);
  let pendingJobs = await read(keys.pendingJobs, 'pendingJobs', PackedPendingJobs, [] as PendingJob[]);
  const placedJobs = await read(keys.placedJobs, 'placedJobs', PlacedJobsSchema, [] as PlacedJob[]);

  // A version before per-file storage kept these for every file at once. Its tray and placed-jobs record
  // name layers of an unknown file, so they go; its pending jobs may be paid images, so they are offered
  // here, never placed by themselves.
  const legacy = await readLegacyPendingJobs();
  if (legacy.length > 0) {
    const known = new Set(pendingJobs.map((job) => job.jobId));
    const adopted = legacy
      .filter((job) => !known.has(job.jobId))
      .map((job) => ({ ...job, targetId: null, fromAnotherFile: true }));
    pendingJobs = [...pendingJobs, ...adopted];
    try {
      await write(keys.pendingJobs, packPendingJobs(pendingJobs));
      await remove(LEGACY_KEYS.pendingJobs);
    } catch {
      // Kept under the old key: offered again next time.
    }
    if (adopted.length > 0) {
      notices.push(
        `${adopted.length} image${adopted.length === 1 ? '' : 's'} started before this update may belong to another file: place ${adopted.length === 1 ? 'it' : 'them'} here or download ${adopted.length === 1 ? 'it' : 'them'}.`,
      );
    }
  }
  for (const key of [LEGACY_KEYS.tray, LEGACY_KEYS.placedJobs]) {
    if (sizes.has(key)) await remove(key).catch(() => undefined);
  }

  const stored: Stored = { documentId: id, settings, tray, pendingJobs, placedJobs };
  if (reset.length > 0) {
    notices.unshift(
      `Framefill's saved ${reset.join(' and ')} could not be read and ${reset.length === 1 ? 'was' : 'were'} reset.`,
    );
  }
  if (notices.length > 0) stored.notice = notices.join(' ');
  return stored;
}

async function readLegacyPendingJobs(): Promise<PendingJob[]> {
  try {
    const raw = await figma.clientStorage.getAsync(LEGACY_KEYS.pendingJobs);
    if (raw === undefined) return [];
    const parsed = PendingJobsSchema.safeParse(raw);
    if (parsed.success) return parsed.data;
    await remove(LEGACY_KEYS.pendingJobs);
  } catch {
    // Unreadable: nothing to offer.
  }
  return [];
}

/**
 * Saves what the panel sent. Throws StorageFullError, having saved nothing of that part, when pending jobs
 * would pass clientStorage's budget.
 */
export async function saveStorage(documentId: string, save: PanelToMainPayload<'SAVE_STORAGE'>): Promise<void> {
  const keys = fileKeys(documentId);
  if (save.settings !== undefined) await write(SETTINGS_KEY, save.settings);
  if (save.tray !== undefined) await write(keys.tray, save.tray);
  if (save.pendingJobs !== undefined) await write(keys.pendingJobs, packPendingJobs(save.pendingJobs));
}

/** Remembers a placed job, newest last, forgetting the oldest beyond the cap. */
export async function savePlacedJob(documentId: string, placed: PlacedJob[], job: PlacedJob): Promise<void> {
  const next = [...placed.filter((p) => p.jobId !== job.jobId), job].slice(-PLACED_JOBS_REMEMBERED);
  placed.splice(0, placed.length, ...next);
  await write(fileKeys(documentId).placedJobs, next);
}
