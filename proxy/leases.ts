// Replicas that die lose nothing: each replica renews the lease of the jobs it holds every third of the lease time;
// on PostgreSQL, every replica also looks for jobs whose lease lapsed (their replica died without a word) and ends
// them `interrupted` with their credits back. The ending is a conditional update, so however many replicas sweep
// together, one wins and the ledger gets one `release`. SQLite has one process: its restart does the same.
import type { JobStore } from './jobs';
import type { Logger } from './log';
import { INTERRUPTED_ERROR } from './runner';
import type { JobNotices } from './store/notices';
import type { ResultStore } from './store/results';

export interface LeaseOptions {
  store: JobStore;
  notices: JobNotices;
  /** Images a dead replica kept before it could complete the job: they belong to no job once it is ended. */
  results: ResultStore;
  owner: string;
  /** The jobs this process holds now. */
  held: () => string[];
  leaseMs: number;
  /** Sweep other replicas' lapsed jobs (several processes share the store). */
  sweep: boolean;
  log: Logger;
}

/** Ends the jobs whose lease lapsed; resolves with how many this call ended. */
export async function sweepLapsed(o: Pick<LeaseOptions, 'store' | 'notices' | 'results' | 'log'>): Promise<number> {
  let ended = 0;
  for (const id of await o.store.lapsed(Date.now())) {
    if (!(await o.store.finish(id, 'interrupted', INTERRUPTED_ERROR))) continue;
    await o.results.deleteJob(id);
    ended++;
    o.log({ kind: 'job', id, status: 'interrupted', reason: 'lease_lapsed' });
    await o.notices.publish({ id, status: 'interrupted' });
  }
  return ended;
}

/** Starts renewing (and sweeping); returns the stop function. */
export function keepLeases(o: LeaseOptions): () => void {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      await o.store.renewLeases(o.owner, o.held(), Date.now() + o.leaseMs);
      if (o.sweep) await sweepLapsed(o);
    } catch (error) {
      // The store is unreachable for now: the next tick tries again (health reports it meanwhile).
      o.log({ kind: 'error', error: `leases: ${error instanceof Error ? error.message : String(error)}` });
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), Math.max(50, o.leaseMs / 3));
  (timer as unknown as NodeJS.Timeout).unref();
  return () => clearInterval(timer);
}
