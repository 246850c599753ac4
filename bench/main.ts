// `npm run bench`: what a designer waits for, and what the proxy holds — every figure as min / median / max over
// its runs, printed as one table and written to bench/results.json. `node bench/run.mjs 5` runs one section.
//   1  Framefill's share of click → placed (Chromium, the playground's built plugin, 16 references, 4K result)
//   2  bytes on the wire per job, against the least that carries the same pixels (from §1's jobs)
//   3  event fan-out: 500 streams following one job
//   4  reference bytes per playground frame, as the panel sends them
//   5  1,000 jobs held at once, each with its event stream open
//   6  a 4K result as PNG and as JPEG
//   7  jobs per second through one replica and through two on one PostgreSQL (draft provider, no delay)
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startFakeOpenAI } from '../test/fakes/openai-upstream';
import { ROOT, spawnProxy } from '../test/helpers/proxy';
import { measureClickToPlaced, resultImage } from './click-to-placed';
import { measureFanout } from './fanout';
import { encode, photoLike } from './fixtures';
import { startHoldUpstream } from './hold-upstream';
import { gate, measureHolding } from './holding';
import { measureOutputFormat } from './output-format';
import { measureReferences } from './references';
import { measureReplicas } from './replicas';
import { type Row, table } from './stats';

/**
 * §1's upstream holds each call this long. Framefill does nothing while the model works but relay one preview, so
 * (click → placed) − T does not depend on T once T covers that preview; 3 s does, and keeps five runs short.
 */
const HOLD_MS = 3000;
const CLICK_RUNS = 5;
const FANOUT_RUNS = 5;
const SUBSCRIBERS = 500;
const HELD_JOBS = 1000;
/** How long all 1,000 are held together while the proxy is measured (a real call takes 30–120 s). */
const DWELL_MS = 10_000;
const REPLICA_RUNS = 3;
const REPLICA_JOBS = 150;
const REPLICA_CONCURRENCY = 16;

/** Every bench proxy: the OpenAI provider against a local upstream; per-client caps above a single token's load. */
function proxyEnv(upstreamUrl: string, concurrency: number): Record<string, string> {
  return {
    FRAMEFILL_PROVIDER: 'openai',
    OPENAI_API_KEY: 'sk-bench',
    OPENAI_BASE_URL: upstreamUrl,
    FRAMEFILL_UPSTREAM_CONCURRENCY: String(concurrency),
    FRAMEFILL_MAX_STREAMS_PER_TOKEN: '5000',
    FRAMEFILL_MAX_STREAMS_PER_ADDRESS: '5000',
    FRAMEFILL_MAX_UPLOADS_PER_TOKEN: '1000',
    FRAMEFILL_MAX_JOBS_PER_TOKEN: '5000',
    // The bench never fetches most results: stop at once instead of waiting for them.
    FRAMEFILL_SHUTDOWN_GRACE_S: '0',
  };
}

