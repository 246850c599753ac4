// The proxy on the task provider, through HTTP against the reseller stand-in: every (ratio, tier) of the seed as
// text-to-image and image-to-image, every documented failure mapped to its §6 code, cancel, restart, rate limits.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../proxy/config';
import { UPLOAD_MAX_BYTES } from '../../proxy/providers/task';
import { MODELS } from '../fakes/task-upstream';
import { api, generateAndWait, readEvents, startTestProxy, submitGeneration } from '../helpers/proxy';
import { ALL_PAIRS, png } from '../openai/fixtures';
import { fields, job, until, useProxyOnFakeTaskApi } from './fixtures';

const { setUp, startProxyOn } = useProxyOnFakeTaskApi();

async function imageSize(url: string, id: string) {
  const meta = await sharp(
    Buffer.from(await (await api(`${url}/v1/generations/${id}/image`)).arrayBuffer()),
  ).metadata();
  return { width: meta.width, height: meta.height };
}

async function submit(url: string, body: Record<string, string>, references?: Array<{ bytes: Uint8Array }>) {
  const response = await submitGeneration(url, body, { references });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

describe('the proxy on the task provider', () => {
  it('reports the task provider and its models', async () => {
    const { proxy } = await setUp();
    const health = (await (await api(`${proxy.url}/v1/health`)).json()) as { provider: string; model: string };
    expect(health).toMatchObject({ provider: 'task', model: `${MODELS.text} / ${MODELS.image}` });
  });

  it('completes text-to-image at every ratio × tier, with the table size and the task id on the job', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_UPSTREAM_CONCURRENCY: '4' });
    for (const { ratio, tier, size } of ALL_PAIRS) {
      const { id, events } = await generateAndWait(proxy.url, fields(ratio, tier));
      expect(events.at(-1)?.event, `${ratio} ${tier}`).toBe('completed');
      const task = fake.tasks.at(-1)!;
      expect(task.model).toBe(MODELS.text);
      expect(task.input).toEqual({ prompt: 'a lighthouse at dusk', aspect_ratio: ratio, resolution: tier });
      const got = await imageSize(proxy.url, id);
      if (size !== 'auto') expect(got, `${ratio} ${tier}`).toEqual(size);
      expect((await proxy.store.get(id))?.upstream_request_id).toBe(task.taskId);
    }
    expect(fake.tasks).toHaveLength(ALL_PAIRS.length);
    // Only the reseller's API got the key; result downloads went without it.
    expect(fake.requests.filter((r) => r.path.startsWith('/api/')).every((r) => r.authorized)).toBe(true);
  });

  it('completes image-to-image at every ratio × tier: references uploaded in order, their URLs sent as input_urls', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_UPSTREAM_CONCURRENCY: '4' });
    const refs = [{ bytes: new Uint8Array(await png(40, 30, 10)) }, { bytes: new Uint8Array(await png(30, 40, 200)) }];
    for (const { ratio, tier, size } of ALL_PAIRS) {
      const { id, events } = await generateAndWait(proxy.url, fields(ratio, tier), { references: refs });
      expect(events.at(-1)?.event, `${ratio} ${tier}`).toBe('completed');
      const task = fake.tasks.at(-1)!;
      expect(task.model).toBe(MODELS.image);
      // The references upload in parallel, so the stand-in records them in the order they finished; each is found
      // by the name that carries its position.
      const uploaded = [1, 2].map((n) => fake.uploads.find((u) => u.fileName === `${id}-${n}.png`));
      expect(uploaded.every(Boolean), 'both references uploaded').toBe(true);
      expect(task.input.input_urls).toEqual(uploaded.map((u) => u!.downloadUrl));
      expect(uploaded.map((u, i) => Buffer.compare(u!.bytes, Buffer.from(refs[i]!.bytes)))).toEqual([0, 0]);
      if (size !== 'auto') expect(await imageSize(proxy.url, id), `${ratio} ${tier}`).toEqual(size);
    }
  });

  it("scales a result of the same ratio on the reseller's own grid to the table size, and says so", async () => {
    const { fake, proxy } = await setUp();
    const { id } = await generateAndWait(proxy.url, fields('16:9', '1K'));
    expect(fake.tasks[0]?.input).toMatchObject({ aspect_ratio: '16:9', resolution: '1K' });
    expect(await imageSize(proxy.url, id)).toEqual({ width: 1280, height: 720 });
    expect((await job(proxy.url, id)).notes).toEqual([expect.stringContaining('1360×768')]);
  });

  it('fails a result of another ratio with upstream_error, keeping the task id', async () => {
    const { fake, proxy } = await setUp();
    fake.planNext({ size: { width: 1024, height: 1024 } });
    const { id } = await generateAndWait(proxy.url, fields('16:9', '2K'));
    const view = await job(proxy.url, id);
    expect(view).toMatchObject({ status: 'failed', error: { code: 'upstream_error' } });
    expect(view.error?.message).toMatch(/1024×1024/);
    expect((await proxy.store.get(id))?.upstream_request_id).toBe(fake.tasks[0]?.taskId);
  });

  it('sends no quality (the reseller has none) and says so on the job when one other than medium was asked', async () => {
    const { fake, proxy } = await setUp();
    const { id } = await generateAndWait(proxy.url, { ...fields('4:3', '1K'), quality: 'high' });
    expect(fake.tasks[0]?.input).not.toHaveProperty('quality');
    expect((await job(proxy.url, id)).notes).toEqual([expect.stringContaining('"high" was not sent')]);
  });

  it('fails an answer that is not the documented JSON with upstream_error', async () => {
    const { fake, proxy } = await setUp();
    fake.refuseCreate({ code: 200, msg: 'success' });
    const { id } = await generateAndWait(proxy.url, fields('4:3', '1K'));
    expect((await job(proxy.url, id)).error).toMatchObject({
      code: 'upstream_error',
      message: expect.stringMatching(/taskId/),
    });
  });

  it('fails a damaged result with upstream_error', async () => {
    const { fake, proxy } = await setUp();
    const whole = await png(1024, 768);
    for (const output_format of ['png', 'jpeg']) {
      fake.planNext({ resultBytes: whole.subarray(0, whole.length - 40) });
      const { id } = await generateAndWait(proxy.url, { ...fields('4:3', '1K'), output_format });
      const view = await job(proxy.url, id);
      expect(view, output_format).toMatchObject({ status: 'failed', error: { code: 'upstream_error' } });
      expect(view.error?.message).toMatch(/damaged/);
    }
  });

  it.each([
    [{ failCode: '400', failMsg: 'Your prompt was flagged as violating content policies' }, 'content_policy'],
    [{ failCode: '', failMsg: 'NSFW content detected in the input image' }, 'content_policy'],
    [{ failCode: '500', failMsg: 'Internal error, please try again later' }, 'upstream_error'],
    [{ failCode: '501', failMsg: 'Image generation task failed' }, 'upstream_error'],
  ])('a task that ends in fail (%o) fails the job with %s and the task id', async (fail, code) => {
    const { fake, proxy } = await setUp();
    fake.planNext({ fail });
    const { id, events } = await generateAndWait(proxy.url, fields('3:4', '2K'));
    expect(events.at(-1)?.event).toBe('failed');
    const view = await job(proxy.url, id);
    expect(view.error?.code).toBe(code);
    expect(view.error?.message).toContain(fail.failMsg);
    expect((await proxy.store.get(id))?.upstream_request_id).toBe(fake.tasks[0]?.taskId);
    const account = (await (await api(`${proxy.url}/v1/account`)).json()) as { spent_credits: number };
    expect(account.spent_credits).toBe(0);
  });

  it.each([
    [401, 'You do not have access permissions', /TASK_API_KEY/],
    [402, 'Credits insufficient', /credits.*top it up/],
    [404, 'Not Found', /TASK_API_BASE_URL/],
    [422, 'model is not supported', /TASK_API_MODEL/],
    [433, 'Sub-key usage exceeds limit', /key's limit/],
    [455, 'System maintenance', /maintenance/],
    [500, 'Server error', /failed \(500/],
    [501, 'Generation failed', /could not make the image/],
    [505, 'Feature disabled', /disabled/],
  ])('createTask code %i fails the job with upstream_error, saying who must act', async (status, msg, says) => {
    for (const mirror of [false, true]) {
      const { fake, proxy } = await setUp({}, { httpStatusMirrorsCode: mirror });
      fake.refuseCreate({ code: status, msg });
      const { id } = await generateAndWait(proxy.url, fields('1:1', '1K'));
      const view = await job(proxy.url, id);
      expect(view.error?.code, `mirror ${mirror}`).toBe('upstream_error');
      expect(view.error?.message).toMatch(says);
      expect(view.error?.message).not.toContain('task-key');
    }
  });

  it('a 422 that names a policy refusal is content_policy', async () => {
    const { fake, proxy } = await setUp();
    fake.refuseCreate({ code: 422, msg: 'The prompt contains sensitive content' });
    const { id } = await generateAndWait(proxy.url, fields('1:1', '2K'));
    expect((await job(proxy.url, id)).error?.code).toBe('content_policy');
  });

  it('a rate-limited createTask puts the job back in the queue, then it completes', async () => {
    const { fake, proxy } = await setUp();
    fake.refuseCreate({ code: 429, msg: 'Rate limited', retryAfter: 1 });
    const { id, events } = await generateAndWait(proxy.url, fields('9:16', '1K'));
    const queued = events.find((e) => e.event === 'status' && (e.data as { status: string }).status === 'queued');
    expect((queued?.data as { reason?: string } | undefined)?.reason).toMatch(/rate limit/);
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.tasks).toHaveLength(1);
    expect((await job(proxy.url, id)).status).toBe('completed');
  });

  it('a rate limit without Retry-After is backed off by the runner; one beyond the deadline fails rate_limited', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_UPSTREAM_TIMEOUT_S: '0.5' });
    fake.refuseCreate({ code: 429, msg: 'Rate limited' });
    const { id } = await generateAndWait(proxy.url, fields('4:3', '2K'));
    expect(await job(proxy.url, id)).toMatchObject({
      status: 'failed',
      error: { code: 'rate_limited', retry_after: 5 },
    });
    expect(fake.tasks).toHaveLength(0);
  });

  it('a rate-limited or failing poll is waited out without a second task', async () => {
    const { fake, proxy } = await setUp();
    fake.refusePoll({ code: 429, msg: 'Rate limited', times: 2 });
    fake.refusePoll({ code: 455, msg: 'maintenance', times: 1 });
    fake.refusePoll({ code: 500, msg: 'Server error', times: 1 });
    const { events } = await generateAndWait(proxy.url, fields('16:9', '2K'));
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.tasks).toHaveLength(1);
  });

  it('cancel stops polling and the job ends canceled', async () => {
    const { fake, proxy } = await setUp({}, { defaultPlan: { delays: { generating: 600_000 } } });
    const id = await submit(proxy.url, fields('4:3', '4K'));
    await until(() => (fake.tasks[0]?.polls.length ?? 0) >= 2);
    const response = await api(`${proxy.url}/v1/generations/${id}`, { method: 'DELETE' });
    expect(response.status).toBeLessThan(300);
    expect((await job(proxy.url, id)).status).toBe('canceled');
    // A poll already under way when the cancel came may still arrive; after that, none.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const polls = fake.tasks[0]!.polls.length;
    // Long enough for several more polls at 5–20 ms, had polling gone on.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(fake.tasks[0]!.polls.length).toBe(polls);
    const { events } = await readEvents(proxy.url, id);
    expect(events.at(-1)?.event).toBe('canceled');
  });

  it('a proxy restart interrupts the running task job, its credits returned; the new proxy does not poll it', async () => {
    const { fake, proxy } = await setUp({}, { defaultPlan: { delays: { generating: 600_000 } } });
    const id = await submit(proxy.url, fields('9:16', '2K'));
    await until(() => (fake.tasks[0]?.polls.length ?? 0) >= 1);
    await proxy.close(0);
    const polls = fake.tasks[0]!.polls.length;
    const again = await startProxyOn(fake, { FRAMEFILL_DATA_DIR: proxy.dataDir });
    const view = await job(again.url, id);
    expect(view).toMatchObject({ status: 'interrupted', error: { code: 'interrupted' } });
    const account = (await (await api(`${again.url}/v1/account`)).json()) as { spent_credits: number };
    expect(account.spent_credits).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fake.tasks[0]!.polls.length).toBe(polls);
  });

  it('with TASK_API_UPLOAD_URL=off, says so at start and fails jobs with references, text-to-image still works', async () => {
    const { fake, proxy } = await setUp({ TASK_API_UPLOAD_URL: 'off' });
    expect(proxy.provider.notice).toMatch(/image-to-image is off/);
    const refs = [{ bytes: new Uint8Array(await png(40, 30)) }];
    const { id } = await generateAndWait(proxy.url, fields('1:1', '1K'), { references: refs });
    const view = await job(proxy.url, id);
    expect(view.error?.code).toBe('upstream_error');
    expect(view.error?.message).toMatch(/TASK_API_UPLOAD_URL=off/);
    expect(fake.uploads).toHaveLength(0);
    expect(fake.tasks).toHaveLength(0);
    expect((await generateAndWait(proxy.url, fields('1:1', '1K'))).events.at(-1)?.event).toBe('completed');
  });

  it("re-encodes a reference over the reseller's 10 MB limit as JPEG before uploading it", async () => {
    const { fake, proxy } = await setUp();
    const noise = await sharp({
      create: {
        width: 2048,
        height: 2048,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 60 },
      },
    })
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(noise.length).toBeGreaterThan(UPLOAD_MAX_BYTES);
    const { events } = await generateAndWait(proxy.url, fields('1:1', '1K'), {
      references: [{ bytes: new Uint8Array(noise) }],
    });
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.uploads[0]).toMatchObject({ mime: 'image/jpeg', fileName: expect.stringMatching(/\.jpg$/) });
    expect(fake.uploads[0]!.bytes.length).toBeLessThanOrEqual(UPLOAD_MAX_BYTES);
  });

  it('an upload refused for the key fails the job with upstream_error before any task is made', async () => {
    const { fake, proxy } = await setUp();
    fake.refuseUpload({ code: 401, msg: 'Unauthorized' });
    const refs = [{ bytes: new Uint8Array(await png(40, 30)) }];
    const { id } = await generateAndWait(proxy.url, fields('3:4', '1K'), { references: refs });
    expect((await job(proxy.url, id)).error?.message).toMatch(/TASK_API_KEY/);
    expect(fake.tasks).toHaveLength(0);
  });
});

