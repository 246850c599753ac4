// The limits of DESIGN.md §4 at their boundaries, enforced by the proxy from the bytes it receives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBodySchema, JobSchema } from '../../core/api';
import { REFERENCE_MAX_BYTES } from '../../core/limits';
import { jpeg, png, webp } from '../helpers/images';
import { api, ENGINES, startTestProxy as startProxyOn, submitGeneration, type TestProxy } from '../helpers/proxy';

const base = { aspect_ratio: '1:1', resolution: '1K' };
const error = async (response: Response) => ErrorBodySchema.parse(await response.json()).error;
const accepted = async (response: Response) => {
  expect(response.status, await response.clone().text()).toBe(202);
  return JobSchema.parse(await response.json());
};

describe.each(ENGINES)('on %s', (engine) => {
  const startTestProxy: typeof startProxyOn = (env, opts) => startProxyOn(env, { ...opts, engine });

  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
  });
  afterAll(() => proxy.close());

  describe('prompt length (code points, after trimming)', () => {
    it('accepts 20,000 characters and refuses 20,001 with prompt_too_long', async () => {
      await accepted(await submitGeneration(proxy.url, { ...base, prompt: 'a'.repeat(20_000) }));
      const response = await submitGeneration(proxy.url, { ...base, prompt: 'a'.repeat(20_001) });
      expect(response.status).toBe(400);
      expect(await error(response)).toMatchObject({ code: 'prompt_too_long', field: 'prompt' });
    });

    it('counts an emoji once: 20,000 four-byte characters are accepted', async () => {
      const job = await accepted(await submitGeneration(proxy.url, { ...base, prompt: '🖼'.repeat(20_000) }));
      expect(job.prompt_chars).toBe(20_000);
    });

    it('ignores surrounding whitespace: 20,000 characters padded with spaces are accepted', async () => {
      await accepted(await submitGeneration(proxy.url, { ...base, prompt: `   ${'b'.repeat(20_000)}\n\n ` }));
    });

    it('refuses an empty or blank prompt with prompt_empty', async () => {
      for (const prompt of ['', '   \n ']) {
        const response = await submitGeneration(proxy.url, { ...base, prompt });
        expect(response.status).toBe(400);
        expect(await error(response)).toMatchObject({ code: 'prompt_empty', field: 'prompt' });
      }
      const missing = await submitGeneration(proxy.url, base);
      expect(await error(missing)).toMatchObject({ code: 'prompt_empty' });
    });

    it('refuses a prompt holding a NUL character with 400 invalid_request on prompt, and keeps the credits', async () => {
      const before = (await proxy.ledger.localAccount()).balance;
      const response = await submitGeneration(proxy.url, { ...base, prompt: 'a lighthouse\u0000 at dusk' });
      expect(response.status).toBe(400);
      const problem = await error(response);
      expect(problem).toMatchObject({ code: 'invalid_request', field: 'prompt' });
      expect(problem.message).toMatch(/U\+0000/);
      expect((await proxy.ledger.localAccount()).balance).toBe(before);
    });

    it('refuses a prompt field of over a megabyte as prompt_too_long without reading it all', async () => {
      const response = await submitGeneration(proxy.url, { ...base, prompt: 'c'.repeat(2 * 1024 * 1024) });
      expect(response.status).toBe(400);
      expect(await error(response)).toMatchObject({ code: 'prompt_too_long' });
    });
  });

  describe('reference count', () => {
    it('accepts 16 references and refuses 17 with too_many_references', async () => {
      const refs = await Promise.all(Array.from({ length: 17 }, (_, i) => png(32, 24, i)));
      const ok = await accepted(
        await submitGeneration(
          proxy.url,
          { ...base, prompt: 'sixteen' },
          { references: refs.slice(0, 16).map((bytes) => ({ bytes })) },
        ),
      );
      expect(ok.references).toBe(16);
      const response = await submitGeneration(
        proxy.url,
        { ...base, prompt: 'seventeen' },
        { references: refs.map((bytes) => ({ bytes })) },
      );
      expect(response.status).toBe(400);
      expect(await error(response)).toMatchObject({ code: 'too_many_references', field: 'reference' });
    });
  });

  describe('reference format, from the bytes', () => {
    it('accepts PNG, JPEG and WebP, and records each one’s real type and size', async () => {
      const job = await accepted(
        await submitGeneration(
          proxy.url,
          { ...base, prompt: 'three kinds' },
          { references: [{ bytes: await png(40, 30) }, { bytes: await jpeg(50, 20) }, { bytes: await webp(10, 60) }] },
        ),
      );
      expect(job.references).toBe(3);
    });

    it('accepts JPEG bytes named .png and declared image/png, as JPEG', async () => {
      const response = await submitGeneration(
        proxy.url,
        { ...base, prompt: 'misnamed' },
        { references: [{ bytes: await jpeg(64, 48), name: 'photo.png', type: 'image/png' }] },
      );
      const job = await accepted(response);
      const row = (await proxy.store.get(job.id))!;
      expect(JSON.parse(row.references_json)).toEqual([
        { mime: 'image/jpeg', width: 64, height: 48, bytes: expect.any(Number) },
      ]);
    });

    it('refuses random bytes named .png with 415 unsupported_image', async () => {
      const random = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 251);
      const response = await submitGeneration(
        proxy.url,
        { ...base, prompt: 'noise' },
        { references: [{ bytes: random, name: 'image.png', type: 'image/png' }] },
      );
      expect(response.status).toBe(415);
      expect(await error(response)).toMatchObject({ code: 'unsupported_image', field: 'reference' });
    });

    it('refuses a GIF, and a PNG signature over garbage, with 415', async () => {
      const gif = new TextEncoder().encode('GIF89a\x01\x00\x01\x00\x00\x00\x00;');
      const fakePng = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(100).fill(7)]);
      for (const bytes of [gif, fakePng]) {
        const response = await submitGeneration(proxy.url, { ...base, prompt: 'bad' }, { references: [{ bytes }] });
        expect(response.status).toBe(415);
      }
    });
  });

  describe('reference size', () => {
    it('accepts an 8192-px edge and refuses 8193 px with reference_too_large', async () => {
      await accepted(
        await submitGeneration(
          proxy.url,
          { ...base, prompt: 'wide' },
          { references: [{ bytes: await png(8192, 16) }] },
        ),
      );
      for (const bytes of [await png(8193, 16), await png(16, 8193)]) {
        const response = await submitGeneration(
          proxy.url,
          { ...base, prompt: 'too wide' },
          { references: [{ bytes }] },
        );
        expect(response.status).toBe(413);
        expect(await error(response)).toMatchObject({ code: 'reference_too_large', field: 'reference' });
      }
    });

    it('refuses a small file that claims a huge image (a decompression bomb) before decoding it', async () => {
      const bytes = await png(16, 16);
      // Rewrite the IHDR dimensions to 60000 × 60000 (and its CRC is then wrong, which the header read tolerates or refuses).
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      view.setUint32(16, 60_000);
      view.setUint32(20, 60_000);
      const response = await submitGeneration(proxy.url, { ...base, prompt: 'bomb' }, { references: [{ bytes }] });
      expect([413, 415]).toContain(response.status);
      expect(['reference_too_large', 'unsupported_image']).toContain((await error(response)).code);
    });

    it('accepts a reference of exactly 50 MB and refuses 50 MB + 1 byte with reference_too_large', async () => {
      const image = await jpeg(64, 64);
      const padded = (total: number) => {
        const bytes = new Uint8Array(total);
        bytes.set(image);
        return bytes;
      };
      await accepted(
        await submitGeneration(
          proxy.url,
          { ...base, prompt: 'big' },
          { references: [{ bytes: padded(REFERENCE_MAX_BYTES) }] },
        ),
      );
      const response = await submitGeneration(
        proxy.url,
        { ...base, prompt: 'too big' },
        { references: [{ bytes: padded(REFERENCE_MAX_BYTES + 1) }] },
      );
      expect(response.status).toBe(413);
      expect(await error(response)).toMatchObject({ code: 'reference_too_large' });
    });
  });

  describe('the request body', () => {
    it('refuses a body that is not multipart with 400 invalid_request', async () => {
      const response = await api(`${proxy.url}/v1/generations`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: 'x', ...base }),
      });
      expect(response.status).toBe(400);
      expect(await error(response)).toMatchObject({ code: 'invalid_request' });
    });

    it('refuses a truncated multipart body with 400 invalid_request, never 5xx', async () => {
      const body = '--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello';
      const response = await api(`${proxy.url}/v1/generations`, {
        method: 'POST',
        headers: { 'Content-Type': 'multipart/form-data; boundary=b' },
        body,
      });
      expect(response.status).toBe(400);
      expect(await error(response)).toMatchObject({ code: 'invalid_request' });
    });

    it('refuses a declared Content-Length over the cap at once with 413 payload_too_large', async () => {
      const small = await startTestProxy({ FRAMEFILL_BODY_LIMIT_BYTES: String(64 * 1024) });
      try {
        const response = await submitGeneration(
          small.url,
          { ...base, prompt: 'x' },
          { references: [{ bytes: new Uint8Array(100 * 1024).fill(1) }] },
        );
        expect(response.status).toBe(413);
        expect(await error(response)).toMatchObject({ code: 'payload_too_large' });
      } finally {
        await small.close();
      }
    });

    it('refuses a streamed (chunked) body once it passes the cap with 413 payload_too_large', async () => {
      const small = await startTestProxy({ FRAMEFILL_BODY_LIMIT_BYTES: String(256 * 1024) });
      try {
        const image = await png(16, 16);
        const boundary = 'xyz';
        const parts = [
          `--${boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi\r\n`,
          `--${boundary}\r\nContent-Disposition: form-data; name="aspect_ratio"\r\n\r\n1:1\r\n`,
          `--${boundary}\r\nContent-Disposition: form-data; name="resolution"\r\n\r\n1K\r\n`,
          `--${boundary}\r\nContent-Disposition: form-data; name="reference"; filename="a.png"\r\n\r\n`,
        ];
        const encoder = new TextEncoder();
        let sent = 0;
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const part of parts) controller.enqueue(encoder.encode(part));
            controller.enqueue(image);
          },
          pull(controller) {
            // Far past the 256 kB cap: the server must answer and hang up long before the client runs out.
            if (sent > 64 * 1024 * 1024) return controller.close();
            sent += 64 * 1024;
            controller.enqueue(new Uint8Array(64 * 1024));
          },
        });
        const response = await api(`${small.url}/v1/generations`, {
          method: 'POST',
          headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
          body: stream,
          duplex: 'half',
        } as RequestInit);
        expect(response.status).toBe(413);
        expect(await error(response)).toMatchObject({ code: 'payload_too_large' });
        expect(sent).toBeLessThan(64 * 1024 * 1024);
      } finally {
        await small.close();
      }
    });
  });
});
