// Leases, at the store: a job whose replica stopped renewing is ended `interrupted` with its credits back exactly
// once, however many sweeps race for it (two proxies on one database, ten sweeps each); a renewed one is left alone.
import { describe, expect, it } from 'vitest';
import { sweepLapsed } from '../../proxy/leases';
import { noticesFor } from '../../proxy/store/notices';
import { jpeg } from '../helpers/images';
import { databaseFor, ENGINES, startTestProxy, tempDataDir } from '../helpers/proxy';

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition never became true');
}

describe.each(ENGINES)('on %s', (engine) => {
  it('ends a lapsed job once across racing sweeps, releases its credits once, and leaves a renewed job alone (its owner renews its own jobs only)', async () => {
    const dataDir = tempDataDir();
    const shared = await databaseFor(engine, dataDir);
    const a = await startTestProxy({ FRAMEFILL_DATA_DIR: dataDir }, { engine });
    // SQLite is one process's store: the second proxy is the same file opened again, as a restart would.
    const b = engine === 'postgres' ? await startTestProxy(shared, { engine }) : a;
    try {
      const { account } = await a.ledger.createToken('team', 100);
      const job = (owner: string, leaseUntil: number) =>
        a.store.create({
          accountId: account.id,
          promptChars: 10,
          aspectRatio: '16:9',
          resolution: '1K',
          width: 1280,
          height: 720,
          quality: 'medium',
          outputFormat: 'jpeg',
          references: [],
          cost: 6,
          model: 'draft',
          idempotencyKey: undefined,
          n: 1,
          prompt: 'a lease test',
          requestHash: 'h',
          owner,
          leaseUntil,
        });
      const dead = (await job('dead-replica', Date.now() - 1)).row;
      const alive = (await job('live-replica', Date.now() - 1)).row;
      await a.store.renewLeases('live-replica', [alive.id, dead.id], Date.now() + 60_000);
      const notices = await noticesFor(b.db);
      try {
        const ended = await Promise.all(
          [a, b, a, b, a, b, a, b, a, b].map((p) =>
            sweepLapsed({ store: p.store, notices, results: p.results, log: () => undefined }),
          ),
        );
        // The proxies sweep by themselves too (every third of the lease): count theirs with the test's.
        const byProxies = [...new Set([a, b])]
          .flatMap((p) => p.logs)
          .filter((line) => line.reason === 'lease_lapsed').length;
        expect(ended.reduce((sum, n) => sum + n, 0) + byProxies).toBe(1);
      } finally {
        await notices.close();
      }
      expect((await b.store.get(dead.id))?.status).toBe('interrupted');
      expect(await b.ledger.rowsForJob(dead.id)).toEqual([
        { kind: 'reserve', amount: -6 },
        { kind: 'release', amount: 6 },
      ]);
      expect((await b.store.get(alive.id))?.status).toBe('queued');
      expect((await b.ledger.accountById(account.id))?.balance).toBe(94);
      expect(await b.ledger.ledgerBalance(account.id)).toBe(94);
    } finally {
      if (b !== a) await b.close();
      await a.close();
    }
  });

  it('a job whose process died while keeping its images is ended interrupted at the next start, and those images go', async () => {
    const dataDir = tempDataDir();
    const a = await startTestProxy({ FRAMEFILL_DATA_DIR: dataDir }, { engine });
    const account = await a.ledger.localAccount();
    const { row } = await a.store.create({
      accountId: account.id,
      promptChars: 12,
      aspectRatio: '1:1',
      resolution: '1K',
      width: 1024,
      height: 1024,
      quality: 'low',
      outputFormat: 'jpeg',
      references: [],
      cost: 2,
      model: 'draft',
      idempotencyKey: undefined,
      n: 2,
      prompt: 'died midway',
      requestHash: 'h',
      owner: 'dead-replica',
      leaseUntil: Date.now() - 1,
    });
    expect(await a.store.start(row.id)).toBe(true);
    // The first variation was kept, the second was being kept, when the process died.
    await a.results.put(row.id, 0, { mime: 'image/jpeg', bytes: await jpeg(64, 64) });
    await a.close();
    const b = await startTestProxy({ FRAMEFILL_DATA_DIR: dataDir }, { engine });
    try {
      await until(async () => (await b.store.get(row.id))?.status === 'interrupted');
      expect(await b.ledger.rowsForJob(row.id)).toEqual([
        { kind: 'reserve', amount: -2 },
        { kind: 'release', amount: 2 },
      ]);
      expect(await b.results.open(row.id, 0, 'image/jpeg')).toBeUndefined();
    } finally {
      await b.close();
    }
  });
});
