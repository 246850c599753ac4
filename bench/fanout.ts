// §3 Event fan-out: hundreds of clients follow one running job; the upstream is held until every stream is open,
// then released, and each client's `completed` arrival is compared with the proxy's own completion time (its log).
import type { FakeOpenAI } from '../test/fakes/openai-upstream';
import { form, now, submit, subscribe } from './client';
import type { Row } from './stats';
import { percentile, summarize } from './stats';

export interface FanoutRun {
  subscribers: number;
  p50: number;
  p99: number;
  last: number;
  /** Release of the upstream → the proxy's completion: not fan-out, shown for context. */
  upstreamToCompletion: number;
}

export async function measureFanout(
  proxyUrl: string,
  fake: FakeOpenAI,
  proxyLog: () => string,
  opts: { subscribers: number; runs: number },
): Promise<{ rows: Row[]; runs: FanoutRun[] }> {
  const fields = { prompt: 'Fan-out', aspect_ratio: '16:9', resolution: '1K', quality: 'low', output_format: 'png' };
  const runs: FanoutRun[] = [];
  for (let run = 0; run < opts.runs; run++) {
    let release: () => void = () => undefined;
    fake.failNext({ kind: 'hold', until: new Promise<void>((resolve) => (release = resolve)) });
    const seen = fake.requests.length;
    const id = await submit(proxyUrl, form(fields, []));
    await fake.received(seen + 1);
    const streams = Array.from({ length: opts.subscribers }, () => subscribe(proxyUrl, id));
    await Promise.all(streams.map((s) => s.opened));
    const released = now();
    release();
    const finals = await Promise.all(
      streams.map(async (s) => {
        const events = await s.done;
        const completed = events.find((e) => e.event === 'completed');
        if (!completed) throw new Error(`a subscriber missed completed: ${JSON.stringify(events.at(-1))}`);
        return completed.at;
      }),
    );
    const completedAt = await completionTime(proxyLog, id);
    const latencies = finals.map((t) => t - completedAt);
    runs.push({
      subscribers: opts.subscribers,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      last: Math.max(...latencies),
      upstreamToCompletion: completedAt - released,
    });
  }
  const p99 = summarize(runs.map((r) => r.p99));
  return {
    rows: [
      {
        section: '3',
        metric: `completion → subscriber p50 (${opts.subscribers} streams)`,
        unit: 'ms',
        summary: summarize(runs.map((r) => r.p50)),
      },
      {
        section: '3',
        metric: `completion → subscriber p99 (${opts.subscribers} streams)`,
        unit: 'ms',
        summary: p99,
        target: '≤ 250 ms',
        pass: p99.max <= 250,
      },
      { section: '3', metric: 'completion → last subscriber', unit: 'ms', summary: summarize(runs.map((r) => r.last)) },
    ],
    runs,
  };
}

/**
 * The proxy logs `{time, kind: "job", id, status: "completed"}` just before it publishes the event; its stdout
 * may reach this process after the subscribers' sockets do, so the line is waited for (up to 2 s).
 */
async function completionTime(proxyLog: () => string, id: string): Promise<number> {
  const deadline = performance.now() + 2000;
  do {
    for (const line of proxyLog().split('\n')) {
      if (!line.includes(id) || !line.includes('"completed"')) continue;
      const parsed = JSON.parse(line) as { time?: string; kind?: string; status?: string };
      if (parsed.kind === 'job' && parsed.status === 'completed' && parsed.time) return Date.parse(parsed.time);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  } while (performance.now() < deadline);
  throw new Error(`the proxy never logged ${id} as completed`);
}
