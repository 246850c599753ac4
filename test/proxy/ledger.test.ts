// Credits: reserve at submit, charge on completion, release otherwise, 402 when short, idempotent retries,
// and no overspending under parallel submissions; the database compiles each statement once.
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AccountSchema, ErrorBodySchema, JobSchema } from '../../core/api';
import { openSqlite } from '../../proxy/store/sqlite';
import { png } from '../helpers/images';
import {
  api,
  ENGINES,
  generateAndWait,
  readEvents,
  startTestProxy as startProxyOn,
  submitGeneration,
  tempDataDir,
} from '../helpers/proxy';

const fourK = { prompt: 'a city at night', aspect_ratio: '16:9', resolution: '4K' };

describe.each(ENGINES)('on %s', (engine) => {
  const startTestProxy: typeof startProxyOn = (env, opts) => startProxyOn(env, { ...opts, engine });

  async function tokenProxy(credits: number, env: Record<string, string> = {}) {
    const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0', ...env });
    const { token, account } = await proxy.ledger.createToken('alice', credits);
    const balance = async () =>
      AccountSchema.parse(
        await (await api(`${proxy.url}/v1/account`, { headers: { Authorization: `Bearer ${token}` } })).json(),
      );
    return { proxy, token, accountId: account.id, balance };
  }

  describe('the ledger', () => {
    it('reserves at submit and charges on completion: balance = credits − charges', async () => {
      const { proxy, token, accountId, balance } = await tokenProxy(100);
      try {
        const { id } = await generateAndWait(proxy.url, fourK, { token });
        expect(await proxy.ledger.rowsForJob(id)).toEqual([
          { kind: 'reserve', amount: -12 },
          { kind: 'charge', amount: 12 },
        ]);
        expect(await balance()).toEqual({ name: 'alice', balance_credits: 88, spent_credits: 12, jobs_in_flight: 0 });
        expect(await proxy.ledger.ledgerBalance(accountId)).toBe(88);
      } finally {
        await proxy.close();
      }
    });

    it('refuses a job the balance cannot cover with 402 insufficient_credits and records nothing', async () => {
      const { proxy, token, accountId, balance } = await tokenProxy(11);
      try {
        const response = await submitGeneration(proxy.url, fourK, { token });
        expect(response.status).toBe(402);
        const error = ErrorBodySchema.parse(await response.json()).error;
        expect(error.code).toBe('insufficient_credits');
        expect(error.message).toContain('12');
        expect(await balance()).toMatchObject({ balance_credits: 11, spent_credits: 0 });
        expect(await proxy.ledger.ledgerBalance(accountId)).toBe(11);
        // A cheaper tier still fits.
        expect((await submitGeneration(proxy.url, { ...fourK, resolution: '1K' }, { token })).status).toBe(202);
      } finally {
        await proxy.close();
      }
    });

    it('accepts exactly 8 of 20 parallel 4K jobs against 100 credits, and never goes below zero', async () => {
      const { proxy, token, accountId, balance } = await tokenProxy(100, { FRAMEFILL_DRAFT_DELAY_MS: '5000' });
      try {
        const responses = await Promise.all(
          Array.from({ length: 20 }, () => submitGeneration(proxy.url, fourK, { token })),
        );
        const statuses = responses.map((r) => r.status);
        expect(statuses.filter((s) => s === 202)).toHaveLength(8);
        expect(statuses.filter((s) => s === 402)).toHaveLength(12);
        expect(await balance()).toMatchObject({ balance_credits: 4, jobs_in_flight: 8 });
        expect(await proxy.ledger.ledgerBalance(accountId)).toBe(4);
      } finally {
        await proxy.close();
      }
    });

    it('charges an idempotent retry once and returns the same job', async () => {
      const { proxy, token, balance } = await tokenProxy(100);
      try {
        const ref = await png(40, 40);
        const send = () =>
          submitGeneration(proxy.url, fourK, { token, idempotencyKey: 'key-1', references: [{ bytes: ref }] });
        const first = await send();
        const second = await send();
        expect(first.status).toBe(202);
        expect(second.status).toBe(202);
        expect(second.headers.get('Idempotent-Replayed')).toBe('true');
        const a = JobSchema.parse(await first.json());
        const b = JobSchema.parse(await second.json());
        expect(b.id).toBe(a.id);
        await readEvents(proxy.url, a.id, { token });
        const third = JobSchema.parse(await (await send()).json());
        expect(third).toMatchObject({ id: a.id, status: 'completed' });
        expect(await balance()).toMatchObject({ balance_credits: 88, spent_credits: 12 });
      } finally {
        await proxy.close();
      }
    });

    it('refuses the same key with a different body (prompt or reference bytes) with 409 idempotency_conflict', async () => {
      const { proxy, token, balance } = await tokenProxy(100);
      try {
        const refA = await png(40, 40, 1);
        const refB = await png(40, 40, 2);
        expect(
          (await submitGeneration(proxy.url, fourK, { token, idempotencyKey: 'k', references: [{ bytes: refA }] }))
            .status,
        ).toBe(202);
        for (const [body, refs] of [
          [{ ...fourK, prompt: 'another prompt' }, [refA]],
          [fourK, [refB]],
          [{ ...fourK, resolution: '2K' }, [refA]],
        ] as const) {
          const response = await submitGeneration(proxy.url, body, {
            token,
            idempotencyKey: 'k',
            references: refs.map((bytes) => ({ bytes })),
          });
          expect(response.status).toBe(409);
          expect(ErrorBodySchema.parse(await response.json()).error.code).toBe('idempotency_conflict');
        }
        expect((await balance()).balance_credits).toBe(88);
      } finally {
        await proxy.close();
      }
    });

    it('keeps idempotency keys per token: another token’s same key makes its own job', async () => {
      const { proxy, token } = await tokenProxy(100);
      try {
        const other = (await proxy.ledger.createToken('bob', 100)).token;
        const a = JobSchema.parse(
          await (await submitGeneration(proxy.url, fourK, { token, idempotencyKey: 'same' })).json(),
        );
        const b = JobSchema.parse(
          await (await submitGeneration(proxy.url, fourK, { token: other, idempotencyKey: 'same' })).json(),
        );
        expect(b.id).not.toBe(a.id);
        // And bob cannot see alice's job.
        const response = await api(`${proxy.url}/v1/generations/${a.id}`, {
          headers: { Authorization: `Bearer ${other}` },
        });
        expect(response.status).toBe(404);
      } finally {
        await proxy.close();
      }
    });

    it('releases the credits of a job failed by the provider and of one interrupted by shutdown', async () => {
      const { proxy, token, accountId, balance } = await tokenProxy(100, { FRAMEFILL_DRAFT_DELAY_MS: '10000' });
      const response = await submitGeneration(proxy.url, fourK, { token });
      const { id } = JobSchema.parse(await response.json());
      expect((await balance()).balance_credits).toBe(88);
      await proxy.close(0);
      const again = await startTestProxy({ FRAMEFILL_DATA_DIR: proxy.dataDir });
      try {
        const job = (await again.store.get(id))!;
        expect(job.status).toBe('interrupted');
        expect((await again.ledger.rowsForJob(id)).map((r) => r.kind)).toEqual(['reserve', 'release']);
        expect((await again.ledger.accountById(accountId))?.balance).toBe(100);
        expect(await again.ledger.ledgerBalance(accountId)).toBe(100);
      } finally {
        await again.close();
      }
    });
  });
});

describe('the database', () => {
  it('compiles each SQL text once and hands the same statement back, so a job does not re-prepare its queries', async () => {
    const dir = tempDataDir();
    const db = openSqlite(dir);
    try {
      const first = db.prepare('SELECT * FROM jobs WHERE id = $1');
      expect(db.prepare('SELECT * FROM jobs WHERE id = $1')).toBe(first);
      expect(db.prepare('SELECT * FROM accounts WHERE id = $1')).not.toBe(first);
      expect(first.get('no such job')).toBeUndefined();
      expect(await db.one('SELECT * FROM jobs WHERE id = $1', ['no such job'])).toBeUndefined();
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
