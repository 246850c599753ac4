// §5 Holding many jobs: 1,000 text-to-image jobs in flight at once, each with its event stream open, while the
// upstream holds every call (a real GPT Image 2 call takes 30–120 s). The proxy's resident memory and open file
// descriptors are read from /proc while all are held; then the upstream answers them all, and every job must
// complete exactly once — on its stream and in the proxy's log.
import { readdirSync, readFileSync } from 'node:fs';
import type { SpawnedProxy } from '../test/helpers/proxy';
import { auth, form, type StreamEvent, submit, subscribe } from './client';
import type { HoldUpstream } from './hold-upstream';
import { percentile, type Row, summarize } from './stats';

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** VmRSS of a process in bytes (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) * 1024;
}

export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The upstream's side of the hold: calls wait on `gate` until the bench opens it. */
export interface Gate {
  wait(): Promise<void>;
  open(): void;
  close(): void;
}

export function gate(): Gate {
  let opened = true;
  let release: () => void = () => undefined;
  let current = Promise.resolve();
  return {
    wait: () => current,
    open() {
      opened = true;
      release();
    },
    close() {
      if (!opened) return;
      opened = false;
      current = new Promise<void>((resolve) => (release = resolve));
    },
  };
}

export interface HoldingResult {
  rows: Row[];
  details: Record<string, unknown>;
}

const FIELDS = { prompt: 'A lighthouse at dusk', aspect_ratio: '1:1', resolution: '1K', quality: 'low' };

export async function measureHolding(
  proxy: SpawnedProxy,
  upstream: HoldUpstream,
  hold: Gate,
  opts: { jobs: number; dwellMs: number; submitConcurrency: number; log: (line: string) => void },
): Promise<HoldingResult> {
  const pid = proxy.child.pid!;
  // A few jobs first, so the rest level includes what any job loads (sharp, the SDK, SQLite pages).
  for (let i = 0; i < 5; i++) {
    const id = await submit(proxy.url, form(FIELDS, []));
    await subscribe(proxy.url, id).done;
  }
  await sleep(2000);
  const restSamples: number[] = [];
  for (let i = 0; i < 5; i++) {
    restSamples.push(rssOf(pid));
    await sleep(200);
  }
  const rest = percentile(restSamples, 50);
  const restFds = openFds(pid);
  const callsBefore = upstream.calls.length;

  hold.close();
  const started = performance.now();
  const ids: string[] = [];
  const streams: Promise<StreamEvent[]>[] = [];
  let next = 0;
  const submitter = async () => {
    while (next < opts.jobs) {
      next++;
      const id = await submit(proxy.url, form(FIELDS, []));
      ids.push(id);
      const stream = subscribe(proxy.url, id);
      streams.push(stream.done);
      await stream.opened;
    }
  };
  await Promise.all(Array.from({ length: opts.submitConcurrency }, submitter));
  const submittedMs = performance.now() - started;
  opts.log(`5. ${ids.length} jobs submitted with their streams open in ${(submittedMs / 1000).toFixed(1)} s`);
  const deadline = Date.now() + 120_000;
  while (upstream.held() < opts.jobs) {
    if (Date.now() > deadline) throw new Error(`only ${upstream.held()} of ${opts.jobs} calls reached the upstream`);
    await sleep(50);
  }
  const allHeldMs = performance.now() - started;
  const rss: number[] = [];
  const fds: number[] = [];
  const dwellEnd = performance.now() + opts.dwellMs;
  while (performance.now() < dwellEnd) {
    rss.push(rssOf(pid));
    fds.push(openFds(pid));
    await sleep(250);
  }
  const benchFds = openFds(process.pid);
  const heldNow = upstream.held();
  opts.log(`5. all ${heldNow} held for ${(opts.dwellMs / 1000).toFixed(0)} s; releasing the upstream`);
  const released = performance.now();
  hold.open();
  const outcomes = await Promise.all(streams);
  const drainMs = performance.now() - released;
  const longestHoldMs = released - started;

  // Exactly once: one `completed` per stream, as its last event; one `completed` line per job in the log.
  let completedOnce = 0;
  for (const events of outcomes) {
    const completed = events.filter((e) => e.event === 'completed').length;
    if (completed === 1 && events.at(-1)?.event === 'completed') completedOnce++;
  }
  await sleep(500);
  const logged = new Map<string, number>();
  for (const line of proxy.output().split('\n')) {
    if (!line.includes('"completed"')) continue;
    try {
      const parsed = JSON.parse(line) as { kind?: string; id?: string; status?: string };
      if (parsed.kind === 'job' && parsed.status === 'completed' && parsed.id)
        logged.set(parsed.id, (logged.get(parsed.id) ?? 0) + 1);
    } catch {
      // not a log line
    }
  }
  const loggedOnce = ids.filter((id) => logged.get(id) === 1).length;
  const account = (await (await fetch(`${proxy.url}/v1/account`, { headers: auth(proxy.url) })).json()) as {
    jobs_in_flight: number;
  };
  const upstreamCalls = upstream.calls.length - callsBefore;

  const peak = Math.max(...rss);
  const perJob = summarize(rss.map((r) => (r - rest) / opts.jobs / MB));
  const perJobPeak = (peak - rest) / opts.jobs / MB;
  const lost = opts.jobs - Math.min(completedOnce, loggedOnce);
  const rows: Row[] = [
    { section: '5', metric: 'proxy RSS at rest (after 5 warm-up jobs)', unit: 'MB', summary: summarize([rest / MB]) },
    {
      section: '5',
      metric: `proxy RSS, ${opts.jobs} jobs held with their streams open (samples over ${opts.dwellMs / 1000} s)`,
      unit: 'MB',
      summary: summarize(rss.map((r) => r / MB)),
    },
    {
      section: '5',
      metric: '  RSS per held job: (held − rest) ÷ jobs',
      unit: 'MB',
      summary: perJob,
      target: '≤ 1 MB',
      pass: perJobPeak <= 1,
    },
    {
      section: '5',
      metric: `proxy open file descriptors held (at rest ${restFds})`,
      unit: 'fds',
      summary: summarize(fds),
    },
    {
      section: '5',
      metric: `jobs completed exactly once (stream and log), of ${opts.jobs}; upstream calls ${upstreamCalls}`,
      unit: 'jobs',
      summary: summarize([Math.min(completedOnce, loggedOnce)]),
      target: `${opts.jobs}, none lost`,
      pass: lost === 0 && upstreamCalls === opts.jobs && account.jobs_in_flight === 0,
    },
    {
      section: '5',
      metric: `  time to submit ${opts.jobs} jobs and open their streams (${opts.submitConcurrency} at a time)`,
      unit: 's',
      summary: summarize([submittedMs / 1000]),
    },
    {
      section: '5',
      metric: `  time from the upstream's answers to the last job completed`,
      unit: 's',
      summary: summarize([drainMs / 1000]),
    },
  ];
  return {
    rows,
    details: {
      jobs: opts.jobs,
      restMB: rest / MB,
      heldMB: rss.map((r) => +(r / MB).toFixed(1)),
      peakPerJobMB: perJobPeak,
      restFds,
      heldFds: fds,
      benchProcessFds: benchFds,
      heldAtOnce: heldNow,
      completedOnceOnStream: completedOnce,
      completedOnceInLog: loggedOnce,
      upstreamCalls,
      jobsInFlightAfter: account.jobs_in_flight,
      submittedMs,
      allHeldMs,
      longestHoldMs,
      drainMs,
    },
  };
}
