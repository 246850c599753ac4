// The images-per-minute pace (FRAMEFILL_UPSTREAM_IMAGES_PER_MINUTE) shared by every replica on PostgreSQL: the
// starts of the last minute's upstream calls are rows, counted and added under one advisory lock, so N replicas
// together start no more calls than one would. (With SQLite the one process keeps the count in memory.)
import type { Store } from './sql';

const MINUTE_MS = 60_000;
/** Any constant: the advisory lock that serialises claims. */
const PACE_LOCK = 0x46_46_50_31;

export interface SharedPace {
  /**
   * Claims a call start now if the last minute holds fewer than `limit`; resolves with 0 when claimed, otherwise with
   * the time (epoch ms) at which the oldest start leaves the window.
   */
  claim(limit: number): Promise<number>;
}

export function sharedPace(db: Store): SharedPace {
  return {
    claim: (limit) =>
      db.tx(async (q) => {
        await q.run('SELECT pg_advisory_xact_lock($1)', [PACE_LOCK]);
        const now = Date.now();
        await q.run('DELETE FROM upstream_calls WHERE started_at <= $1', [now - MINUTE_MS]);
        const row = await q.one<{ n: number; oldest: number | null }>(
          'SELECT COUNT(*) AS n, MIN(started_at) AS oldest FROM upstream_calls',
        );
        if (Number(row?.n ?? 0) < limit) {
          await q.run('INSERT INTO upstream_calls (started_at) VALUES ($1)', [now]);
          return 0;
        }
        return Number(row?.oldest ?? now) + MINUTE_MS;
      }),
  };
}
