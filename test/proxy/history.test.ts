// History over real HTTP: GET /v1/generations pages newest first with an opaque cursor, filters on the prompt, and
// never shows another token's jobs; the result TTL and the disk budget remove image files and keep the rows.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorBodySchema, GenerationListSchema, JobSchema } from '../../core/api';
import { loadConfig } from '../../proxy/config';
import type { JobStore } from '../../proxy/jobs';
import { ResultKeeper } from '../../proxy/result-keeper';
import type { Engine } from '../../proxy/store';
import { jpeg } from '../helpers/images';
import {
  api,
  authHeaders,
  ENGINES,
  generateAndWait,
  startTestProxy,
  submitGeneration,
  type TestProxy,
} from '../helpers/proxy';

const started: TestProxy[] = [];
afterEach(async () => {
  for (const proxy of started.splice(0)) await proxy.close(0);
});
async function proxyOf(env: Record<string, string> = {}, engine: Engine = 'sqlite'): Promise<TestProxy> {
  const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0', ...env }, { engine });
  started.push(proxy);
  return proxy;
}

const base = { aspect_ratio: '1:1', resolution: '1K', quality: 'low' };

async function list(url: string, query = '', token?: string) {
  const response = await fetch(`${url}/v1/generations${query}`, { headers: authHeaders({ token }, url) });
  expect(response.status, query).toBe(200);
  return GenerationListSchema.parse(await response.json());
}

