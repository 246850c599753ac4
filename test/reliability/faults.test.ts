// Fault campaign: 1,000 jobs (5,000 in soak) through the proxy's HTTP API against the OpenAI stand-in, each
// meeting one fault drawn from a seeded random source. Afterwards every job has ended with the code §6 documents
// for its fault, none is left queued or running, the ledger is exact per token, and every image downloads and decodes.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBodySchema, JobSchema, type JobStatus } from '../../core/api';
import { SIZES } from '../../core/formats';
import { type FakeOpenAI, type Fault, startFakeOpenAI } from '../fakes/openai-upstream';
import { api, readEvents, startTestProxy, submitGeneration, type TestProxy } from '../helpers/proxy';
import { seededRandom } from '../helpers/random';
import { jobsWithWrongLedger, ledgerFacts, openDbReadOnly, pool, recordFigures, size } from './support';

const JOBS = size(1000, 5000);
const CLIENTS = 16;
const SEED = Number(process.env.FRAMEFILL_FAULT_SEED ?? 20_260_821);
const TOKENS = 4;
const TIMEOUT_S = 4;

type Kind =
  | 'none'
  | 'rate-limited'
  | 'status-500'
  | 'status-502'
  | 'status-503'
  | 'drop-before-headers'
  | 'drop-after-headers'
  | 'truncated'
  | 'timeout'
  | 'malformed-json'
  | 'not-an-image'
  | 'moderation'
  | 'moderation-mid-stream'
  | 'cancel';

const KINDS: Kind[] = [
  'none',
  'rate-limited',
  'status-500',
  'status-502',
  'status-503',
  'drop-before-headers',
  'drop-after-headers',
  'truncated',
  'timeout',
  'malformed-json',
  'not-an-image',
  'moderation',
  'moderation-mid-stream',
  'cancel',
];

/** What §6 says each fault must end in. A canceled job may have finished first: then it completed and was charged. */
const EXPECTED: Record<Kind, { status: JobStatus[]; code?: string }> = {
  none: { status: ['completed'] },
  'rate-limited': { status: ['failed'], code: 'rate_limited' },
  'status-500': { status: ['failed'], code: 'upstream_error' },
  'status-502': { status: ['failed'], code: 'upstream_error' },
  'status-503': { status: ['failed'], code: 'upstream_error' },
  'drop-before-headers': { status: ['failed'], code: 'upstream_error' },
  'drop-after-headers': { status: ['failed'], code: 'upstream_error' },
  truncated: { status: ['failed'], code: 'upstream_error' },
  timeout: { status: ['failed'], code: 'upstream_timeout' },
  'malformed-json': { status: ['failed'], code: 'upstream_error' },
  'not-an-image': { status: ['failed'], code: 'upstream_error' },
  moderation: { status: ['failed'], code: 'content_policy' },
  'moderation-mid-stream': { status: ['failed'], code: 'content_policy' },
  cancel: { status: ['canceled', 'completed'] },
};

const RATIOS = ['1:1', '16:9', '9:16', '4:3', '3:4'] as const;

interface Planned {
  kind: Kind;
  fault: Fault | undefined;
  ratio: (typeof RATIOS)[number];
  token: number;
  cancelAfterMs: number;
}

function plan(count: number): Planned[] {
  const random = seededRandom(SEED);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  return Array.from({ length: count }, () => {
    const kind = pick(KINDS);
    const fault: Fault | undefined = (() => {
      switch (kind) {
        case 'rate-limited':
          return { kind, retryAfter: 1 + Math.floor(random() * 30) };
        case 'status-500':
        case 'status-502':
        case 'status-503':
          return { kind: 'status', status: Number(kind.slice(-3)) };
        case 'timeout':
          return { kind: 'hang' };
        case 'cancel':
          return { kind: 'delay', ms: Math.floor(random() * 300) };
        case 'none':
          return undefined;
        default:
          return { kind } as Fault;
      }
    })();
    return { kind, fault, ratio: pick(RATIOS), token: Math.floor(random() * TOKENS), cancelAfterMs: random() * 350 };
  });
}

interface Outcome {
  id: string;
  status: JobStatus;
  code: string | undefined;
  /** Completed, or canceled after its upstream call started: what the ledger charges. */
  charged: boolean;
  terminalEvents: string[];
}

let fake: FakeOpenAI;
let proxy: TestProxy;
const tokens: string[] = [];
const CREDITS = 20 * 12 * JOBS;

beforeAll(async () => {
  fake = await startFakeOpenAI({ apiKey: 'sk-campaign' });
  proxy = await startTestProxy({
    FRAMEFILL_PROVIDER: 'openai',
    OPENAI_API_KEY: 'sk-campaign',
    OPENAI_BASE_URL: fake.url,
    FRAMEFILL_UPSTREAM_CONCURRENCY: String(CLIENTS),
    FRAMEFILL_UPSTREAM_TIMEOUT_S: String(TIMEOUT_S),
  });
  for (let t = 0; t < TOKENS; t++) tokens.push((await proxy.ledger.createToken(`campaign-${t}`, CREDITS)).token);
});

afterAll(async () => {
  await proxy?.close(0);
  await fake?.close();
});

