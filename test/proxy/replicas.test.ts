// Two proxy processes (the built bundle) on one PostgreSQL database, as replicas behind a load balancer: balances
// exact under spending through both, a job followed, fetched and canceled through the replica that does not run it,
// idempotency keys that hold across them, and a replica killed mid-job whose jobs the other one interrupts, once.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthSchema, JobSchema } from '../../core/api';
import { type FakeOpenAI, startFakeOpenAI } from '../fakes/openai-upstream';
import {
  freshDatabase,
  readEvents,
  runProxyCli,
  type SpawnedProxy,
  spawnProxy,
  startTestProxy,
  submitGeneration,
  tempDataDir,
} from '../helpers/proxy';

const fourK = { prompt: 'a lighthouse in fog', aspect_ratio: '16:9', resolution: '4K' };
const oneK = { prompt: 'a lighthouse in fog', aspect_ratio: '16:9', resolution: '1K' };

interface Pair {
  a: SpawnedProxy;
  b: SpawnedProxy;
  token: string;
  databaseUrl: string;
  stop(): Promise<void>;
}

/** A fresh database, a token made with the CLI on it, and two replicas sharing it. */
async function replicas(env: Record<string, string> = {}, envA: Record<string, string> = {}): Promise<Pair> {
  const databaseUrl = await freshDatabase();
  const created = await runProxyCli(['token', 'create', '--name', 'team', '--credits', '100'], {
    DATABASE_URL: databaseUrl,
    FRAMEFILL_DATA_DIR: tempDataDir(),
  });
  expect(created.code, created.stderr).toBe(0);
  const token = created.stdout.trim().split('\n').at(-1)!;
  const a = await spawnProxy({ DATABASE_URL: databaseUrl, ...env, ...envA });
  const b = await spawnProxy({ DATABASE_URL: databaseUrl, ...env });
  return {
    a,
    b,
    token,
    databaseUrl,
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

async function account(url: string, token: string) {
  const response = await fetch(`${url}/v1/account`, { headers: { Authorization: `Bearer ${token}` } });
  return (await response.json()) as { balance_credits: number; spent_credits: number; jobs_in_flight: number };
}

async function job(url: string, token: string, id: string) {
  const response = await fetch(`${url}/v1/generations/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  return JobSchema.parse(await response.json());
}

/** Polls until `check` holds (each test's own timeout bounds it). */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('two replicas on one PostgreSQL', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await replicas({ FRAMEFILL_DRAFT_DELAY_MS: '300' });
  });
  afterAll(() => pair?.stop());

  it('report PostgreSQL as their store in /v1/health', async () => {
    for (const replica of [pair.a, pair.b]) {
      const health = HealthSchema.parse(await (await fetch(`${replica.url}/v1/health`)).json());
      expect(health.store).toEqual({ engine: 'postgres', reachable: true });
      expect(replica.output()).toContain('store:     PostgreSQL');
    }
  });

  it('accept exactly 8 of 30 parallel 4K jobs on 100 credits split across both, and answer the other 22 with 402', async () => {
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        submitGeneration(i % 2 === 0 ? pair.a.url : pair.b.url, fourK, { token: pair.token }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(8);
    expect(statuses.filter((s) => s === 402)).toHaveLength(22);
    // Which replica wins each reservation is up to the scheduler; that the sum is exact is not.
    const ids = await Promise.all(
      responses.filter((r) => r.status === 202).map(async (r) => JobSchema.parse(await r.json()).id),
    );
    for (const id of ids) await readEvents(pair.b.url, id, { token: pair.token });
    expect(await account(pair.a.url, pair.token)).toMatchObject({ balance_credits: 4, spent_credits: 96 });
    const [ledger] = await query<{ reserves: number; charges: number }>(
      pair.databaseUrl,
      "SELECT COUNT(*) FILTER (WHERE kind = 'reserve')::int AS reserves, COUNT(*) FILTER (WHERE kind = 'charge')::int AS charges FROM ledger",
    );
    expect(ledger).toEqual({ reserves: 8, charges: 8 });
  });
});

describe('a job across replicas', () => {
  let pair: Pair;
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-test-key' });
    pair = await replicas({
      FRAMEFILL_PROVIDER: 'openai',
      OPENAI_API_KEY: 'sk-test-key',
      OPENAI_BASE_URL: fake.url,
    });
  });
  afterAll(async () => {
    await pair?.stop();
    await fake?.close();
  });

  it('submitted on A, streams to completion through B, and B serves its image', async () => {
    const submitted = await submitGeneration(pair.a.url, oneK, { token: pair.token });
    expect(submitted.status).toBe(202);
    const { id } = JobSchema.parse(await submitted.json());
    const { events } = await readEvents(pair.b.url, id, { token: pair.token });
    expect(events[0]?.event).toBe('status');
    expect(events.at(-1)?.event).toBe('completed');
    const image = await fetch(`${pair.b.url}/v1/generations/${id}/image`, {
      headers: { Authorization: `Bearer ${pair.token}` },
    });
    expect(image.status).toBe(200);
    expect(image.headers.get('Content-Type')).toMatch(/^image\//);
    expect((await image.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  it("shows A's preview on a stream opened through B, from the job's row, at most 512 px", async () => {
    fake.failNext({ kind: 'stall-after-partials' });
    const submitted = await submitGeneration(pair.a.url, oneK, { token: pair.token });
    const { id } = JobSchema.parse(await submitted.json());
    const stream = await fetch(`${pair.b.url}/v1/generations/${id}/events`, {
      headers: { Authorization: `Bearer ${pair.token}`, Accept: 'text/event-stream' },
    });
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!/event: partial\ndata: .*\n\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended without a preview:\n${text}`);
      text += value;
    }
    await reader.cancel();
    const data = JSON.parse(/event: partial\ndata: (.*)\n/.exec(text)![1]!) as {
      id: string;
      width: number;
      b64: string;
    };
    expect(data.id).toBe(id);
    expect(data.width).toBeLessThanOrEqual(512);
    expect(data.b64.length).toBeGreaterThan(100);
    await fetch(`${pair.b.url}/v1/generations/${id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${pair.token}` },
    });
    // The preview leaves the row with the job's end.
    const [row] = await query<{ preview_json: string | null }>(
      pair.databaseUrl,
      'SELECT preview_json FROM jobs WHERE id = $1',
      [id],
    );
    expect(row?.preview_json).toBeNull();
  });

  it('canceled through B, stops the upstream call A is making, with the ledger rule of a started cancel', async () => {
    const before = (await account(pair.a.url, pair.token)).balance_credits;
    fake.failNext({ kind: 'hang' });
    const seen = fake.requests.length;
    const submitted = await submitGeneration(pair.a.url, oneK, { token: pair.token });
    const { id } = JobSchema.parse(await submitted.json());
    await fake.received(seen + 1);
    await until(async () => (await job(pair.b.url, pair.token, id)).status === 'running');
    const canceled = await fetch(`${pair.b.url}/v1/generations/${id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${pair.token}` },
    });
    expect(JobSchema.parse(await canceled.json())).toMatchObject({ status: 'canceled', credits_returned: false });
    // A, not B, holds the upstream connection: only A can have closed it.
    await until(async () => fake.requests[seen]?.closedByClient === true);
    expect((await job(pair.a.url, pair.token, id)).status).toBe('canceled');
    const rows = await query<{ kind: string }>(
      pair.databaseUrl,
      'SELECT kind FROM ledger WHERE job_id = $1 ORDER BY id',
      [id],
    );
    expect(rows.map((r) => r.kind)).toEqual(['reserve', 'charge']);
    expect((await account(pair.b.url, pair.token)).balance_credits).toBe(before - 6);
  });

  it('makes one job of the same Idempotency-Key sent to A and to B at once', async () => {
    const key = `same-on-both-${Date.now()}`;
    const [first, second] = await Promise.all([
      submitGeneration(pair.a.url, oneK, { token: pair.token, idempotencyKey: key }),
      submitGeneration(pair.b.url, oneK, { token: pair.token, idempotencyKey: key }),
    ]);
    expect([first.status, second.status]).toEqual([202, 202]);
    const [one, two] = [JobSchema.parse(await first.json()), JobSchema.parse(await second.json())];
    expect(one.id).toBe(two.id);
    expect([first, second].filter((r) => r.headers.get('Idempotent-Replayed') === 'true')).toHaveLength(1);
    const rows = await query<{ kind: string }>(
      pair.databaseUrl,
      'SELECT kind FROM ledger WHERE job_id = $1 ORDER BY id',
      [one.id],
    );
    expect(rows[0]?.kind).toBe('reserve');
    expect(rows.filter((r) => r.kind === 'reserve')).toHaveLength(1);
    await readEvents(pair.a.url, one.id, { token: pair.token });
  });
});

