// The reseller stand-in is as strict as kie's pages: these pin each rule it enforces, so the provider's tests
// cannot pass against something kinder than the real service.
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeTaskApi, MODELS, startFakeTaskApi, validate } from '../fakes/task-upstream';
import { png } from '../openai/fixtures';

const KEY = 'k-1';
/** The stand-in's answer, with the fields these tests read. */
interface Answer {
  code: number;
  msg: string;
  data: { taskId: string; state: string; resultJson: string; downloadUrl: string; [field: string]: unknown };
}
let fake: FakeTaskApi;
afterEach(async () => fake?.close());

async function call(path: string, init: RequestInit = {}, key = KEY) {
  const response = await fetch(`${fake.url}${path}`, {
    ...init,
    headers: {
      Authorization: `Bearer ${key}`,
      ...(init.body && typeof init.body === 'string' ? { 'Content-Type': 'application/json' } : {}),
      ...init.headers,
    },
  });
  return { status: response.status, body: (await response.json()) as Answer };
}

const create = (body: unknown, key?: string) =>
  call('/api/v1/jobs/createTask', { method: 'POST', body: JSON.stringify(body) }, key);
const record = (taskId: string) => call(`/api/v1/jobs/recordInfo?taskId=${taskId}`);
const t2i = (input: Record<string, unknown>) => ({ model: MODELS.text, input: { prompt: 'a cat', ...input } });

async function uploadPng(): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(await png(40, 30))], { type: 'image/png' }), 'r.png');
  form.append('uploadPath', 'framefill');
  form.append('fileName', 'r.png');
  const { body } = await call('/api/file-stream-upload', { method: 'POST', body: form });
  return body.data.downloadUrl as string;
}

