// The proxy forwards a job's references to OpenAI while the client is still uploading them, and an upload it then
// refuses never becomes a complete (billable) upstream request. Real HTTP on loopback; the upload is sent in two
// halves so the test can look at the upstream in between.
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { AccountSchema, ErrorBodySchema, JobSchema } from '../../core/api';
import { FIRST_READER_BUDGET } from '../../proxy/arriving';
import { LOCAL_ACCOUNT_CREDITS } from '../../proxy/ledger';
import { generateAndWait, generationForm, readEvents } from '../helpers/proxy';
import { png, references, useProxyOnFakeOpenAI } from './fixtures';

const setUp = useProxyOnFakeOpenAI();

const FIELDS = { prompt: 'A lighthouse at dusk', aspect_ratio: '16:9', resolution: '1K', quality: 'low' };

/** A multipart body as the panel sends it, and where its second reference's part begins. */
async function body(fields: Record<string, string>, files: Uint8Array[], trailing: Record<string, string> = {}) {
  const form = generationForm(
    fields,
    files.map((bytes, i) => ({ bytes, type: 'image/png', name: `frame-${i + 1}.png` })),
  );
  for (const [name, value] of Object.entries(trailing)) form.append(name, value);
  const response = new Response(form);
  const bytes = Buffer.from(await response.arrayBuffer());
  const contentType = response.headers.get('content-type')!;
  const boundary = /boundary=(.+)$/.exec(contentType)![1]!;
  const parts = [...bytes.toString('latin1').matchAll(new RegExp(`--${boundary}\\r\\nContent-Disposition`, 'g'))];
  const secondReference = parts[Object.keys(fields).length + 1]!.index!;
  return { bytes, contentType, secondReference };
}

/**
 * POSTs `bytes[0, split)`, waits for `between()`, then sends the rest; resolves with the status and JSON answer.
 * Content-Length is sent, as browsers do for a FormData body.
 */
function postInHalves(
  url: string,
  upload: { bytes: Buffer; contentType: string },
  split: number,
  between: () => Promise<void>,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/generations`,
      {
        method: 'POST',
        headers: { 'Content-Type': upload.contentType, 'Content-Length': String(upload.bytes.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      },
    );
    req.on('error', reject);
    req.write(upload.bytes.subarray(0, split));
    between().then(
      () => req.end(upload.bytes.subarray(split)),
      (error: unknown) => {
        req.destroy();
        reject(error);
      },
    );
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function balance(url: string) {
  return AccountSchema.parse(await (await fetch(`${url}/v1/account`)).json());
}

describe('forwarding references while they arrive', () => {
  it('sends the first reference upstream before the client has sent the second, and OpenAI gets them all in order', async () => {
    const { fake, proxy } = await setUp();
    const files = [await png(600, 400, 10), await png(600, 400, 200)];
    const upload = await body(FIELDS, files);
    const answer = await postInHalves(proxy.url, upload, upload.secondReference, () =>
      until(() => fake.arriving.bytes >= files[0]!.length, 'the first reference reached OpenAI'),
    );
    expect(answer.status).toBe(202);
    const job = JobSchema.parse(answer.json);
    const { events } = await readEvents(proxy.url, job.id);
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.images.map((image) => Buffer.from(image.bytes!))).toEqual(files);
    expect(fake.requests[0]!.images.map((image) => image.contentType)).toEqual(['image/png', 'image/png']);
    expect(fake.requests[0]!.params).toMatchObject({ prompt: FIELDS.prompt, size: '1280x720', quality: 'low' });
    expect(fake.requests[0]!.headers['transfer-encoding']).toBe('chunked');
    // What the upstream request took from memory went back to the budget every upload shares.
    expect(FIRST_READER_BUDGET.held).toBe(0);
  });

  it('with FRAMEFILL_FORWARD_UPLOADS=0 sends nothing upstream until the whole upload arrived, then a sized request', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_FORWARD_UPLOADS: '0' });
    const files = [await png(600, 400, 10), await png(600, 400, 200)];
    const upload = await body(FIELDS, files);
    const answer = await postInHalves(proxy.url, upload, upload.secondReference, async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(fake.arriving.requests).toBe(0);
    });
    expect(answer.status).toBe(202);
    const { events } = await readEvents(proxy.url, JobSchema.parse(answer.json).id);
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.requests[0]!.images.map((image) => Buffer.from(image.bytes!))).toEqual(files);
    expect(Number(fake.requests[0]!.headers['content-length'])).toBeGreaterThan(files[0]!.length + files[1]!.length);
  });

  it('cuts the upstream request off when a later reference is refused: OpenAI never gets a whole request, no credits move', async () => {
    const { fake, proxy } = await setUp();
    const good = await png(600, 400);
    const notAnImage = Buffer.from('GIF89a — not a reference type the proxy accepts');
    const upload = await body(FIELDS, [good, notAnImage]);
    const answer = await postInHalves(proxy.url, upload, upload.secondReference, () =>
      until(() => fake.arriving.bytes >= good.length, 'the first reference reached OpenAI'),
    );
    expect(answer.status).toBe(415);
    expect(ErrorBodySchema.parse(answer.json).error.code).toBe('unsupported_image');
    await until(() => fake.arriving.cut === 1, 'the upstream request was cut off');
    expect(fake.arriving.whole).toBe(0);
    expect(fake.requests).toHaveLength(0);
    const account = await balance(proxy.url);
    expect(account.balance_credits).toBe(LOCAL_ACCOUNT_CREDITS);
    expect(account.jobs_in_flight).toBe(0);
    expect(FIRST_READER_BUDGET.held).toBe(0);
  });

  it('keeps the upstream request open until the whole upload is valid: a bad field after the references cuts it off', async () => {
    const { fake, proxy } = await setUp();
    const files = [await png(600, 400, 10), await png(600, 400, 200)];
    const upload = await body(FIELDS, files, { output_format: 'gif' });
    const answer = await postInHalves(proxy.url, upload, upload.secondReference, () =>
      until(() => fake.arriving.bytes >= files[0]!.length, 'the first reference reached OpenAI'),
    );
    expect(answer.status).toBe(400);
    expect(ErrorBodySchema.parse(answer.json).error).toMatchObject({ code: 'invalid_request', field: 'output_format' });
    await until(() => fake.arriving.cut === 1, 'the upstream request was cut off');
    expect(fake.arriving.whole).toBe(0);
    expect((await balance(proxy.url)).balance_credits).toBe(LOCAL_ACCOUNT_CREDITS);
    expect(FIRST_READER_BUDGET.held).toBe(0);
  });

  it('retries a 500 with the same references read back from the spool', async () => {
    const { fake, proxy } = await setUp();
    fake.failNext({ kind: 'status', status: 500 });
    const refs = await references(5);
    const { events } = await generateAndWait(proxy.url, FIELDS, {
      references: refs.map((r, i) => ({ bytes: r.bytes, type: r.mime, name: `frame-${i}` })),
    });
    expect(events.at(-1)?.event).toBe('completed');
    expect(fake.requests).toHaveLength(2);
    for (const attempt of fake.requests) {
      expect(attempt.images.map((image) => new Uint8Array(image.bytes!))).toEqual(refs.map((r) => r.bytes));
      expect(attempt.images.map((image) => image.contentType)).toEqual(refs.map((r) => r.mime));
    }
    expect(FIRST_READER_BUDGET.held).toBe(0);
  });
});
