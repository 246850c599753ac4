// Settings, the reference tray and pending jobs in figma.clientStorage (5 MB per plugin, never images:
// https://developers.figma.com/docs/plugins/api/figma-clientStorage). Everything read back is validated;
// corrupt data is reset with a notice instead of crashing the plugin.
import {
  DEFAULT_SETTINGS,
  type PanelToMainPayload,
  type PendingJob,
  PendingJobsSchema,
  PLACED_JOBS_REMEMBERED,
  type PlacedJob,
  PlacedJobsSchema,
  type Settings,
  SettingsSchema,
  type TrayItem,
  TraySchema,
} from '../core/messages';

export const STORAGE_KEYS = {
  settings: 'framefill.settings',
  tray: 'framefill.tray',
  pendingJobs: 'framefill.pendingJobs',
  placedJobs: 'framefill.placedJobs',
} as const;

export interface Stored {
  settings: Settings;
  tray: TrayItem[];
  pendingJobs: PendingJob[];
  placedJobs: PlacedJob[];
  notice?: string;
}

const LABELS = {
  settings: 'settings',
  tray: 'reference tray',
  pendingJobs: 'pending jobs',
  placedJobs: 'record of placed images',
} as const;

export async function loadStorage(): Promise<Stored> {
  const reset: string[] = [];
  async function read<T>(
    key: keyof typeof STORAGE_KEYS,
    schema: { safeParse(v: unknown): { success: boolean; data?: T } },
    fallback: T,
  ): Promise<T> {
    let raw: unknown;
    try {
      raw = await figma.clientStorage.getAsync(STORAGE_KEYS[key]);
    } catch {
      reset.push(LABELS[key]);
      return fallback;
    }
    if (raw === undefined) return fallback;
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data as T;
    reset.push(LABELS[key]);
    await figma.clientStorage.deleteAsync(STORAGE_KEYS[key]).catch(() => undefined);
    return fallback;
  }
  const settings = await read('settings', SettingsSchema, DEFAULT_SETTINGS);
  const tray = await read('tray', TraySchema, [] as TrayItem[]);
  const pendingJobs = await read('pendingJobs', PendingJobsSchema, [] as PendingJob[]);
  const placedJobs = await read('placedJobs', PlacedJobsSchema, [] as PlacedJob[]);
  const stored: Stored = { settings, tray, pendingJobs, placedJobs };
  if (reset.length > 0) {
    stored.notice = `Framefill's saved ${reset.join(' and ')} could not be read and ${reset.length === 1 ? 'was' : 'were'} reset.`;
  }
  return stored;
}

export async function saveStorage(save: PanelToMainPayload<'SAVE_STORAGE'>): Promise<void> {
  for (const key of ['settings', 'tray', 'pendingJobs'] as const) {
    const value = save[key];
    if (value !== undefined) await figma.clientStorage.setAsync(STORAGE_KEYS[key], value);
  }
}

/** Remembers a placed job, newest last, forgetting the oldest beyond the cap. */
export async function savePlacedJob(placed: PlacedJob[], job: PlacedJob): Promise<void> {
  const next = [...placed.filter((p) => p.jobId !== job.jobId), job].slice(-PLACED_JOBS_REMEMBERED);
  placed.splice(0, placed.length, ...next);
  await figma.clientStorage.setAsync(STORAGE_KEYS.placedJobs, next);
}