describe('task provider configuration', () => {
  it.each([
    [{}, /needs TASK_API_BASE_URL and TASK_API_KEY/],
    [{ TASK_API_BASE_URL: 'http://127.0.0.1:9' }, /needs TASK_API_KEY/],
    [{ TASK_API_KEY: 'k' }, /needs TASK_API_BASE_URL/],
    [{ TASK_API_KEY: 'k', TASK_API_BASE_URL: 'not a url' }, /TASK_API_BASE_URL must be an http\(s\) URL/],
  ])('refuses to start without what it needs (%o)', (env, message) => {
    expect(() => loadConfig({ FRAMEFILL_PROVIDER: 'task', ...env })).toThrow(message);
  });

  it('defaults the models and the upload URL to the base URL', () => {
    const config = loadConfig({
      FRAMEFILL_PROVIDER: 'task',
      TASK_API_KEY: 'k',
      TASK_API_BASE_URL: 'https://api.kie.ai/',
    });
    expect(config.task).toMatchObject({
      baseURL: 'https://api.kie.ai',
      uploadURL: 'https://api.kie.ai',
      modelText: 'gpt-image-2-text-to-image',
      modelImage: 'gpt-image-2-image-to-image',
    });
  });

  it('does not read the task settings for another provider', async () => {
    const proxy = await startTestProxy({ TASK_API_BASE_URL: 'not a url' });
    expect(proxy.provider.name).toBe('draft');
    await proxy.close(0);
  });
});

