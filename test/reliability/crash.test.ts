// Crash safety of the built proxy: SIGKILL mid-batch (some jobs completed, some running, some queued), then a
// restart on the same data dir; and SIGTERM, which lets running jobs finish within FRAMEFILL_SHUTDOWN_GRACE_S.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { JobSchema, type JobStatus } from '../../core/api';
import { png } from '../helpers/images';
import { api, ROOT, runProxyCli, type SpawnedProxy, spawnProxy, submitGeneration, tempDataDir } from '../helpers/proxy';
import { jobsWithWrongLedger, ledgerFacts, openDbReadOnly } from './support';

beforeAll(() => {
  execFileSync(process.execPath, ['build.mjs', '--no-typecheck', '--quiet', '--proxy-only'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
});

const CREDITS = 1000;
const fields = { prompt: 'a harbour at dawn', aspect_ratio: '1:1', resolution: '1K' };

async function tokenFor(dataDir: string): Promise<string> {
  const created = await runProxyCli(['token', 'create', '--name', 'crash', '--credits', String(CREDITS)], {
    FRAMEFILL_DATA_DIR: dataDir,
  });
  expect(created.code).toBe(0);
  return created.stdout.trim().split('\n').at(-1)!;
}

async function submitBatch(server: SpawnedProxy, token: string, count: number): Promise<string[]> {
  const reference = await png(64, 48);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await submitGeneration(
      server.url,
      { ...fields, prompt: `${fields.prompt} ${i}` },
      { token, references: [{ bytes: reference }] },
    );
    expect(response.status).toBe(202);
    ids.push(JobSchema.parse(await response.json()).id);
  }
  return ids;
}

async function statuses(url: string, token: string, ids: string[]): Promise<JobStatus[]> {
  return Promise.all(
    ids.map(async (id) => {
      const response = await api(`${url}/v1/generations/${id}`, { headers: { Authorization: `Bearer ${token}` } });
      return JobSchema.parse(await response.json()).status;
    }),
  );
}

/** Polls until `ready` holds for the batch's statuses. */
async function waitFor(url: string, token: string, ids: string[], ready: (s: JobStatus[]) => boolean) {
  for (;;) {
    const now = await statuses(url, token, ids);
    if (ready(now)) return now;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const count = (list: JobStatus[], status: JobStatus) => list.filter((s) => s === status).length;

function checkDatabase(dataDir: string) {
  const db = openDbReadOnly(dataDir);
  try {
    expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    expect(jobsWithWrongLedger(db)).toEqual([]);
    const [account] = ledgerFacts(db);
    expect(account!.balance).toBe(CREDITS - account!.chargedCost);
    expect(account!.spent).toBe(account!.chargedCost);
    expect(account!.ledgerBalance).toBe(account!.balance);
    return db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all();
  } finally {
    db.close();
  }
}

describe('a crash (SIGKILL) mid-batch', () => {
  it('keeps completed results downloadable, interrupts running and queued jobs with credits released, and the database intact', async () => {
    const dataDir = tempDataDir();
    const token = await tokenFor(dataDir);
    const env = { FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_UPSTREAM_CONCURRENCY: '2', FRAMEFILL_DRAFT_DELAY_MS: '1500' };
    const first = await spawnProxy(env);
    const ids = await submitBatch(first, token, 10);
    const before = await waitFor(
      first.url,
      token,
      ids,
      (s) => count(s, 'completed') >= 2 && count(s, 'running') >= 1 && count(s, 'queued') >= 1,
    );
    expect(await first.stop('SIGKILL')).toBe('SIGKILL');

    const second = await spawnProxy({ ...env, FRAMEFILL_DRAFT_DELAY_MS: '0' });
    try {
      const after = await statuses(second.url, token, ids);
      ids.forEach((_, i) => {
        if (before[i] === 'completed') expect(after[i]).toBe('completed');
        // A queued job cannot have finished in the moment between the last look and the kill (it takes 1.5 s).
        else if (before[i] === 'queued') expect(after[i]).toBe('interrupted');
        // A running one may have; nothing else may happen to it.
        else expect(['interrupted', 'completed']).toContain(after[i]);
      });
      for (const [i, id] of ids.entries()) {
        if (after[i] !== 'completed') continue;
        const image = await api(`${second.url}/v1/generations/${id}/image`, {
          headers: { Authorization: `Bearer ${token}` },
        });
        expect(image.status).toBe(200);
        const meta = await sharp(Buffer.from(await image.arrayBuffer()), { failOn: 'truncated' }).metadata();
        expect([meta.width, meta.height]).toEqual([1024, 1024]);
      }
      const account = await (
        await api(`${second.url}/v1/account`, { headers: { Authorization: `Bearer ${token}` } })
      ).json();
      expect(account).toEqual({
        name: 'crash',
        balance_credits: CREDITS - 6 * count(after, 'completed'),
        spent_credits: 6 * count(after, 'completed'),
        jobs_in_flight: 0,
      });
      // The interrupted jobs' uploaded references were removed at the restart.
      expect(readdirSync(path.join(dataDir, 'uploads'))).toEqual([]);
      // The restarted proxy works: a new job completes.
      const [fresh] = await submitBatch(second, token, 1);
      await waitFor(second.url, token, [fresh!], (s) => s[0] === 'completed');
    } finally {
      expect(await second.stop()).toBe(0);
    }
    checkDatabase(dataDir);
  });

  it('survives being killed again and again mid-batch: the ledger stays exact and the database intact', async () => {
    const dataDir = tempDataDir();
    const token = await tokenFor(dataDir);
    const env = { FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_UPSTREAM_CONCURRENCY: '2', FRAMEFILL_DRAFT_DELAY_MS: '300' };
    for (let round = 0; round < 3; round++) {
      const server = await spawnProxy(env);
      const ids = await submitBatch(server, token, 4);
      await waitFor(server.url, token, ids, (s) => count(s, 'completed') >= 1);
      await server.stop('SIGKILL');
    }
    const last = await spawnProxy(env);
    await last.stop();
    const byStatus = checkDatabase(dataDir) as { status: string; n: number }[];
    expect(byStatus.every((r) => r.status === 'completed' || r.status === 'interrupted')).toBe(true);
    expect(byStatus.reduce((n, r) => n + r.n, 0)).toBe(12);
    expect(byStatus.find((r) => r.status === 'completed')?.n).toBeGreaterThanOrEqual(3);
  });
});

describe('a graceful stop (SIGTERM)', () => {
  it('lets running jobs finish, interrupts the queued ones with credits released, then exits 0', async () => {
    const dataDir = tempDataDir();
    const token = await tokenFor(dataDir);
    const env = {
      FRAMEFILL_DATA_DIR: dataDir,
      FRAMEFILL_UPSTREAM_CONCURRENCY: '2',
      FRAMEFILL_DRAFT_DELAY_MS: '1500',
      FRAMEFILL_SHUTDOWN_GRACE_S: '30',
    };
    const server = await spawnProxy(env);
    const ids = await submitBatch(server, token, 5);
    const before = await waitFor(server.url, token, ids, (s) => count(s, 'running') === 2);
    expect(await server.stop('SIGTERM')).toBe(0);

    const after = await spawnProxy(env);
    try {
      const now = await statuses(after.url, token, ids);
      ids.forEach((_, i) => {
        expect(now[i]).toBe(before[i] === 'running' ? 'completed' : 'interrupted');
      });
    } finally {
      await after.stop();
    }
    checkDatabase(dataDir);
  });

  it('stops within FRAMEFILL_SHUTDOWN_GRACE_S even when a job would run far longer: that job is interrupted, its credits released', async () => {
    const dataDir = tempDataDir();
    const token = await tokenFor(dataDir);
    const env = { FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_DRAFT_DELAY_MS: '600000', FRAMEFILL_SHUTDOWN_GRACE_S: '1' };
    const server = await spawnProxy(env);
    const ids = await submitBatch(server, token, 1);
    await waitFor(server.url, token, ids, (s) => s[0] === 'running');
    // The test's own timeout (far below the job's 10 minutes) is the bound.
    expect(await server.stop('SIGTERM')).toBe(0);
    checkDatabase(dataDir);
    const db = openDbReadOnly(dataDir);
    try {
      expect(ledgerFacts(db)[0]).toMatchObject({ balance: CREDITS, spent: 0, chargedCost: 0 });
      expect(db.prepare('SELECT status FROM jobs').all()).toEqual([{ status: 'interrupted' }]);
    } finally {
      db.close();
    }
  }, 20_000);
});
