// The LISTEN connection across a drop (a server restart, a failover, `pg_terminate_backend`): the proxy re-LISTENs
// by itself, and a stream that follows a job on that replica ends with the job's terminal event through the
// notices, never waiting for the keep-alive poll (its comment would show in the stream), even when the job ended
// while nobody listened; and a job this replica runs that another replica canceled meanwhile stops its upstream call.
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { JobSchema } from '../../core/api';
import { LISTEN_APPLICATION } from '../../proxy/store/postgres';
import {
  api,
  databaseFor,
  readEvents,
  type SseEvent,
  startTestProxy,
  submitGeneration,
  type TestProxy,
} from '../helpers/proxy';

const fields = { prompt: 'a lighthouse in fog', aspect_ratio: '1:1', resolution: '1K' };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  cleanups.push(() => client.end().catch(() => undefined));
  return client;
}

/** A proxy on its own PostgreSQL database, and a connection to that database for the test. */
async function proxyOnPostgres(env: Record<string, string>) {
  const proxy: TestProxy = await startTestProxy(env, { engine: 'postgres' });
  cleanups.push(() => proxy.close(0));
  const url = (await databaseFor('postgres', proxy.dataDir)).DATABASE_URL!;
  return { proxy, url, db: await connect(url), name: new URL(url).pathname.slice(1) };
}

/**
 * Ends the proxy's LISTEN connection from the server side, found by its name (its last query is not always the LISTEN);
 * resolves with how many it ended.
 */
async function terminateListen(db: pg.Client): Promise<number> {
  const { rows } = await db.query(
    `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = $1`,
    [LISTEN_APPLICATION],
  );
  return rows.filter((r: { ended: boolean }) => r.ended).length;
}

const listening = async (db: pg.Client) =>
  Number(
    (
      await db.query(
        `SELECT COUNT(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = $1`,
        [LISTEN_APPLICATION],
      )
    ).rows[0].n,
  );

/** Submits and starts following the job; `running` resolves once the stream said the job runs. */
async function followJob(proxy: TestProxy) {
  const response = await submitGeneration(proxy.url, fields);
  expect(response.status).toBe(202);
  const { id } = JobSchema.parse(await response.json());
  let ran = () => {};
  const running = new Promise<void>((resolve) => (ran = resolve));
  let ended = false;
  const stream = readEvents(proxy.url, id, {
    onEvent: (event: SseEvent) => {
      if (event.event === 'status' && (event.data as { status: string }).status === 'running') ran();
    },
  }).finally(() => (ended = true));
  return { id, running, stream, ended: () => ended };
}

const statusOf = async (db: pg.Client, id: string) =>
  (await db.query('SELECT status FROM jobs WHERE id = $1', [id])).rows[0]?.status as string | undefined;

describe('the LISTEN connection, dropped', () => {
  it('is made again by itself while a job runs, and the job’s stream ends with its terminal event', async () => {
    const { proxy, db } = await proxyOnPostgres({ FRAMEFILL_DRAFT_DELAY_MS: '1500' });
    expect(await listening(db)).toBe(1);
    const job = await followJob(proxy);
    await job.running;
    expect(await terminateListen(db)).toBe(1);
    const { events, comments } = await job.stream;
    expect(events.at(-1)?.event).toBe('completed');
    expect(comments).toBe(0);
    await expect.poll(() => listening(db)).toBe(1);
    // The new connection carries the notices of the next job too.
    const next = await followJob(proxy);
    const after = await next.stream;
    expect(after.events.at(-1)?.event).toBe('completed');
    expect(after.comments).toBe(0);
  });

  it('when the job ends while no connection listens: the stream ends once the proxy listens again', async () => {
    const { proxy, db, name } = await proxyOnPostgres({ FRAMEFILL_DRAFT_DELAY_MS: '1500' });
    const admin = await connect(inject('postgresAdminUrl'));
    const job = await followJob(proxy);
    await job.running;
    // No new connection to the database (the proxy's pool keeps the ones it has): the LISTEN cannot come back yet.
    await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
    cleanups.push(() => admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`));
    expect(await terminateListen(db)).toBe(1);
    await expect.poll(() => statusOf(db, job.id), { timeout: 10_000 }).toBe('completed');
    // Its completion was told while nobody on this replica listened: the stream is still waiting.
    expect(job.ended()).toBe(false);
    await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
    const { events, comments } = await job.stream;
    expect(events.at(-1)).toMatchObject({ event: 'completed', data: { id: job.id } });
    expect(comments).toBe(0);
    await expect.poll(() => listening(db)).toBe(1);
  });
});

describe('notices missed while the LISTEN connection was down', () => {
  it('a job canceled through another replica meanwhile stops its upstream call here once this replica listens again', async () => {
    // One upstream call at a time on A, each 30 s long: the second job runs only once the first's call has stopped.
    const {
      proxy: a,
      db,
      name,
    } = await proxyOnPostgres({
      FRAMEFILL_DRAFT_DELAY_MS: '30000',
      FRAMEFILL_UPSTREAM_CONCURRENCY: '1',
    });
    const b = await startTestProxy({ FRAMEFILL_DATA_DIR: a.dataDir }, { engine: 'postgres' });
    cleanups.push(() => b.close(0));
    const admin = await connect(inject('postgresAdminUrl'));
    const listenPid = async () =>
      (
        await db.query(
          `SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = $1 ORDER BY backend_start LIMIT 1`,
          [LISTEN_APPLICATION],
        )
      ).rows[0]?.pid as number;
    const aListen = await listenPid();

    const submit = async () => JobSchema.parse(await (await submitGeneration(a.url, fields)).json()).id;
    const first = await submit();
    await expect.poll(() => statusOf(db, first)).toBe('running');
    const second = await submit();
    expect(await statusOf(db, second)).toBe('queued');

    // No new connection to the database, and A's LISTEN ended: A cannot listen again, while B works on the
    // connections it has (asked at once just now, so its pool holds several).
    const asked = await Promise.all(Array.from({ length: 4 }, () => api(`${b.url}/v1/generations/${first}`)));
    expect(asked.map((response) => response.status)).toEqual([200, 200, 200, 200]);
    await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
    cleanups.push(() => admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`));
    await db.query('SELECT pg_terminate_backend($1)', [aListen]);
    const canceled = await api(`${b.url}/v1/generations/${first}`, { method: 'DELETE' });
    expect(JobSchema.parse(await canceled.json()).status).toBe('canceled');
    // B's notice went out while A did not listen: A's call goes on, and the second job waits behind it.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await statusOf(db, second)).toBe('queued');

    // A listens again, reads the state of the jobs it runs, and stops the canceled one's call: the second runs.
    await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
    await expect.poll(() => statusOf(db, second), { timeout: 10_000 }).toBe('running');
    expect(await statusOf(db, first)).toBe('canceled');
  });
});