describe('GET /v1/generations', () => {
  it('pages newest first with an opaque cursor until next_cursor is null', async () => {
    const proxy = await proxyOf();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await generateAndWait(proxy.url, { ...base, prompt: `job ${i}` })).id);
    const pages: string[][] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page = await list(proxy.url, `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      pages.push(page.jobs.map((job) => job.id));
      cursor = page.next_cursor;
    }
    expect(pages).toEqual([ids.slice(3).reverse(), ids.slice(1, 3).reverse(), [ids[0]]]);
    const first = (await list(proxy.url, '?limit=1')).jobs[0];
    expect(first).toMatchObject({ prompt: 'job 4', aspect_ratio: '1:1', resolution: '1K', quality: 'low', n: 1 });
    expect(first?.images?.[0]?.thumbnail_url).toBe(`/v1/generations/${ids[4]}/thumbnail?index=0`);
  });

  it('filters on the prompt, case-insensitively, with % and _ taken literally', async () => {
    const proxy = await proxyOf();
    await generateAndWait(proxy.url, { ...base, prompt: 'A RED bicycle' });
    await generateAndWait(proxy.url, { ...base, prompt: 'a blue boat at 100% zoom' });
    await generateAndWait(proxy.url, { ...base, prompt: 'a red_kite' });
    expect((await list(proxy.url, '?q=red')).jobs.map((j) => j.prompt)).toEqual(['a red_kite', 'A RED bicycle']);
    expect((await list(proxy.url, '?q=100%25')).jobs.map((j) => j.prompt)).toEqual(['a blue boat at 100% zoom']);
    expect((await list(proxy.url, '?q=d_k')).jobs.map((j) => j.prompt)).toEqual(['a red_kite']);
    expect((await list(proxy.url, '?q=%25')).jobs).toHaveLength(1);
    expect((await list(proxy.url, '?q=nothing')).jobs).toEqual([]);
    // The database keeps prompts for History; the logs still hold neither them nor the searches.
    const logs = JSON.stringify(proxy.logs);
    for (const text of ['bicycle', 'boat', 'kite', 'nothing']) expect(logs).not.toContain(text);
  });

  it("never shows another token's jobs, whatever the filter or cursor", async () => {
    const proxy = await proxyOf();
    const alice = (await proxy.ledger.createToken('alice', 100)).token;
    const bob = (await proxy.ledger.createToken('bob', 100)).token;
    const alices = (await generateAndWait(proxy.url, { ...base, prompt: 'shared words alice' }, { token: alice })).id;
    const alices2 = (await generateAndWait(proxy.url, { ...base, prompt: 'shared words alice 2' }, { token: alice }))
      .id;
    const bobs = (await generateAndWait(proxy.url, { ...base, prompt: 'shared words bob' }, { token: bob })).id;
    expect((await list(proxy.url, '', alice)).jobs.map((j) => j.id)).toEqual([alices2, alices]);
    expect((await list(proxy.url, '?q=shared', bob)).jobs.map((j) => j.id)).toEqual([bobs]);
    expect((await list(proxy.url, '?q=alice', bob)).jobs).toEqual([]);
    // A cursor from Alice's first page, replayed by Bob, still reads only Bob's rows (none older than it).
    const page = await list(proxy.url, '?limit=1', alice);
    expect(page.next_cursor).not.toBeNull();
    const replayed = await list(proxy.url, `?cursor=${encodeURIComponent(page.next_cursor ?? '')}`, bob);
    expect(replayed.jobs).toEqual([]);
    expect(
      (await list(proxy.url, `?cursor=${encodeURIComponent(page.next_cursor ?? '')}`, alice)).jobs.map((j) => j.id),
    ).toEqual([alices]);
    for (const route of ['', '/image', '/thumbnail']) {
      const response = await fetch(`${proxy.url}/v1/generations/${alices}${route}`, {
        headers: authHeaders({ token: bob }, proxy.url),
      });
      expect(response.status, route).toBe(404);
    }
    const none = await fetch(`${proxy.url}/v1/generations`);
    expect(none.status).toBe(401);
  });

  it.each([
    ['?limit=0', 'limit'],
    ['?limit=51', 'limit'],
    ['?limit=ten', 'limit'],
    ['?cursor=not-a-cursor', 'cursor'],
    [`?q=${'x'.repeat(201)}`, 'q'],
  ])('%s is refused 400 invalid_request on %s', async (query, field) => {
    const proxy = await proxyOf();
    const response = await api(`${proxy.url}/v1/generations${query}`);
    expect(response.status).toBe(400);
    expect(ErrorBodySchema.parse(await response.json()).error).toMatchObject({ code: 'invalid_request', field });
  });

  it('lists queued and failed jobs too, with their prompt and settings', async () => {
    const proxy = await proxyOf({ FRAMEFILL_DRAFT_DELAY_MS: '5000' });
    const response = await submitGeneration(proxy.url, { ...base, prompt: 'still running', n: '2' });
    const { id } = JobSchema.parse(await response.json());
    const [job] = (await list(proxy.url)).jobs;
    expect(job).toMatchObject({ id, prompt: 'still running', n: 2, cost_credits: 2 });
    expect(job?.images).toBeUndefined();
  });
});

describe.each(ENGINES)('History queries on %s', (engine) => {
  const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

  it('a search holding a NUL character is refused 400 invalid_request on q', async () => {
    const proxy = await proxyOf({}, engine);
    const response = await api(`${proxy.url}/v1/generations?q=red%00kite`);
    expect(response.status).toBe(400);
    expect(ErrorBodySchema.parse(await response.json()).error).toMatchObject({ code: 'invalid_request', field: 'q' });
  });

  it('a cursor it did not give out is refused 400 invalid_request on cursor, however well-formed its JSON', async () => {
    const proxy = await proxyOf({}, engine);
    const { id } = await generateAndWait(proxy.url, { ...base, prompt: 'one' });
    await generateAndWait(proxy.url, { ...base, prompt: 'two' });
    const first = await list(proxy.url, '?limit=1');
    const given = first.jobs[0]!;
    expect((await list(proxy.url, `?cursor=${first.next_cursor}`)).jobs.map((j) => j.id)).toEqual([id]);
    for (const forged of [
      ['\u0000', id],
      [given.created_at, '\u0000'],
      ['yesterday', id],
      [given.created_at, 'not-a-job-id'],
    ]) {
      const response = await api(`${proxy.url}/v1/generations?cursor=${cursorOf(forged)}`);
      expect(response.status, JSON.stringify(forged)).toBe(400);
      expect(ErrorBodySchema.parse(await response.json()).error).toMatchObject({
        code: 'invalid_request',
        field: 'cursor',
      });
    }
  });

  it("finds a prompt by its own non-ASCII text in the prompt's case, and by its ASCII in any case", async () => {
    const proxy = await proxyOf({}, engine);
    await generateAndWait(proxy.url, { ...base, prompt: 'CAFÉ AU LAIT on a zinc counter' });
    await generateAndWait(proxy.url, { ...base, prompt: 'a plain espresso' });
    // Beyond ASCII, PostgreSQL folds case as its LC_CTYPE says; the prompt's own text matches under any locale.
    for (const q of ['CAFÉ', 'FÉ AU', 'au lait', 'Zinc']) {
      expect(
        (await list(proxy.url, `?q=${encodeURIComponent(q)}`)).jobs.map((j) => j.prompt),
        q,
      ).toEqual(['CAFÉ AU LAIT on a zinc counter']);
    }
  });
});

describe('History search on sqlite', () => {
  it('folds case beyond ASCII: café finds CAFÉ and CAFÉ finds café', async () => {
    const proxy = await proxyOf();
    await generateAndWait(proxy.url, { ...base, prompt: 'CAFÉ AU LAIT' });
    await generateAndWait(proxy.url, { ...base, prompt: 'a café crème' });
    expect((await list(proxy.url, '?q=caf%C3%A9')).jobs.map((j) => j.prompt)).toEqual(['a café crème', 'CAFÉ AU LAIT']);
    expect((await list(proxy.url, '?q=CAF%C3%89')).jobs.map((j) => j.prompt)).toEqual(['a café crème', 'CAFÉ AU LAIT']);
  });
});

describe('keeping results', () => {
  it('the disk budget removes the oldest images first and keeps their rows, prompt and thumbnail', async () => {
    const first = await proxyOf();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await generateAndWait(first.url, { ...base, prompt: `kept ${i}` })).id);
    const images = await Promise.all(ids.map(async (id) => (await first.store.images(id))[0]!));
    const sizes = images.map((image) => image.bytes);
    const files = images.map((image) => image.result_file!);
    await first.close(0);
    started.splice(started.indexOf(first), 1);

    // Room for the two newest: the start-up sweep removes only the oldest.
    const budgetMb = (sizes[1]! + sizes[2]! + 16) / 1024 / 1024;
    const proxy = await proxyOf({ FRAMEFILL_DATA_DIR: first.dataDir, FRAMEFILL_RESULTS_MAX_MB: String(budgetMb) });
    expect(existsSync(files[0]!)).toBe(false);
    expect(existsSync(files[1]!) && existsSync(files[2]!)).toBe(true);

    const gone = await api(`${proxy.url}/v1/generations/${ids[0]}/image`);
    expect(gone.status).toBe(404);
    expect(ErrorBodySchema.parse(await gone.json()).error.message).toMatch(/removed.*History/);
    const job = JobSchema.parse(await (await api(`${proxy.url}/v1/generations/${ids[0]}`)).json());
    expect(job).toMatchObject({ status: 'completed', prompt: 'kept 0', aspect_ratio: '1:1', resolution: '1K' });
    expect(job.images?.[0]?.expired).toBe(true);
    expect((await api(`${proxy.url}/v1/generations/${ids[0]}/thumbnail`)).status).toBe(200);
    for (const id of ids.slice(1)) expect((await api(`${proxy.url}/v1/generations/${id}/image`)).status).toBe(200);
    expect((await list(proxy.url)).jobs.map((j) => j.id)).toEqual([...ids].reverse());
  });

  it('a result TTL past any date is refused at start with a sentence naming it, not "Invalid time value"', async () => {
    expect(() => loadConfig({ FRAMEFILL_RESULT_TTL_HOURS: '1e10' })).toThrow(/FRAMEFILL_RESULT_TTL_HOURS/);
    expect(loadConfig({ FRAMEFILL_RESULT_TTL_HOURS: '876000' }).resultTtlMs).toBe(876_000 * 3_600_000);
  });

  it('after each completion the budget applies at once, never to the job that just completed', async () => {
    const proxy = await proxyOf({ FRAMEFILL_RESULTS_MAX_MB: '0.000001' });
    const older = (await generateAndWait(proxy.url, { ...base, prompt: 'older' })).id;
    const newer = (await generateAndWait(proxy.url, { ...base, prompt: 'newer' })).id;
    await vi.waitFor(async () => expect((await proxy.store.images(older))[0]?.result_file).toBeNull());
    expect((await api(`${proxy.url}/v1/generations/${newer}/image`)).status).toBe(200);
    expect((await proxy.store.get(older))?.status).toBe('completed');
  });
});

describe.each(ENGINES)('the disk budget on %s', (engine) => {
  /** A job of one small image completed through the store, as the runner completes one. */
  async function completeJob(proxy: TestProxy, prompt: string): Promise<string> {
    const account = await proxy.ledger.localAccount();
    const { row } = await proxy.store.create({
      accountId: account.id,
      promptChars: prompt.length,
      aspectRatio: '1:1',
      resolution: '1K',
      width: 1024,
      height: 1024,
      quality: 'low',
      outputFormat: 'jpeg',
      references: [],
      cost: 1,
      model: 'draft',
      idempotencyKey: undefined,
      requestHash: prompt,
      n: 1,
      prompt,
      owner: proxy.owner,
      leaseUntil: Date.now() + 60_000,
    });
    expect(await proxy.store.start(row.id)).toBe(true);
    const bytes = await jpeg(64, 64);
    const resultFile = await proxy.results.put(row.id, 0, { mime: 'image/jpeg', bytes });
    const image = { width: 64, height: 64, mime: 'image/jpeg', bytes: bytes.length, resultFile };
    const completion = { notes: [], usage: undefined, upstreamRequestId: undefined };
    const done = await proxy.store.complete(row.id, {
      ...completion,
      images: [{ ...image, thumbnail: bytes, thumbnailMime: 'image/jpeg' }],
    });
    expect(done).toBe(true);
    return row.id;
  }

  it('never removes the images of a job that completes while it runs: those are the newest', async () => {
    const proxy = await proxyOf({}, engine);
    const older = await completeJob(proxy, 'older');
    let newer: string | undefined;
    // Another job (on this replica's runner, or another replica) completes just as the budget looks for images.
    const racing: JobStore = Object.create(proxy.store);
    racing.oldestStoredImages = async (limit) => {
      newer ??= await completeJob(proxy, 'newer');
      return proxy.store.oldestStoredImages(limit);
    };
    const keeper = new ResultKeeper({ store: racing, results: proxy.results, ttlMs: 3_600_000, maxBytes: 1 });
    await keeper.enforceBudget();
    expect(newer).toBeDefined();
    expect((await api(`${proxy.url}/v1/generations/${newer}/image`)).status).toBe(200);
    expect((await proxy.store.images(older))[0]?.result_file).toBeNull();
  });
});
