// `npm run bench`: Framefill's own cost next to the model's, and what the proxy holds under load — every figure
// as min / median / max over several runs, printed as one table and written to bench/results.json.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { startFakeOpenAI } from '../test/fakes/openai-upstream';
import { ROOT, spawnProxy } from '../test/helpers/proxy';
import type { Reference } from './client';
import { measureDelivery, measureDraft } from './draft';
import { measureFanout } from './fanout';
import { encode, photoLike, photoReference } from './fixtures';
import { measureMemory } from './memory';
import { measureOverhead } from './overhead';
import { measureReferences } from './references';
import { startSinkUpstream } from './sink-upstream';
import { type Row, table } from './stats';
import { startPipeProcess, startUpstreamProcess } from './upstream-process';

const RUNS = 5;
/** §1 alternates two paths that share 2 cores with each other's processes: more runs steady its medians. */
const OVERHEAD_RUNS = 11;
const MEMORY_RUNS = 3;
const MEMORY_JOBS = 50;
/** After the warm-up job: the proxy collects 1 s after its last request (proxy/idle-gc.ts), then is at rest. */
const REST_MS = 2500;
/**
 * The launch README "Deploying" recommends on glibc Linux (see there for why): glibc gives freed network buffers
 * back, and V8 keeps a small young generation. Both only act when set before the process starts.
 */
const GLIBC_TUNABLES =
  'glibc.malloc.mmap_threshold=16384:glibc.malloc.trim_threshold=65536:glibc.malloc.top_pad=0:glibc.malloc.arena_max=2';
const RECOMMENDED_LAUNCH = { GLIBC_TUNABLES };
/** The Node flags `npm start` gives the proxy (package.json), so every proxy here is launched the same way. */
const START_NODE_ARGS = startNodeArgs();
const SUBSCRIBERS = 500;
/** The side of a 4:3 photo-like PNG of about 2 MB. */
const REFERENCE_SIDE = 1000;

export { runPipeChild, runUpstreamChild } from './upstream-process';

