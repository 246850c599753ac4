// Edits and expansions on the OpenAI provider against the Images API stand-in: the request carries the mask as
// OpenAI documents it (the `mask` part, a PNG with alpha of the first image's size, that image a PNG too), the
// stand-in refuses every mask OpenAI documents as refused — at least wherever the proxy does — and the stand-in's
// image, which ignores the mask entirely, is kept only inside it.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { MASK_FEATHER_PX, MASK_MAX_BYTES } from '../../core/limits';
import { validateMask } from '../../core/validate';
import { startFakeOpenAI } from '../fakes/openai-upstream';
import { busyPng, differing, type Ellipse, ellipseMask, insideEllipse, near, rgb } from '../helpers/masks';
import { api, generateAndWait } from '../helpers/proxy';
import { png, useProxyOnFakeOpenAI } from './fixtures';

const setUp = useProxyOnFakeOpenAI();

const W = 1280;
const H = 720;
const ELLIPSE: Ellipse = { cx: 700, cy: 360, rx: 200, ry: 120 };
const fields = { prompt: 'A paper kite', aspect_ratio: '16:9', resolution: '1K', quality: 'low', output_format: 'png' };

describe('an edit through the proxy on the OpenAI stand-in', () => {
  it('sends the image as the first image[] (PNG) with the mask part, further references after it', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_PARTIAL_IMAGES: '0' });
    const original = await sharp(await busyPng(W, H))
      .jpeg({ quality: 95 })
      .toBuffer();
    const mask = await ellipseMask(W, H, ELLIPSE);
    const style = await png(64, 48);
    const { id, events } = await generateAndWait(
      proxy.url,
      { ...fields, mode: 'edit' },
      {
        references: [
          { bytes: original, type: 'image/jpeg' },
          { bytes: style, type: 'image/png' },
        ],
        mask: { bytes: mask },
      },
    );
    expect(events.at(-1)?.event, JSON.stringify(events.at(-1))).toBe('completed');
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1/images/edits');
    expect(sent.images.map((p) => p.contentType)).toEqual(['image/png', 'image/png']);
    const first = await sharp(sent.images[0]!.bytes).metadata();
    expect([first.format, first.width, first.height]).toEqual(['png', W, H]);
    const maskPart = sent.parts!.find((p) => p.name === 'mask')!;
    expect(maskPart).toMatchObject({ contentType: 'image/png' });
    expect(maskPart.bytes!.equals(mask)).toBe(true);
    expect(sent.parts!.filter((p) => p.name === 'mask')).toHaveLength(1);

    // The stand-in paints its own picture over everything; outside the ellipse and its feather the result is the
    // image sent (the JPEG as decoded).
    const result = Buffer.from(await (await api(`${proxy.url}/v1/generations/${id}/image`)).arrayBuffer());
    const before = await rgb(sent.images[0]!.bytes!);
    const after = await rgb(result);
    const changed = differing(before, after);
    const inside = (x: number, y: number) => insideEllipse(ELLIPSE, x, y);
    expect(changed.filter(([x, y]) => !near(inside, x, y, MASK_FEATHER_PX))).toEqual([]);
    expect(changed.length).toBeGreaterThan(0);
  });

  it('an expansion sends a canvas of the target size and a mask of the same size', async () => {
    const { fake, proxy } = await setUp({ FRAMEFILL_PARTIAL_IMAGES: '0' });
    const { events } = await generateAndWait(
      proxy.url,
      { ...fields, mode: 'expand', aspect_ratio: '9:16' },
      {
        references: [{ bytes: await busyPng(W, H) }],
      },
    );
    expect(events.at(-1)?.event).toBe('completed');
    const sent = fake.requests.at(-1)!;
    expect(sent.params.size).toBe('720x1280');
    const image = await sharp(sent.images[0]!.bytes).metadata();
    const mask = await sharp(sent.parts!.find((p) => p.name === 'mask')!.bytes).metadata();
    expect([image.format, image.width, image.height]).toEqual(['png', 720, 1280]);
    expect([mask.format, mask.width, mask.height, mask.hasAlpha]).toEqual(['png', 720, 1280, true]);
  });
});

describe('the stand-in checks masks as OpenAI documents them, at least as strictly as the proxy', () => {
  async function editOnStandIn(image: { bytes: Buffer; type: string }, mask: Buffer, maskType = 'image/png') {
    const fake = await startFakeOpenAI({ apiKey: 'k' });
    try {
      const form = new FormData();
      for (const [k, v] of Object.entries({
        model: 'gpt-image-2',
        prompt: 'a kite',
        quality: 'low',
        size: '1280x720',
      })) {
        form.append(k, v);
      }
      form.append('image[]', new File([new Uint8Array(image.bytes)], 'image', { type: image.type }));
      form.append('mask', new File([new Uint8Array(mask)], 'mask.png', { type: maskType }));
      const response = await fetch(`${fake.url}/images/edits`, {
        method: 'POST',
        headers: { authorization: 'Bearer k' },
        body: form,
      });
      const body = (await response.json()) as { error?: { param: string | null; message: string } };
      return { status: response.status, error: body.error };
    } finally {
      await fake.close();
    }
  }

  it('accepts a good mask and refuses each documented fault on the mask', async () => {
    const image = { bytes: await busyPng(W, H), type: 'image/png' };
    const good = await ellipseMask(W, H, ELLIPSE);
    expect((await editOnStandIn(image, good)).status).toBe(200);
    const faults: Array<[string, { bytes: Buffer; type: string }, Buffer]> = [
      ['no alpha channel', image, await png(W, H)],
      ['a pixel narrower', image, await ellipseMask(W - 1, H, ELLIPSE)],
      ['4,000,000 bytes', image, Buffer.concat([good, Buffer.alloc(4_000_000 - good.length)])],
      ['a JPEG mask', image, await sharp(good).flatten().jpeg().toBuffer()],
      ['an image in another format', { bytes: await sharp(image.bytes).jpeg().toBuffer(), type: 'image/jpeg' }, good],
    ];
    for (const [why, img, mask] of faults) {
      const answer = await editOnStandIn(img, mask);
      expect(answer.status, why).toBe(400);
      expect(answer.error?.param, why).toBe('mask');
    }
  });

  it("refuses every mask the proxy refuses (core rules), at the proxy's byte boundary too", async () => {
    const image = { bytes: await busyPng(W, H), type: 'image/png' };
    const good = await ellipseMask(W, H, ELLIPSE);
    const candidates = [
      good,
      await png(W, H),
      await ellipseMask(W, H + 1, ELLIPSE),
      Buffer.concat([good, Buffer.alloc(MASK_MAX_BYTES - good.length)]),
      Buffer.concat([good, Buffer.alloc(MASK_MAX_BYTES + 1 - good.length)]),
      await sharp(good).png({ palette: true }).toBuffer(),
    ];
    for (const [index, mask] of candidates.entries()) {
      const proxyRefuses = validateMask({ mask, image: { width: W, height: H } }) !== undefined;
      const standIn = await editOnStandIn(image, mask);
      if (proxyRefuses) expect(standIn.status, `candidate ${index}`).toBe(400);
      else expect(standIn.status, `candidate ${index}`).toBe(200);
    }
  });
});
