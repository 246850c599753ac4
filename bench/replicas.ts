// §7 Replicas: jobs per second through one proxy and through two on the same PostgreSQL, same machine, with the
// draft provider and no delay, so what is measured is the proxy and the store, not a model. Each job is run as the
// panel runs it (submit → events until completed → image); with two replicas the client alternates between them,
// and a job's stream and image are read from the replica that did not take it. The ratio is the figure: on one
// machine both replicas share its cores, so it says what a second process costs or gains, not a cluster's scale.
import { rmSync } from 'node:fs';
import { createDatabase, startCluster } from '../test/helpers/postgres';
import { type SpawnedProxy, spawnProxy } from '../test/helpers/proxy';
import { completion, fetchImage, form, submit } from './client';
import { type Row, summarize } from './stats';

const FIELDS = { prompt: 'Replicas', aspect_ratio: '16:9', resolution: '1K', quality: 'low', output_format: 'jpeg' };

async function replicas(count: number, databaseUrl: string): Promise<SpawnedProxy[]> {
  const env = {
    DATABASE_URL: databaseUrl,
    FRAMEFILL_PROVIDER: 'draft',
    FRAMEFILL_DRAFT_DELAY_MS: '0',
    FRAMEFILL_UPSTREAM_CONCURRENCY: '8',
    FRAMEFILL_MAX_JOBS_PER_TOKEN: '5000',
    FRAMEFILL_MAX_UPLOADS_PER_TOKEN: '1000',
    FRAMEFILL_SHUTDOWN_GRACE_S: '0',
  };
  return Promise.all(Array.from({ length: count }, () => spawnProxy(env)));
}

/** Jobs per second over `jobs` jobs, `concurrency` in flight, spread over the replicas. */
async function throughput(proxies: SpawnedProxy[], jobs: number, concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs) {
        const n = next++;
        const taker = proxies[n % proxies.length]!;
        const reader = proxies[(n + 1) % proxies.length]!;
        const id = await submit(taker.url, form(FIELDS, []));
        await completion(reader.url, id);
        await fetchImage(reader.url, id);
      }
    }),
  );
  return jobs / ((performance.now() - started) / 1000);
}

export async function measureReplicas(opts: {
  runs: number;
  jobs: number;
  concurrency: number;
  log: (line: string) => void;
}): Promise<{ rows: Row[]; details: Record<string, number[]> }> {
  const cluster = await startCluster();
  const one: number[] = [];
  const two: number[] = [];
  try {
    for (const [count, into] of [
      [1, one],
      [2, two],
    ] as const) {
      const proxies = await replicas(count, await createDatabase(cluster.adminUrl));
      try {
        await throughput(proxies, 20, opts.concurrency); // warm-up: migrations done, JIT warm, pools open
        for (let run = 0; run < opts.runs; run++) {
          into.push(await throughput(proxies, opts.jobs, opts.concurrency));
          opts.log(`7. ${count} replica(s), run ${run + 1}: ${into.at(-1)!.toFixed(1)} jobs/s`);
        }
      } finally {
        for (const proxy of proxies) {
          await proxy.stop();
          rmSync(proxy.dataDir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    cluster.stop();
  }
  const ratios = one.map((value, i) => two[i]! / value);
  const what = `draft 1K JPEG, no delay, ${opts.jobs} jobs, ${opts.concurrency} in flight, PostgreSQL`;
  return {
    rows: [
      { section: '7', metric: `jobs per second through 1 replica (${what})`, unit: 'jobs/s', summary: summarize(one) },
      {
        section: '7',
        metric: 'jobs per second through 2 replicas on the same machine',
        unit: 'jobs/s',
        summary: summarize(two),
      },
      { section: '7', metric: '2 replicas ÷ 1 replica (run by run)', unit: '×', summary: summarize(ratios) },
    ],
    details: { oneReplica: one, twoReplicas: two, ratio: ratios },
  };
}