describe('the upstream pace', () => {
  it('FRAMEFILL_UPSTREAM_IMAGES_PER_MINUTE is shared by both replicas, not given to each', async () => {
    const fake = await startFakeOpenAI({ apiKey: 'sk-test-key' });
    const pair = await replicas({
      FRAMEFILL_PROVIDER: 'openai',
      OPENAI_API_KEY: 'sk-test-key',
      OPENAI_BASE_URL: fake.url,
      FRAMEFILL_UPSTREAM_IMAGES_PER_MINUTE: '2',
    });
    try {
      const ids: string[] = [];
      for (const replica of [pair.a, pair.b, pair.a, pair.b]) {
        const response = await submitGeneration(replica.url, oneK, { token: pair.token });
        expect(response.status).toBe(202);
        ids.push(JobSchema.parse(await response.json()).id);
      }
      const statuses = async () => Promise.all(ids.map((id) => job(pair.b.url, pair.token, id)));
      await until(async () => {
        const jobs = await statuses();
        return (
          jobs.filter((j) => j.status === 'completed').length === 2 &&
          jobs.filter((j) => j.status === 'queued' && j.status_reason?.includes('rate limit')).length === 2
        );
      });
      // Each replica alone would have started both of its jobs: together they started two calls in all.
      expect(fake.requests).toHaveLength(2);
      for (const waiting of (await statuses()).filter((j) => j.status === 'queued')) {
        const canceled = await fetch(`${pair.a.url}/v1/generations/${waiting.id}`, {
          method: 'DELETE',
          headers: { Authorization: `Bearer ${pair.token}` },
        });
        expect(JobSchema.parse(await canceled.json())).toMatchObject({ status: 'canceled', credits_returned: true });
      }
      expect(await account(pair.a.url, pair.token)).toMatchObject({ balance_credits: 88, jobs_in_flight: 0 });
    } finally {
      await pair.stop();
      await fake.close();
    }
  });
});

