// The draft provider renders an honest, deterministic placeholder at the exact size; the multipart reader
// copes with any chunking of its input.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { FramefillError } from '../../proxy/errors';
import { delimiterPrefixAtEnd, readMultipart } from '../../proxy/multipart';
import { createDraftProvider, DRAFT_MODEL } from '../../proxy/providers/draft';
import type { GenerationRequest, PartialImage } from '../../proxy/providers/types';
import { png } from '../helpers/images';

const request = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({
  jobId: crypto.randomUUID(),
  prompt: 'A red bicycle leaning on a blue wall',
  aspectRatio: '16:9',
  resolution: '1K',
  size: { width: 1280, height: 720 },
  quality: 'medium',
  outputFormat: 'png',
  references: [],
  ...over,
});

describe('the draft provider', () => {
  const draft = createDraftProvider({ delayMs: 0 });

  it('says it is no model', () => {
    expect(draft.name).toBe('draft');
    expect(DRAFT_MODEL).toContain('no model');
  });

  it('renders the exact size, deterministically, with at least one small JPEG partial', async () => {
    const partials: PartialImage[] = [];
    const a = await draft.generate(request(), new AbortController().signal, (p) => partials.push(p));
    const b = await draft.generate(request(), new AbortController().signal, () => undefined);
    expect(Buffer.compare(a.bytes, b.bytes)).toBe(0);
    const meta = await sharp(a.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1280, 720]);
    expect(partials.length).toBeGreaterThanOrEqual(1);
    expect(partials[0]!.mime).toBe('image/jpeg');
    expect(Math.max(partials[0]!.width, partials[0]!.height)).toBeLessThanOrEqual(256);
  });

  it('differs when the prompt or the references differ', async () => {
    const signal = new AbortController().signal;
    const base = await draft.generate(request(), signal, () => undefined);
    const otherPrompt = await draft.generate(request({ prompt: 'Something else' }), signal, () => undefined);
    const ref = { bytes: new Uint8Array(await png(200, 100, 3)), mime: 'image/png' as const, width: 200, height: 100 };
    const withRefs = await draft.generate(request({ references: [ref, ref] }), signal, () => undefined);
    expect(Buffer.compare(base.bytes, otherPrompt.bytes)).not.toBe(0);
    expect(Buffer.compare(base.bytes, withRefs.bytes)).not.toBe(0);
  });

  it('renders Auto at 1024 × 1024 and JPEG when asked', async () => {
    const result = await draft.generate(
      request({ aspectRatio: 'auto', size: 'auto', outputFormat: 'jpeg' }),
      new AbortController().signal,
      () => undefined,
    );
    const meta = await sharp(result.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1024, 1024]);
  });

  it('stops when aborted', async () => {
    const slow = createDraftProvider({ delayMs: 10_000 });
    const controller = new AbortController();
    const pending = slow.generate(request(), controller.signal, () => undefined);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });
});

describe('the multipart reader', () => {
  const limits = {
    maxFileBytes: 1024,
    maxFiles: 2,
    maxFieldBytes: 64,
    fileTooLarge: () => new FramefillError('reference_too_large'),
    tooManyFiles: () => new FramefillError('too_many_references'),
    fieldTooLarge: () => new FramefillError('invalid_request'),
  };
  const body =
    '--XX\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello\r\nworld\r\n' +
    '--XX\r\nContent-Disposition: form-data; name="reference"; filename="a.bin"\r\nContent-Type: image/png\r\n\r\n' +
    'bytes with \r\n--X inside\r\n--XX--\r\n';

  async function* streamOf(text: string, chunk: number): AsyncGenerator<Uint8Array> {
    const bytes = new TextEncoder().encode(text);
    for (let at = 0; at < bytes.length; at += chunk) yield bytes.slice(at, at + chunk);
  }

  it.each([1, 2, 3, 7, 64, 10_000])('reads the same fields and files with %i-byte chunks', async (chunk) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'framefill-mp-'));
    const form = await readMultipart(streamOf(body, chunk), 'multipart/form-data; boundary=XX', dir, limits);
    expect(form.fields.get('prompt')).toBe('hello\r\nworld');
    expect(form.files).toHaveLength(1);
    expect(readFileSync(form.files[0]!.file, 'utf8')).toBe('bytes with \r\n--X inside');
  });

  it('passes every byte of a file on, whatever the chunking, when its bytes hold starts of the delimiter', async () => {
    const boundary = 'framefill-7Hq2';
    const delimiter = Buffer.from(`\r\n--${boundary}`);
    // File bytes made of random bytes and of every proper start of the delimiter ("\r", "\r\n-", …).
    const piece = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      fc.integer({ min: 1, max: delimiter.length - 1 }).map((n) => new Uint8Array(delimiter.subarray(0, n))),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 40 }), fc.integer({ min: 1, max: 97 }), async (pieces, chunk) => {
        const file = Buffer.concat(pieces);
        fc.pre(!file.includes(delimiter));
        const body = Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="reference"; filename="a"\r\n\r\n`),
          file,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]);
        async function* chunks(): AsyncGenerator<Uint8Array> {
          for (let at = 0; at < body.length; at += chunk) yield body.subarray(at, at + chunk);
        }
        const dir = mkdtempSync(path.join(tmpdir(), 'framefill-mp-'));
        try {
          const form = await readMultipart(chunks(), `multipart/form-data; boundary=${boundary}`, dir, {
            ...limits,
            maxFileBytes: 1 << 20,
          });
          expect(readFileSync(form.files[0]!.file).equals(file)).toBe(true);
          expect(form.files[0]!.crc32).toBe(crc32(file));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps back only an end that could start the delimiter', () => {
    const delimiter = Buffer.from('\r\n--XX');
    expect(delimiterPrefixAtEnd(Buffer.from('image bytes'), delimiter)).toBe(0);
    expect(delimiterPrefixAtEnd(Buffer.from('image\rbytes'), delimiter)).toBe(0);
    expect(delimiterPrefixAtEnd(Buffer.from('bytes\r'), delimiter)).toBe(1);
    expect(delimiterPrefixAtEnd(Buffer.from('bytes\r\n--X'), delimiter)).toBe(5);
    expect(delimiterPrefixAtEnd(Buffer.from('\r\r\n-'), delimiter)).toBe(3);
    expect(delimiterPrefixAtEnd(Buffer.from('\r\n'), delimiter)).toBe(2);
  });

  it('refuses a file over its cap while it streams', async () => {
    const big = `--XX\r\nContent-Disposition: form-data; name="reference"; filename="a"\r\n\r\n${'z'.repeat(5000)}\r\n--XX--\r\n`;
    const dir = mkdtempSync(path.join(tmpdir(), 'framefill-mp-'));
    await expect(
      readMultipart(streamOf(big, 100), 'multipart/form-data; boundary=XX', dir, limits),
    ).rejects.toMatchObject({
      code: 'reference_too_large',
    });
  });
});
