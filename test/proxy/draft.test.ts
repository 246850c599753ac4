import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createDraftProvider, DRAFT_MODEL } from '../../proxy/providers/draft';
import type { GenerationRequest, PartialImage } from '../../proxy/providers/types';
import { png } from '../helpers/images';

const request = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({
  jobId: crypto.randomUUID(),
  accountId: 'account',
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
    const job = request();
    const a = await draft.generate(job, new AbortController().signal, (p) => partials.push(p));
    const b = await draft.generate(job, new AbortController().signal, () => undefined);
    expect(Buffer.compare(a.bytes, b.bytes)).toBe(0);
    const meta = await sharp(a.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1280, 720]);
    expect(partials.length).toBeGreaterThanOrEqual(1);
    expect(partials[0]!.mime).toBe('image/jpeg');
    expect(Math.max(partials[0]!.width, partials[0]!.height)).toBeLessThanOrEqual(256);
  });

  it('looks different when regenerated (another job, the same prompt), with its mark in the middle every crop keeps', async () => {
    const signal = new AbortController().signal;
    const first = await draft.generate(request(), signal, () => undefined);
    const again = await draft.generate(request(), signal, () => undefined);
    expect(Buffer.compare(first.bytes, again.bytes)).not.toBe(0);
    // A 3:1 banner crops a 16:9 image to its middle band: the mark's red is at the very centre.
    const { data } = await sharp(first.bytes).extract({ left: 640, top: 360, width: 1, height: 1 }).raw().toBuffer({
      resolveWithObject: true,
    });
    const [r, g, b] = [data[0]!, data[1]!, data[2]!];
    expect(r).toBeGreaterThan(150);
    expect(g).toBeLessThan(100);
    expect(b).toBeLessThan(100);
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