describe('a replica that dies', () => {
  it('SIGKILLed with 4 jobs running: the other marks them interrupted once the lease lapses, once each, and the balance comes back', async () => {
    const pair = await replicas(
      { FRAMEFILL_LEASE_S: '1', FRAMEFILL_UPSTREAM_CONCURRENCY: '4' },
      { FRAMEFILL_DRAFT_DELAY_MS: '600000' },
    );
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const response = await submitGeneration(pair.a.url, oneK, { token: pair.token });
        expect(response.status).toBe(202);
        ids.push(JobSchema.parse(await response.json()).id);
      }
      await until(async () =>
        (await Promise.all(ids.map((id) => job(pair.b.url, pair.token, id)))).every((j) => j.status === 'running'),
      );
      expect((await account(pair.b.url, pair.token)).balance_credits).toBe(100 - 4 * 6);
      await pair.a.stop('SIGKILL');
      await until(async () =>
        (await Promise.all(ids.map((id) => job(pair.b.url, pair.token, id)))).every((j) => j.status === 'interrupted'),
      );
      for (const id of ids) {
        const rows = await query<{ kind: string; amount: number }>(
          pair.databaseUrl,
          'SELECT kind, amount::int AS amount FROM ledger WHERE job_id = $1 ORDER BY id',
          [id],
        );
        expect(rows).toEqual([
          { kind: 'reserve', amount: -6 },
          { kind: 'release', amount: 6 },
        ]);
        expect((await job(pair.b.url, pair.token, id)).error?.code).toBe('interrupted');
      }
      expect(await account(pair.b.url, pair.token)).toMatchObject({ balance_credits: 100, spent_credits: 0 });
      const interrupted = pair.b
        .output()
        .split('\n')
        .filter((line) => line.includes('"reason":"lease_lapsed"'));
      expect(interrupted).toHaveLength(4);
    } finally {
      await pair.stop();
    }
  });
});

