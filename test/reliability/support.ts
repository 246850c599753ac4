// Shared by the reliability suites: the soak switch, a bounded worker pool, the
// figures file (build/reliability-results.json) and a read-only look at a proxy's database.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DB_FILE } from '../../proxy/store/sqlite';

/** `npm run soak` sets FRAMEFILL_SOAK=1: the same suites, larger. */
export const SOAK = process.env.FRAMEFILL_SOAK === '1';

export const size = (normal: number, soak: number): number => (SOAK ? soak : normal);

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once; results in index order. */
export async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

// In the git-ignored build folder, so a test run leaves the tree clean; the README quotes the figures.
const RESULTS = path.join(import.meta.dirname, '../../build/reliability-results.json');

/** Merges one suite's figures into build/reliability-results.json under `normal` or `soak` (never asserted on). */
export function recordFigures(suite: string, figures: Record<string, unknown>): void {
  const all = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {};
  const mode = SOAK ? 'soak' : 'normal';
  const section = (all[mode] ?? {}) as Record<string, unknown>;
  section[suite] = { ...figures, measured_at: new Date().toISOString() };
  all[mode] = section;
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
  console.log(`[reliability] ${suite}: ${JSON.stringify(figures)}`);
}

/** Opens a proxy's database read-only (the proxy may still hold it; WAL allows a reader). */
export function openDbReadOnly(dataDir: string): DatabaseSync {
  return new DatabaseSync(path.join(dataDir, DB_FILE), { readOnly: true });
}

export interface LedgerFacts {
  name: string;
  balance: number;
  spent: number;
  granted: number;
  /** Σ grant + Σ reserve + Σ release from the ledger rows. */
  ledgerBalance: number;
  /** Σ cost of this account's charged jobs: completed, or canceled after their upstream call started. */
  chargedCost: number;
}

/** Per account: the balance, and what the ledger rows and the job rows say it must be. */
export function ledgerFacts(db: DatabaseSync): LedgerFacts[] {
  return db
    .prepare(
      `SELECT a.name, a.balance, a.spent,
         (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account_id = a.id AND kind = 'grant') AS granted,
         (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account_id = a.id AND kind != 'charge') AS ledgerBalance,
         (SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE account_id = a.id
           AND (status = 'completed' OR (status = 'canceled' AND credits_returned = 0))) AS chargedCost
       FROM accounts a ORDER BY a.name`,
    )
    .all() as unknown as LedgerFacts[];
}

/**
 * Jobs whose ledger rows are not exactly what their status demands: reserve, then one charge (completed, or canceled
 * after the upstream call started) or one release.
 */
export function jobsWithWrongLedger(db: DatabaseSync): string[] {
  const rows = db
    .prepare(
      `SELECT j.id, j.status, j.cost, j.credits_returned, GROUP_CONCAT(l.kind || ':' || l.amount, ',') AS moves
       FROM jobs j LEFT JOIN ledger l ON l.job_id = j.id GROUP BY j.id`,
    )
    .all() as unknown as {
    id: string;
    status: string;
    cost: number;
    credits_returned: number | null;
    moves: string | null;
  }[];
  return rows
    .filter((r) => {
      const moves = (r.moves ?? '').split(',').sort().join(',');
      const want =
        r.status === 'completed' || (r.status === 'canceled' && r.credits_returned === 0)
          ? [`charge:${r.cost}`, `reserve:${-r.cost}`]
          : ['queued', 'running'].includes(r.status)
            ? [`reserve:${-r.cost}`]
            : [`release:${r.cost}`, `reserve:${-r.cost}`];
      return moves !== want.sort().join(',');
    })
    .map((r) => `${r.id} ${r.status} ${r.moves}`);
}