export async function main(args: string[]): Promise<void> {
  const only = new Set(args.filter((a) => /^[1-7]$/.test(a)));
  const want = (n: string) => only.size === 0 || only.has(n);
  const started = performance.now();
  const log = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${line}`);
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const cleanups: Array<() => Promise<unknown>> = [];
  const benchProxy = async (upstreamUrl: string, concurrency: number) => {
    const proxy = await spawnProxy(proxyEnv(upstreamUrl, concurrency));
    cleanups.push(async () => {
      await proxy.stop();
      rmSync(proxy.dataDir, { recursive: true, force: true });
    });
    return proxy;
  };

  try {
    if (want('1') || want('2')) {
      log(`1–2. click → placed in Chromium, upstream holding each call ${HOLD_MS} ms`);
      const upstream = await startHoldUpstream({
        hold: () => new Promise((resolve) => setTimeout(resolve, HOLD_MS)),
        partialAfterMs: HOLD_MS / 2,
        image: resultImage,
        parseEdits: true,
      });
      cleanups.push(() => upstream.close());
      const proxy = await benchProxy(upstream.url, 4);
      // The panel's own output format first; then JPEG (the proxy's default) if the panel asked for PNG.
      const series = [await measureClickToPlaced(proxy, upstream, { runs: CLICK_RUNS, holdMs: HOLD_MS, log })];
      if (series[0]!.resultFormat !== 'jpeg') {
        log('1–2. again with JPEG chosen in the panel settings');
        series.push(
          await measureClickToPlaced(proxy, upstream, { runs: CLICK_RUNS, holdMs: HOLD_MS, log, outputFormat: 'jpeg' }),
        );
      }
      for (const [i, click] of series.entries()) {
        // The references are the same in every series: their rows once.
        const same = (row: Row) =>
          i > 0 && row.section === '2' && /references as|least carrying| {2}up[,\s]/.test(row.metric);
        rows.push(...click.rows.filter((row) => want(row.section) && !same(row)));
      }
      details.clickToPlaced = series.map((click) => ({
        format: click.resultFormat,
        runs: click.runs,
        references: click.references,
        resultBytes: click.resultBytes,
      }));
    }

    if (want('3')) {
      const fake = await startFakeOpenAI();
      cleanups.push(() => fake.close());
      const proxy = await benchProxy(fake.url, 16);
      log(`3. event fan-out to ${SUBSCRIBERS} subscribers`);
      const fanout = await measureFanout(proxy.url, fake, proxy.output, {
        subscribers: SUBSCRIBERS,
        runs: FANOUT_RUNS,
      });
      rows.push(...fanout.rows);
      details.fanout = fanout.runs;
    }

    if (want('4')) {
      log('4. reference bytes per playground frame at maxEdge 2048');
      const refs = await measureReferences();
      rows.push(...refs.rows);
      details.references = refs.frames;
    }

    if (want('6')) {
      log('6. a 4K result as PNG and as JPEG');
      rows.push(...(await measureOutputFormat()));
    }

    if (want('7')) {
      log('7. jobs per second through one replica and through two on one PostgreSQL');
      const replicas = await measureReplicas({
        runs: REPLICA_RUNS,
        jobs: REPLICA_JOBS,
        concurrency: REPLICA_CONCURRENCY,
        log,
      });
      rows.push(...replicas.rows);
      details.replicas = replicas.details;
    }

    if (want('5')) {
      const hold = gate();
      const upstream = await startHoldUpstream({
        hold: () => hold.wait(),
        partialAfterMs: 2000,
        image: async (width, height, format) => encode(await photoLike(width, height, 77), format, 95),
      });
      cleanups.push(() => upstream.close());
      const proxy = await benchProxy(upstream.url, HELD_JOBS);
      log(`5. ${HELD_JOBS} jobs held at once, each with its event stream open`);
      const holding = await measureHolding(proxy, upstream, hold, {
        jobs: HELD_JOBS,
        dwellMs: DWELL_MS,
        submitConcurrency: 16,
        log,
      });
      rows.push(...holding.rows);
      details.holding = holding.details;
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }

  const totalSeconds = (performance.now() - started) / 1000;
  console.log(`\n${table(rows)}\n`);
  console.log(
    `§1, §3: runs are repetitions (§1 after one warm-up job); §2: per job of §1; §4: "runs" are the playground frames; §5: one burst, samples every 250 ms; §6: one encode each; §7: runs of ${REPLICA_JOBS} jobs after a warm-up.`,
  );
  console.log(
    `Total ${totalSeconds.toFixed(0)} s on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; open files limit ${process.env.FRAMEFILL_BENCH_NOFILE ?? 'unknown'}.`,
  );
  const results = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGB: +(os.totalmem() / 1024 ** 3).toFixed(1),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      openFilesLimit: process.env.FRAMEFILL_BENCH_NOFILE,
    },
    totalSeconds: +totalSeconds.toFixed(1),
    rows,
    details,
  };
  if (only.size === 0) writeFileSync(path.join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  else console.log('(a subset was run: bench/results.json left as it was)');
}