describe('the task-API stand-in', () => {
  it('refuses a call without the key as kie does: code 401 in the body', async () => {
    fake = await startFakeTaskApi({ apiKey: KEY });
    const { status, body } = await create(t2i({}), 'wrong');
    expect(status).toBe(200);
    expect(body).toMatchObject({ code: 401, msg: 'You do not have access permissions' });
    expect(fake.tasks).toHaveLength(0);
  });

  it('can mirror the code as the HTTP status', async () => {
    fake = await startFakeTaskApi({ apiKey: KEY, httpStatusMirrorsCode: true });
    expect((await create(t2i({}), 'wrong')).status).toBe(401);
  });

  it('validates createTask as the GPT Image-2 pages say', () => {
    expect(validate(t2i({ aspect_ratio: '16:9', resolution: '4K' }))).toBeUndefined();
    expect(validate({ model: 'gpt-image-2', input: { prompt: 'x' } })).toMatch(/model/);
    expect(validate(t2i({ prompt: '' }))).toMatch(/prompt is required/);
    expect(validate(t2i({ prompt: 'x'.repeat(20_000) }))).toBeUndefined();
    expect(validate(t2i({ prompt: 'x'.repeat(20_001) }))).toMatch(/20000/);
    expect(validate(t2i({ aspect_ratio: '7:5' }))).toMatch(/aspect_ratio/);
    expect(validate(t2i({ aspect_ratio: '1:1', resolution: '4K' }))).toMatch(/1:1/);
    expect(validate(t2i({ aspect_ratio: 'auto', resolution: '2K' }))).toMatch(/auto/);
    expect(validate(t2i({ aspect_ratio: '3:1', resolution: '2K' }))).toMatch(/3:1/);
    expect(validate(t2i({ quality: 'high' }))).toMatch(/quality/);
    expect(validate(t2i({ input_urls: ['http://x/a.png'] }))).toMatch(/input_urls/);
    expect(validate(t2i({ background: 'transparent', resolution: '2K', aspect_ratio: '16:9' }))).toMatch(/1K/);
    const i2i = (urls: unknown) => ({ model: MODELS.image, input: { prompt: 'x', input_urls: urls } });
    expect(validate(i2i(['http://127.0.0.1/a.png']))).toBeUndefined();
    expect(validate(i2i([]))).toMatch(/input_urls is required/);
    expect(validate(i2i(Array.from({ length: 17 }, (_, i) => `http://127.0.0.1/${i}.png`)))).toMatch(/16/);
    expect(validate(i2i(['file:///etc/passwd']))).toMatch(/URI/);
    expect(validate({ ...t2i({}), callBackUrl: 'not a url' })).toMatch(/callBackUrl/);
  });

  it('answers a refused createTask with code 422 and creates no task', async () => {
    fake = await startFakeTaskApi({ apiKey: KEY });
    const { body } = await create(t2i({ aspect_ratio: '1:1', resolution: '4K' }));
    expect(body.code).toBe(422);
    expect(fake.tasks).toHaveLength(0);
  });

  it('walks a task through waiting, queuing, generating to success with a result URL it serves', async () => {
    const minute = 60_000;
    fake = await startFakeTaskApi({
      apiKey: KEY,
      defaultPlan: { delays: { waiting: minute, queuing: minute, generating: minute } },
    });
    const { body } = await create(t2i({ aspect_ratio: '4:3', resolution: '1K' }));
    expect(body).toMatchObject({ code: 200, data: { taskId: expect.any(String) } });
    const task = fake.tasks[0]!;
    expect((await record(task.taskId)).body.data.state).toBe('waiting');
    const start = task.createdAt;
    expect(fake.stateOf(task, start + 1.5 * minute)).toBe('queuing');
    expect(fake.stateOf(task, start + 2.5 * minute)).toBe('generating');
    expect(fake.stateOf(task, start + 3.5 * minute)).toBe('success');
    task.plan = { delays: { waiting: 0, queuing: 0, generating: 0 } };
    const done = (await record(task.taskId)).body.data;
    expect(done.state).toBe('success');
    const { resultUrls } = JSON.parse(done.resultJson) as { resultUrls: string[] };
    const image = await fetch(resultUrls[0]!);
    expect(image.headers.get('content-type')).toBe('image/png');
  });

  it('ends a planned failure in fail with failCode and failMsg', async () => {
    fake = await startFakeTaskApi({ apiKey: KEY, defaultPlan: { delays: {} } });
    fake.planNext({ fail: { failCode: '500', failMsg: 'internal error' } });
    const { body } = await create(t2i({}));
    const data = (await record(body.data.taskId)).body.data;
    expect(data).toMatchObject({ state: 'fail', failCode: '500', failMsg: 'internal error', resultJson: '' });
  });

  it('answers an unknown task id with 422 "recordInfo is null"', async () => {
    fake = await startFakeTaskApi({ apiKey: KEY });
    expect((await record('nope')).body).toMatchObject({ code: 422, msg: 'recordInfo is null' });
  });

  it('uploads a file and serves it at its downloadUrl; image-to-image fetches its input URLs', async () => {
    fake = await startFakeTaskApi({ apiKey: KEY });
    const url = await uploadPng();
    expect(url.startsWith(fake.url)).toBe(true);
    expect((await fetch(url)).status).toBe(200);
    expect((await create({ model: MODELS.image, input: { prompt: 'x', input_urls: [url] } })).body.code).toBe(200);
    const missing = await create({
      model: MODELS.image,
      input: { prompt: 'x', input_urls: [`${fake.url}/files/none.png`] },
    });
    expect(missing.body.code).toBe(422);
  });

  it('answers scripted refusals (rate limit with Retry-After) the given number of times', async () => {
    fake = await startFakeTaskApi({ apiKey: KEY });
    fake.refuseCreate({ code: 429, msg: 'Rate limited', retryAfter: 2, times: 2 });
    const first = await fetch(`${fake.url}/api/v1/jobs/createTask`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}` },
      body: JSON.stringify(t2i({})),
    });
    expect(first.headers.get('retry-after')).toBe('2');
    expect(((await first.json()) as { code: number }).code).toBe(429);
    expect((await create(t2i({}))).body.code).toBe(429);
    expect((await create(t2i({}))).body.code).toBe(200);
  });
});