describe('start-up with DATABASE_URL', () => {
  it('refuses an unreachable database with one line and a non-zero exit, for the server and the token CLI', async () => {
    const env = {
      DATABASE_URL: 'postgres://framefill:secret@127.0.0.1:1/framefill',
      FRAMEFILL_DATA_DIR: tempDataDir(),
    };
    for (const args of [[], ['token', 'list']]) {
      const result = await runProxyCli(args, { ...env, HOST: '127.0.0.1', PORT: '0' });
      expect(result.code).not.toBe(0);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^framefill proxy: Cannot use DATABASE_URL \(postgres:\/\/framefill@127\.0\.0\.1:1\/framefill\): /,
      );
      expect(result.stderr).not.toContain('secret');
    }
  });

  it('the token commands work on the database: a token made and credited there is listed there', async () => {
    const env = { DATABASE_URL: await freshDatabase(), FRAMEFILL_DATA_DIR: tempDataDir() };
    expect((await runProxyCli(['token', 'create', '--name', 'ops', '--credits', '5'], env)).code).toBe(0);
    expect((await runProxyCli(['token', 'credit', 'ops', '7'], env)).stdout).toContain(
      'Token "ops" now has 12 credits.',
    );
    // Another data dir, the same database: the token is in the database, not in a file.
    const listed = await runProxyCli(['token', 'list'], { ...env, FRAMEFILL_DATA_DIR: tempDataDir() });
    expect(listed.stdout).toMatch(/^ops\t\S+\tbalance 12\tspent 0\tactive$/m);
  });

  it('/v1/health answers 503 with reachable: false while the database refuses connections', async () => {
    const databaseUrl = await freshDatabase();
    const proxy = await startTestProxy({ DATABASE_URL: databaseUrl });
    const name = new URL(databaseUrl).pathname.slice(1);
    const admin = new URL(databaseUrl);
    admin.pathname = '/postgres';
    try {
      expect((await fetch(`${proxy.url}/v1/health`)).status).toBe(200);
      await query(admin.toString(), `ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await query(admin.toString(), 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
        name,
      ]);
      const response = await fetch(`${proxy.url}/v1/health`);
      expect(response.status).toBe(503);
      expect(HealthSchema.parse(await response.json())).toMatchObject({
        ok: false,
        store: { engine: 'postgres', reachable: false },
      });
      await query(admin.toString(), `ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      expect((await fetch(`${proxy.url}/v1/health`)).status).toBe(200);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a URL that is not PostgreSQL', async () => {
    const result = await runProxyCli(['token', 'list'], { DATABASE_URL: 'mysql://x@127.0.0.1/y' });
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim()).toBe(
      'framefill proxy: Invalid configuration: DATABASE_URL: DATABASE_URL must be a postgres:// or postgresql:// URL',
    );
  });
});