describe('fault campaign against the OpenAI stand-in', () => {
  it(`ends every one of ${JOBS} jobs with its fault's documented code, loses no credit and keeps every image`, async () => {
    const jobs = plan(JOBS);
    const byPrompt = new Map(jobs.map((job, i) => [`campaign job ${i}`, job]));
    // Keyed by prompt, so the provider's one retry meets the same fault as the first call.
    fake.setFault((request) => byPrompt.get(String(request.params.prompt))?.fault);

    const outcomes = await pool(JOBS, CLIENTS, async (i): Promise<Outcome> => {
      const job = jobs[i]!;
      const token = tokens[job.token]!;
      const response = await submitGeneration(
        proxy.url,
        { prompt: `campaign job ${i}`, aspect_ratio: job.ratio, resolution: '1K' },
        { token, idempotencyKey: `campaign-${SEED}-${i}` },
      );
      expect(response.status, await response.clone().text()).toBe(202);
      const { id } = JobSchema.parse(await response.json());
      const stream = readEvents(proxy.url, id, { token });
      if (job.kind === 'cancel') {
        await new Promise((resolve) => setTimeout(resolve, job.cancelAfterMs));
        const canceled = await api(`${proxy.url}/v1/generations/${id}`, {
          method: 'DELETE',
          headers: { Authorization: `Bearer ${token}` },
        });
        expect(canceled.status).toBe(200);
      }
      const { events } = await stream;
      const final = JobSchema.parse(
        await (
          await api(`${proxy.url}/v1/generations/${id}`, { headers: { Authorization: `Bearer ${token}` } })
        ).json(),
      );
      return {
        id,
        status: final.status,
        code: final.error?.code,
        charged: final.status === 'completed' || (final.status === 'canceled' && final.credits_returned === false),
        terminalEvents: events.map((e) => e.event).filter((e) => ['completed', 'failed', 'canceled'].includes(e)),
      };
    });

    const perKind: Record<string, { injected: number; survived: number; outcomes: Record<string, number> }> = {};
    const wrong: string[] = [];
    outcomes.forEach((outcome, i) => {
      const job = jobs[i]!;
      const expected = EXPECTED[job.kind];
      perKind[job.kind] ??= { injected: 0, survived: 0, outcomes: {} };
      const entry = perKind[job.kind]!;
      entry.injected++;
      const label = outcome.code ? `${outcome.status}:${outcome.code}` : outcome.status;
      entry.outcomes[label] = (entry.outcomes[label] ?? 0) + 1;
      const terminalEvent =
        outcome.status === 'completed' ? 'completed' : outcome.status === 'canceled' ? 'canceled' : 'failed';
      const ok =
        expected.status.includes(outcome.status) &&
        (expected.code === undefined || outcome.code === expected.code) &&
        outcome.terminalEvents.length === 1 &&
        outcome.terminalEvents[0] === terminalEvent;
      if (ok) entry.survived++;
      else wrong.push(`job ${i} (${job.kind}): ${label}, events ${outcome.terminalEvents.join(',')}`);
    });
    expect(wrong, `seed ${SEED}`).toEqual([]);

    // Nothing left in flight, and the ledger is exact for every token.
    expect(await proxy.store.unfinished()).toEqual([]);
    const db = openDbReadOnly(proxy.dataDir);
    try {
      expect((db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n).toBe(JOBS);
      expect(jobsWithWrongLedger(db)).toEqual([]);
      const facts = ledgerFacts(db);
      expect(facts).toHaveLength(TOKENS);
      for (const account of facts) {
        expect(account.granted).toBe(CREDITS);
        expect(account.balance).toBe(CREDITS - account.chargedCost);
        expect(account.spent).toBe(account.chargedCost);
        expect(account.ledgerBalance).toBe(account.balance);
      }
      // The same, as each token sees it over HTTP.
      for (const [t, token] of tokens.entries()) {
        const chargedCost = outcomes.filter((o, i) => o.charged && jobs[i]!.token === t).reduce((sum) => sum + 6, 0);
        const account = await (
          await api(`${proxy.url}/v1/account`, { headers: { Authorization: `Bearer ${token}` } })
        ).json();
        expect(account).toMatchObject({
          balance_credits: CREDITS - chargedCost,
          spent_credits: chargedCost,
          jobs_in_flight: 0,
        });
      }
    } finally {
      db.close();
    }

    // Every completed image downloads and decodes at its size; every failed one answers 409 not_ready.
    const completed = outcomes.flatMap((o, i) => (o.status === 'completed' ? [{ o, job: jobs[i]! }] : []));
    await pool(completed.length, 8, async (k) => {
      const { o, job } = completed[k]!;
      const response = await api(`${proxy.url}/v1/generations/${o.id}/image`, {
        headers: { Authorization: `Bearer ${tokens[job.token]}` },
      });
      expect(response.status).toBe(200);
      const bytes = Buffer.from(await response.arrayBuffer());
      const stats = await sharp(bytes, { failOn: 'truncated' }).stats();
      expect(stats.channels.length).toBeGreaterThan(0);
      const meta = await sharp(bytes).metadata();
      expect({ width: meta.width, height: meta.height }).toEqual(SIZES[job.ratio]['1K']);
    });
    const failed = outcomes.find((o) => o.status !== 'completed');
    if (failed) {
      const token = tokens[jobs[outcomes.indexOf(failed)]!.token]!;
      const response = await api(`${proxy.url}/v1/generations/${failed.id}/image`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(409);
      expect(ErrorBodySchema.parse(await response.json()).error.code).toBe('not_ready');
    }

    recordFigures('faults', {
      seed: SEED,
      jobs: JOBS,
      upstream_requests: fake.requests.length,
      completed: completed.length,
      survived: Object.values(perKind).reduce((n, k) => n + k.survived, 0),
      per_kind: perKind,
    });
  }, 600_000);
});
