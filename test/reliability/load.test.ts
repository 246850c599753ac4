// Load: many submissions at 50 concurrent against the built proxy (draft provider, tiny delay) while hundreds of
// event streams stay open. Nothing is lost or duplicated, every stream ends exactly once, the ledger is exact.
// Submit latency is measured and written to build/reliability-results.json (figures only: no timed assertion).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobSchema } from '../../core/api';
import {
  api,
  ROOT,
  readEvents,
  runProxyCli,
  type SpawnedProxy,
  spawnProxy,
  submitGeneration,
  tempDataDir,
} from '../helpers/proxy';
import { jobsWithWrongLedger, ledgerFacts, openDbReadOnly, percentile, pool, recordFigures, size } from './support';

const SUBMISSIONS = size(2000, 5000);
const STREAMS = size(500, 1000);
const CONCURRENT = 50;
const TOKENS = 5;
const CREDITS = 6 * SUBMISSIONS;
const RATIOS = ['1:1', '16:9', '9:16', '4:3', '3:4'] as const;

let server: SpawnedProxy;
let dataDir: string;
const tokens: string[] = [];

beforeAll(async () => {
  execFileSync(process.execPath, ['build.mjs', '--no-typecheck', '--quiet', '--proxy-only'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  dataDir = tempDataDir();
  for (let t = 0; t < TOKENS; t++) {
    const created = await runProxyCli(['token', 'create', '--name', `load-${t}`, '--credits', String(CREDITS)], {
      FRAMEFILL_DATA_DIR: dataDir,
    });
    tokens.push(created.stdout.trim().split('\n').at(-1)!);
  }
  server = await spawnProxy({
    FRAMEFILL_DATA_DIR: dataDir,
    FRAMEFILL_DRAFT_DELAY_MS: '5',
    FRAMEFILL_UPSTREAM_CONCURRENCY: '4',
    // One token carries the whole load here; the per-client caps have their own test.
    FRAMEFILL_MAX_STREAMS_PER_TOKEN: '100000',
    FRAMEFILL_MAX_STREAMS_PER_ADDRESS: '100000',
    FRAMEFILL_MAX_UPLOADS_PER_TOKEN: '100000',
    FRAMEFILL_MAX_JOBS_PER_TOKEN: '100000',
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe('load', () => {
  it(`${SUBMISSIONS} submissions at ${CONCURRENT} concurrent with ${STREAMS} open event streams: nothing lost or duplicated, ledger exact`, async () => {
    const latencies: number[] = [];
    const streams: Promise<{ id: string; terminal: string[] }>[] = [];
    let open = 0;
    let peakOpen = 0;
    let replays = 0;
    const started = performance.now();

    const ids = await pool(SUBMISSIONS, CONCURRENT, async (i) => {
      const token = tokens[i % TOKENS]!;
      const key = `load-${i}`;
      const body = { prompt: `load job ${i}`, aspect_ratio: RATIOS[i % RATIOS.length]!, resolution: '1K' };
      const t0 = performance.now();
      const response = await submitGeneration(server.url, body, { token, idempotencyKey: key });
      latencies.push(performance.now() - t0);
      expect(response.status).toBe(202);
      const job = JobSchema.parse(await response.json());
      // The last submissions wait behind the whole queue, so their streams are open all at once.
      if (i >= SUBMISSIONS - STREAMS) {
        open++;
        peakOpen = Math.max(peakOpen, open);
        streams.push(
          readEvents(server.url, job.id, { token }).then(({ events }) => {
            open--;
            return {
              id: job.id,
              terminal: events.map((e) => e.event).filter((e) => e !== 'status' && e !== 'partial'),
            };
          }),
        );
      }
      // Every tenth submission is retried, as a client that lost the answer would: the same job, charged once.
      if (i % 10 === 0) {
        const again = await submitGeneration(server.url, body, { token, idempotencyKey: key });
        expect(again.status).toBe(202);
        expect(again.headers.get('Idempotent-Replayed')).toBe('true');
        expect(JobSchema.parse(await again.json()).id).toBe(job.id);
        replays++;
      }
      return job.id;
    });
    const submitSeconds = (performance.now() - started) / 1000;

    const ended = await Promise.all(streams);
    const drainedSeconds = (performance.now() - started) / 1000;
    for (const stream of ended) expect(stream.terminal, stream.id).toEqual(['completed']);

    // Wait for the jobs without a stream too.
    for (const token of tokens) {
      for (;;) {
        const account = await (
          await api(`${server.url}/v1/account`, { headers: { Authorization: `Bearer ${token}` } })
        ).json();
        if (account.jobs_in_flight === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    const allDoneSeconds = (performance.now() - started) / 1000;

    expect(new Set(ids).size).toBe(SUBMISSIONS);
    const db = openDbReadOnly(dataDir);
    try {
      const rows = db.prepare('SELECT id, status FROM jobs').all() as { id: string; status: string }[];
      expect(rows).toHaveLength(SUBMISSIONS);
      expect(new Set(rows.map((r) => r.id))).toEqual(new Set(ids));
      expect(rows.filter((r) => r.status !== 'completed')).toEqual([]);
      expect(jobsWithWrongLedger(db)).toEqual([]);
      for (const account of ledgerFacts(db)) {
        expect(account.chargedCost).toBe(6 * (SUBMISSIONS / TOKENS));
        expect(account.balance).toBe(CREDITS - account.chargedCost);
        expect(account.spent).toBe(account.chargedCost);
        expect(account.ledgerBalance).toBe(account.balance);
      }
    } finally {
      db.close();
    }

    recordFigures('load', {
      submissions: SUBMISSIONS,
      idempotent_retries: replays,
      concurrent_clients: CONCURRENT,
      event_streams: STREAMS,
      peak_open_streams: peakOpen,
      submit_p50_ms: +percentile(latencies, 50).toFixed(1),
      submit_p99_ms: +percentile(latencies, 99).toFixed(1),
      submit_max_ms: +Math.max(...latencies).toFixed(1),
      submit_phase_s: +submitSeconds.toFixed(1),
      streams_done_s: +drainedSeconds.toFixed(1),
      all_jobs_done_s: +allDoneSeconds.toFixed(1),
      lost: 0,
      duplicated: 0,
    });
  }, 600_000);
});
