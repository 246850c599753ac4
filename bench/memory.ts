// §2 Memory under load: many concurrent 16-reference jobs against an upstream that holds each one, with the
// proxy's resident memory sampled from /proc while they run and after they end.
import { readFileSync } from 'node:fs';
import { completion, form, type Reference, submit } from './client';
import type { Row } from './stats';
import { summarize } from './stats';

const MB = 1024 * 1024;

/** VmRSS and VmHWM of a process, in bytes (Linux). */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface MemoryRun {
  baselineMB: number;
  peakMB: number;
  hwmMB: number;
  afterMB: number;
  inFlightMB: number;
  perRequestMB: number;
  settleMs: number;
  wallMs: number;
}

export async function measureMemory(
  proxyUrl: string,
  pid: number,
  references: readonly Reference[],
  opts: { jobs: number; runs: number; settleMs: number; restMs: number; label: string },
): Promise<{ rows: Row[]; runs: MemoryRun[] }> {
  const fields = { prompt: 'Load test', aspect_ratio: '16:9', resolution: '1K', quality: 'low', output_format: 'png' };
  const referenceBytes = references.reduce((sum, r) => sum + r.blob.size, 0);
  // One job first, so the baseline includes what any first job loads (sharp, the SDK, SQLite pages); then the rest
  // level, once the proxy's idle collection (1 s after the last request) has run.
  await completion(proxyUrl, await submit(proxyUrl, form(fields, references)));
  await sleep(opts.restMs);
  const runs: MemoryRun[] = [];
  // The rest level before any burst: every run's "after" must come back to it, not to the previous run's.
  const baseline = memoryOf(pid).rss;
  for (let run = 0; run < opts.runs; run++) {
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, memoryOf(pid).rss);
    }, 20);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: opts.jobs }, async () =>
        completion(proxyUrl, await submit(proxyUrl, form(fields, references))),
      ),
    );
    const wallMs = performance.now() - started;
    clearInterval(sampler);
    peak = Math.max(peak, memoryOf(pid).rss);
    // Back to baseline: poll until within 10 % or the settle time is over.
    const settleStart = performance.now();
    let after = memoryOf(pid).rss;
    while (Math.abs(after - baseline) > baseline * 0.1 && performance.now() - settleStart < opts.settleMs) {
      await sleep(250);
      after = memoryOf(pid).rss;
    }
    runs.push({
      baselineMB: baseline / MB,
      peakMB: peak / MB,
      hwmMB: memoryOf(pid).hwm / MB,
      afterMB: after / MB,
      inFlightMB: (referenceBytes * opts.jobs) / MB,
      perRequestMB: (peak - baseline) / opts.jobs / MB,
      settleMs: performance.now() - settleStart,
      wallMs,
    });
  }
  const inFlight = (referenceBytes * opts.jobs) / MB;
  const peakLimit = 2 * inFlight + 150;
  const peak = summarize(runs.map((r) => r.peakMB));
  const drift = summarize(runs.map((r) => ((r.afterMB - r.baselineMB) / r.baselineMB) * 100));
  const tag = opts.label ? ` (${opts.label})` : '';
  const rows: Row[] = [
    {
      section: '2',
      metric: `reference bytes in flight (${opts.jobs} jobs × 16)`,
      unit: 'MB',
      summary: summarize([inFlight]),
    },
    {
      section: '2',
      metric: `proxy RSS at rest before the burst${tag}`,
      unit: 'MB',
      summary: summarize(runs.map((r) => r.baselineMB)),
    },
    {
      section: '2',
      metric: `proxy peak RSS, ${opts.jobs} concurrent jobs${tag}`,
      unit: 'MB',
      summary: peak,
      target: `≤ ${peakLimit.toFixed(0)} MB`,
      pass: peak.max <= peakLimit,
    },
    {
      section: '2',
      metric: `RSS per in-flight request${tag}`,
      unit: 'MB',
      summary: summarize(runs.map((r) => r.perRequestMB)),
    },
    {
      section: '2',
      metric: `RSS after, vs before (within ${(opts.settleMs / 1000).toFixed(0)} s)${tag}`,
      unit: '%',
      summary: drift,
      target: '±10 %',
      pass: Math.abs(drift.max) <= 10 && Math.abs(drift.min) <= 10,
    },
    {
      section: '2',
      metric: `burst wall time (upstream holds 2 s)${tag}`,
      unit: 'ms',
      summary: summarize(runs.map((r) => r.wallMs)),
    },
  ];
  return { rows, runs };
}