export async function main(args: string[]): Promise<void> {
  const only = new Set(args.filter((a) => /^[1-5]$/.test(a)));
  const want = (n: string) => only.size === 0 || only.has(n);
  const started = performance.now();
  const log = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${line}`);
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const cleanups: Array<() => Promise<unknown>> = [];

  try {
    log('making 16 photo-like references of ~2 MB');
    const bytes = await Promise.all(Array.from({ length: 16 }, (_, i) => photoReference(i + 1, REFERENCE_SIDE)));
    const references: Reference[] = bytes.map((b, i) => ({
      blob: new Blob([new Uint8Array(b)], { type: 'image/png' }),
      name: `reference-${i + 1}.png`,
    }));
    details.referenceMB = bytes.map((b) => +(b.length / 1024 / 1024).toFixed(2));

    if (want('1')) {
      const upstream = await startUpstreamProcess(process.argv[1]!);
      cleanups.push(() => upstream.close());
      const pipe = await startPipeProcess(process.argv[1]!, upstream.url);
      cleanups.push(() => pipe.close());
      const proxy = await benchProxy(upstream.url, 16, cleanups);
      log('1. proxy overhead');
      const overhead = await measureOverhead(
        proxy.url,
        upstream.url,
        pipe.url,
        [
          { name: 'text-to-image 4K', references: [], bytes: [] },
          { name: 'image-to-image 4K, 16 × ~2 MB', references, bytes },
        ],
        OVERHEAD_RUNS,
        upstream.clear,
        proxy.child.pid!,
      );
      rows.push(...overhead.rows);
      details.overhead = overhead.raw;
    }

    if (want('3')) {
      const fake = await startFakeOpenAI();
      cleanups.push(() => fake.close());
      const proxy = await benchProxy(fake.url, 16, cleanups);
      log(`3. event fan-out to ${SUBSCRIBERS} subscribers`);
      const fanout = await measureFanout(proxy.url, fake, proxy.output, { subscribers: SUBSCRIBERS, runs: RUNS });
      rows.push(...fanout.rows);
      details.fanout = fanout.runs;
    }

    if (want('2') || want('5')) {
      const small = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#5080c0' } })
        .png()
        .toBuffer();
      const sink = await startSinkUpstream(small, 2000);
      cleanups.push(() => sink.close());
      const proxy = await benchProxy(sink.url, MEMORY_JOBS, cleanups);
      if (want('2')) {
        log(`2. memory: ${MEMORY_JOBS} concurrent 16-reference jobs, upstream holding each 2 s`);
        const memory = await measureMemory(proxy.url, proxy.child.pid!, references, {
          jobs: MEMORY_JOBS,
          runs: MEMORY_RUNS,
          settleMs: 5000,
          restMs: REST_MS,
          label: '',
        });
        rows.push(...memory.rows);
        details.memory = memory.runs;
        // The same with the launch README recommends for Linux servers.
        const tuned = await benchProxy(sink.url, MEMORY_JOBS, cleanups, RECOMMENDED_LAUNCH);
        log(`2. memory again, launched as recommended: ${JSON.stringify(RECOMMENDED_LAUNCH)}`);
        const withTunables = await measureMemory(tuned.url, tuned.child.pid!, references, {
          jobs: MEMORY_JOBS,
          runs: MEMORY_RUNS,
          settleMs: 5000,
          restMs: REST_MS,
          label: 'recommended launch',
        });
        rows.push(...withTunables.rows.filter((row) => !row.metric.startsWith('reference bytes')));
        details.memoryWithTunables = withTunables.runs;
      }
      if (want('5')) {
        log('5. result delivery of a 4K photo-like PNG');
        sink.setImage(await encode(await photoLike(3840, 2160, 4242), 'png'));
        const delivery = await measureDelivery(proxy.url, RUNS);
        rows.push(...delivery.rows);
      }
    }

    if (want('5')) {
      log('5. draft provider render per tier');
      const refs = bytes.map((b) => ({
        bytes: new Uint8Array(b),
        mime: 'image/png' as const,
        width: REFERENCE_SIDE,
        height: 750,
      }));
      rows.push(...(await measureDraft(refs, 3)));
    }

    if (want('4')) {
      log('4. reference bytes per playground frame at maxEdge 2048');
      const refs = await measureReferences();
      rows.push(...refs.rows);
      details.references = refs.frames;
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }

  const totalSeconds = (performance.now() - started) / 1000;
  console.log(`\n${table(rows)}\n`);
  console.log('§1–3, §5: runs are repetitions; §4: "runs" are the playground frames (min/median/max over frames).');
  console.log(
    `Total ${totalSeconds.toFixed(0)} s on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}.`,
  );
  const results = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGB: +(os.totalmem() / 1024 ** 3).toFixed(1),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    totalSeconds: +totalSeconds.toFixed(1),
    rows,
    details,
  };
  if (only.size === 0) writeFileSync(path.join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  else console.log('(a subset was run: bench/results.json left as it was)');
}

function startNodeArgs(): string[] {
  const { scripts } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const launch = /\bnode ((?:--\S+ )*)build\/proxy\.mjs/.exec(scripts.start ?? '');
  if (!launch) throw new Error('package.json "start" no longer runs `node [flags] build/proxy.mjs`');
  return launch[1]!.split(' ').filter(Boolean);
}

/** The built proxy on the OpenAI provider against `upstreamUrl`; stopped, and its data removed, at the end. */
async function benchProxy(
  upstreamUrl: string,
  concurrency: number,
  cleanups: Array<() => Promise<unknown>>,
  env: Record<string, string> = {},
) {
  const proxy = await spawnProxy(
    {
      FRAMEFILL_PROVIDER: 'openai',
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_BASE_URL: upstreamUrl,
      FRAMEFILL_UPSTREAM_CONCURRENCY: String(concurrency),
      ...env,
    },
    [],
    START_NODE_ARGS,
  );
  cleanups.push(async () => {
    await proxy.stop();
    rmSync(proxy.dataDir, { recursive: true, force: true });
  });
  return proxy;
}