describe('variations on the task provider (one task per image: createTask has no count)', () => {
  it('n=3 runs three tasks on references uploaded once, keeps three images and charges three', async () => {
    const { fake, proxy } = await setUp();
    const refs = [{ bytes: new Uint8Array(await png(40, 30, 10)) }];
    const { id, events } = await generateAndWait(proxy.url, { ...fields('16:9', '1K'), n: '3' }, { references: refs });
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.tasks).toHaveLength(3);
    expect(fake.uploads).toHaveLength(1);
    const done = await job(proxy.url, id);
    expect(done.images?.map((image) => image.index)).toEqual([0, 1, 2]);
    expect((await proxy.ledger.rowsForJob(id)).map((row) => row.kind)).toEqual(['reserve', 'charge']);
  });

  it('a task failing after one succeeded ends the job with that image: charged one, the rest released', async () => {
    const { fake, proxy } = await setUp();
    fake.planNext({});
    fake.planNext({ fail: { failCode: '500', failMsg: 'internal error' } });
    const { id } = await generateAndWait(proxy.url, { ...fields('16:9', '1K'), n: '3' });
    expect(fake.tasks).toHaveLength(2);
    const done = await job(proxy.url, id);
    expect(done.status).toBe('completed');
    expect(done.images).toHaveLength(1);
    expect(done.notes?.join(' ')).toMatch(/Variation 2 failed.*1 of the 3 variations/s);
    const rows = await proxy.ledger.rowsForJob(id);
    const reserved = -rows[0]!.amount;
    expect(rows).toEqual([
      { kind: 'reserve', amount: -reserved },
      { kind: 'charge', amount: reserved / 3 },
      { kind: 'release', amount: (2 * reserved) / 3 },
    ]);
  });
});
