// Edits and expansions through HTTP on the draft provider and on a provider that paints everywhere: every mask
// limit at its boundary with its code, and the result keeping the original's pixels outside the mask.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBodySchema, JobSchema } from '../../core/api';
import { sizeFor } from '../../core/formats';
import { MASK_FEATHER_PX, MASK_MAX_BYTES } from '../../core/limits';
import { priceOf } from '../../core/pricing';
import { fitCentred } from '../../proxy/edits';
import type { Provider } from '../../proxy/providers/types';
import { jpeg, png } from '../helpers/images';
import { busyPng, differing, type Ellipse, ellipseMask, insideEllipse, near, rgb } from '../helpers/masks';
import { api, generateAndWait, startTestProxy, submitGeneration, type TestProxy } from '../helpers/proxy';

const W = 1280;
const H = 720;
const ELLIPSE: Ellipse = { cx: 500, cy: 300, rx: 160, ry: 110 };
const edit = {
  prompt: 'A red kite in the sky',
  aspect_ratio: '16:9',
  resolution: '1K',
  output_format: 'png',
  mode: 'edit',
};

/** Paints the whole image one colour, mask or not: what a leaky model does at worst. */
const RED = { r: 230, g: 20, b: 20 };
const paintsEverywhere: Provider = {
  name: 'draft',
  model: 'paints-everywhere',
  async generate(request) {
    const size = request.size === 'auto' ? { width: 1024, height: 1024 } : request.size;
    const bytes = await sharp({ create: { ...size, channels: 3, background: RED } })
      .png()
      .toBuffer();
    return { bytes };
  },
};

let draft: TestProxy;
let leaky: TestProxy;
let original: Buffer;
let mask: Buffer;
beforeAll(async () => {
  draft = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
  leaky = await startTestProxy({}, { provider: paintsEverywhere });
  original = await busyPng(W, H);
  mask = await ellipseMask(W, H, ELLIPSE);
});
afterAll(async () => {
  await draft.close(0);
  await leaky.close(0);
});

const error = async (response: Response) => ErrorBodySchema.parse(await response.json()).error;
async function accepted(response: Response) {
  expect(response.status, await response.clone().text()).toBe(202);
  return JobSchema.parse(await response.json());
}
async function resultOf(url: string, id: string): Promise<Buffer> {
  return Buffer.from(await (await api(`${url}/v1/generations/${id}/image`)).arrayBuffer());
}

/** A PNG padded after IEND to exactly `bytes` (decoders ignore what follows IEND). */
function padded(pngBytes: Buffer, bytes: number): Buffer {
  return Buffer.concat([pngBytes, Buffer.alloc(bytes - pngBytes.length)]);
}

describe('mask limits at their boundaries (proxy)', () => {
  it('accepts a mask of the image size and refuses one a pixel off with mask_size_mismatch', async () => {
    await accepted(
      await submitGeneration(draft.url, edit, { references: [{ bytes: original }], mask: { bytes: mask } }),
    );
    for (const [w, h] of [
      [W + 1, H],
      [W, H - 1],
    ] as const) {
      const response = await submitGeneration(draft.url, edit, {
        references: [{ bytes: original }],
        mask: { bytes: await ellipseMask(w, h, ELLIPSE) },
      });
      expect(response.status).toBe(400);
      expect(await error(response)).toMatchObject({ code: 'mask_size_mismatch', field: 'mask' });
    }
  });

  it('refuses a mask without an alpha channel with mask_without_alpha; a palette PNG with tRNS has one', async () => {
    const opaque = await png(W, H);
    const response = await submitGeneration(draft.url, edit, {
      references: [{ bytes: original }],
      mask: { bytes: opaque },
    });
    expect(response.status).toBe(400);
    expect(await error(response)).toMatchObject({ code: 'mask_without_alpha', field: 'mask' });
    const palette = await sharp(mask).png({ palette: true }).toBuffer();
    await accepted(
      await submitGeneration(draft.url, edit, { references: [{ bytes: original }], mask: { bytes: palette } }),
    );
  });

  it(`accepts a mask of ${MASK_MAX_BYTES} bytes and refuses one byte more with mask_too_large`, async () => {
    await accepted(
      await submitGeneration(draft.url, edit, {
        references: [{ bytes: original }],
        mask: { bytes: padded(mask, MASK_MAX_BYTES) },
      }),
    );
    const response = await submitGeneration(draft.url, edit, {
      references: [{ bytes: original }],
      mask: { bytes: padded(mask, MASK_MAX_BYTES + 1) },
    });
    expect(response.status).toBe(413);
    expect(await error(response)).toMatchObject({ code: 'mask_too_large', field: 'mask' });
  });

  it('refuses a mask that is not a PNG with unsupported_image', async () => {
    const response = await submitGeneration(draft.url, edit, {
      references: [{ bytes: original }],
      mask: { bytes: await jpeg(W, H), type: 'image/png' },
    });
    expect(response.status).toBe(415);
    expect(await error(response)).toMatchObject({ code: 'unsupported_image', field: 'mask' });
  });

  it('refuses a mask whose header reads but whose pixels do not with unsupported_image, before any job', async () => {
    // The signature and IHDR (33 bytes) of a real mask of the right size, then bytes no decoder reads.
    const garbage = Buffer.concat([mask.subarray(0, 33), Buffer.alloc(256, 7)]);
    // Cut off half-way through its pixels.
    const truncated = mask.subarray(0, Math.floor(mask.length / 2));
    for (const [proxy, corrupt] of [
      [draft, garbage],
      [leaky, garbage],
      [leaky, truncated],
    ] as const) {
      const before = (await proxy.ledger.localAccount()).balance;
      const response = await submitGeneration(proxy.url, edit, {
        references: [{ bytes: original }],
        mask: { bytes: corrupt },
      });
      expect(response.status, `${proxy.url} ${corrupt.length} bytes`).toBe(415);
      expect(await error(response)).toMatchObject({ code: 'unsupported_image', field: 'mask' });
      expect((await proxy.ledger.localAccount()).balance).toBe(before);
    }
  });

  it('refuses what does not fit the mode with invalid_request, naming the field', async () => {
    const cases: Array<[Record<string, string>, Parameters<typeof submitGeneration>[2], string]> = [
      [{ ...edit, mode: 'generate' }, { references: [{ bytes: original }], mask: { bytes: mask } }, 'mask'],
      [edit, { references: [{ bytes: original }] }, 'mask'],
      [edit, { mask: { bytes: mask } }, 'reference'],
      [{ ...edit, mode: 'expand' }, { references: [{ bytes: original }], mask: { bytes: mask } }, 'mask'],
      [{ ...edit, mode: 'expand', aspect_ratio: 'auto' }, { references: [{ bytes: original }] }, 'aspect_ratio'],
      // A 16:9 image expanded to 16:9 has nothing outside it to paint.
      [{ ...edit, mode: 'expand' }, { references: [{ bytes: original }] }, 'aspect_ratio'],
      [{ ...edit, mode: 'paint' }, { references: [{ bytes: original }] }, 'mode'],
    ];
    for (const [fields, options, field] of cases) {
      const response = await submitGeneration(draft.url, fields, options);
      expect(response.status, JSON.stringify(fields)).toBe(400);
      expect(await error(response)).toMatchObject({ code: 'invalid_request', field });
    }
  });

  it('expands an image that leaves more than the feather (both sides) to paint, and refuses one within it', async () => {
    const before = (await draft.ledger.localAccount()).balance;
    const within = await submitGeneration(
      draft.url,
      { ...edit, mode: 'expand' },
      {
        references: [{ bytes: await busyPng(W, H - 2 * MASK_FEATHER_PX) }],
      },
    );
    expect(within.status).toBe(400);
    expect(await error(within)).toMatchObject({ code: 'invalid_request', field: 'aspect_ratio' });
    expect(
      (
        await error(
          await submitGeneration(
            draft.url,
            { ...edit, mode: 'expand' },
            {
              references: [{ bytes: original }],
            },
          ),
        )
      ).message,
    ).toMatch(/already has the 16:9 ratio: there is nothing to expand/);
    expect((await draft.ledger.localAccount()).balance).toBe(before);
    await accepted(
      await submitGeneration(
        draft.url,
        { ...edit, mode: 'expand' },
        {
          references: [{ bytes: await busyPng(W, H - 2 * MASK_FEATHER_PX - 2) }],
        },
      ),
    );
  });

  it('refuses a second mask', async () => {
    const form = new FormData();
    for (const [k, v] of Object.entries(edit)) form.append(k, v);
    form.append('reference', new Blob([new Uint8Array(original)], { type: 'image/png' }), 'a.png');
    for (let i = 0; i < 2; i++) form.append('mask', new Blob([new Uint8Array(mask)], { type: 'image/png' }), 'm.png');
    const response = await api(`${draft.url}/v1/generations`, { method: 'POST', body: form });
    expect(response.status).toBe(400);
    expect(await error(response)).toMatchObject({ code: 'invalid_request', field: 'mask' });
  });

  it('prices an edit and an expansion as one image at its tier and quality', async () => {
    const job = await accepted(
      await submitGeneration(
        draft.url,
        { ...edit, quality: 'high' },
        { references: [{ bytes: original }], mask: { bytes: mask } },
      ),
    );
    expect(job.cost_credits).toBe(priceOf('1K', 'high'));
    const expand = await accepted(
      await submitGeneration(
        draft.url,
        { ...edit, mode: 'expand', aspect_ratio: '9:16', resolution: '2K' },
        {
          references: [{ bytes: original }],
        },
      ),
    );
    expect(expand.cost_credits).toBe(priceOf('2K', 'medium'));
  });
});

describe('an edit request as a whole', () => {
  it('capabilities report the mask cap, and the mask is part of what an Idempotency-Key stands for', async () => {
    const caps = (await (await api(`${draft.url}/v1/capabilities`)).json()) as { limits: { mask_max_bytes: number } };
    expect(caps.limits.mask_max_bytes).toBe(MASK_MAX_BYTES);
    const key = { idempotencyKey: 'edit-once' };
    const first = await accepted(
      await submitGeneration(draft.url, edit, { ...key, references: [{ bytes: original }], mask: { bytes: mask } }),
    );
    const replay = await submitGeneration(draft.url, edit, {
      ...key,
      references: [{ bytes: original }],
      mask: { bytes: mask },
    });
    expect(replay.status).toBe(202);
    expect(JobSchema.parse(await replay.json()).id).toBe(first.id);
    const otherMask = await ellipseMask(W, H, { ...ELLIPSE, cx: ELLIPSE.cx + 10 });
    const conflict = await submitGeneration(draft.url, edit, {
      ...key,
      references: [{ bytes: original }],
      mask: { bytes: otherMask },
    });
    expect(conflict.status).toBe(409);
    expect(await error(conflict)).toMatchObject({ code: 'idempotency_conflict' });
  });
});

describe('the result keeps the original outside the mask', () => {
  it('a provider that paints everywhere changes only the ellipse and its feather', async () => {
    const { id, events } = await generateAndWait(leaky.url, edit, {
      references: [{ bytes: original }],
      mask: { bytes: mask },
    });
    expect(events.at(-1)?.event).toBe('completed');
    const before = await rgb(original);
    const after = await rgb(await resultOf(leaky.url, id));
    expect([after.width, after.height]).toEqual([W, H]);
    const changed = differing(before, after);
    const inside = (x: number, y: number) => insideEllipse(ELLIPSE, x, y);
    const strays = changed.filter(([x, y]) => !near(inside, x, y, MASK_FEATHER_PX));
    expect(strays).toEqual([]);
    // Deep inside the ellipse the model's paint is whole; the centre changed.
    const at = (x: number, y: number) => [...after.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)];
    expect(at(ELLIPSE.cx, ELLIPSE.cy)).toEqual([RED.r, RED.g, RED.b]);
    expect(changed.length).toBeGreaterThan(Math.PI * ELLIPSE.rx * ELLIPSE.ry * 0.9);
    const job = JobSchema.parse(await (await api(`${leaky.url}/v1/generations/${id}`)).json());
    expect(job.notes?.join(' ')).toMatch(/outside the mask/);
  });

  it('the draft repaints only the masked area, visibly', async () => {
    const { id } = await generateAndWait(draft.url, edit, { references: [{ bytes: original }], mask: { bytes: mask } });
    const before = await rgb(original);
    const after = await rgb(await resultOf(draft.url, id));
    const changed = differing(before, after);
    const inside = (x: number, y: number) => insideEllipse(ELLIPSE, x, y);
    expect(changed.filter(([x, y]) => !near(inside, x, y, MASK_FEATHER_PX))).toEqual([]);
    expect(changed.length).toBeGreaterThan(Math.PI * ELLIPSE.rx * ELLIPSE.ry * 0.5);
  });

  it('an expansion from 16:9 to 9:16 keeps the original, fitted and centred, in the middle', async () => {
    const { id, events } = await generateAndWait(
      leaky.url,
      { ...edit, mode: 'expand', aspect_ratio: '9:16' },
      { references: [{ bytes: original }] },
    );
    expect(events.at(-1)?.event).toBe('completed');
    const size = sizeFor('9:16', '1K') as { width: number; height: number };
    const at = fitCentred({ width: W, height: H }, size);
    expect(at).toEqual({ left: 0, top: 437, width: 720, height: 405 });
    const after = await sharp(await resultOf(leaky.url, id))
      .removeAlpha()
      .extract({
        left: at.left,
        top: at.top + MASK_FEATHER_PX,
        width: at.width,
        height: at.height - 2 * MASK_FEATHER_PX,
      })
      .raw()
      .toBuffer();
    const expected = await sharp(await sharp(original).resize(at.width, at.height, { fit: 'fill' }).toBuffer())
      .removeAlpha()
      .extract({ left: 0, top: MASK_FEATHER_PX, width: at.width, height: at.height - 2 * MASK_FEATHER_PX })
      .raw()
      .toBuffer();
    expect(after.equals(expected)).toBe(true);
    // Above and below, the model painted.
    const whole = await rgb(await resultOf(leaky.url, id));
    const rows = (from: number, to: number) => whole.data.subarray(from * size.width * 3, to * size.width * 3);
    const red = (bytes: Buffer) => bytes.every((v, i) => v === [RED.r, RED.g, RED.b][i % 3]);
    expect(red(rows(0, at.top - MASK_FEATHER_PX))).toBe(true);
    expect(red(rows(at.top + at.height + MASK_FEATHER_PX, size.height))).toBe(true);
  });
});

/**
 * What Figma's FILL shows of an image in a frame: the image scaled to cover the frame and centred
 * (https://developers.figma.com/docs/plugins/api/Paint#scalemode), so the crop is the image's centre.
 */
function visibleUnderFill(image: { width: number; height: number }, frame: { width: number; height: number }) {
  const scale = Math.max(frame.width / image.width, frame.height / image.height);
  const width = frame.width / scale;
  const height = frame.height / scale;
  return { left: (image.width - width) / 2, top: (image.height - height) / 2, width, height };
}

describe('an expansion keeps what the frame showed where the frame showed it', () => {
  const GREEN = { r: 20, g: 200, b: 40 };
  for (const [from, to, frame] of [
    ['16:9', '9:16', { width: 1080, height: 1920 }],
    ['9:16', '16:9', { width: 1920, height: 1080 }],
  ] as const) {
    it(`a ${from} image shown by FILL in a ${to} frame: the part the designer saw is centred in the result`, async () => {
      const source = sizeFor(from, '1K') as { width: number; height: number };
      const seen = visibleUnderFill(source, frame);
      // Blue everywhere but the part FILL shows, which is green.
      const image = await sharp({ create: { ...source, channels: 3, background: { r: 20, g: 40, b: 200 } } })
        .composite([
          {
            input: {
              create: {
                width: Math.round(seen.width),
                height: Math.round(seen.height),
                channels: 3,
                background: GREEN,
              },
            },
            left: Math.round(seen.left),
            top: Math.round(seen.top),
          },
        ])
        .png()
        .toBuffer();
      const { id, events } = await generateAndWait(
        leaky.url,
        { ...edit, mode: 'expand', aspect_ratio: to },
        { references: [{ bytes: image }] },
      );
      expect(events.at(-1)?.event).toBe('completed');
      const result = await rgb(await resultOf(leaky.url, id));
      const size = sizeFor(to, '1K') as { width: number; height: number };
      expect([result.width, result.height]).toEqual([size.width, size.height]);
      let [left, top, right, bottom] = [size.width, size.height, -1, -1];
      for (let y = 0; y < size.height; y++) {
        for (let x = 0; x < size.width; x++) {
          const i = (y * size.width + x) * 3;
          const green = Math.abs((result.data[i + 1] ?? 0) - GREEN.g) < 40 && (result.data[i + 2] ?? 255) < 120;
          if (!green) continue;
          [left, top, right, bottom] = [Math.min(left, x), Math.min(top, y), Math.max(right, x), Math.max(bottom, y)];
        }
      }
      expect(right).toBeGreaterThan(left);
      // The seen part's centre is the result's centre (to a pixel of rounding) …
      expect(Math.abs((left + right + 1) / 2 - size.width / 2)).toBeLessThanOrEqual(1.5);
      expect(Math.abs((top + bottom + 1) / 2 - size.height / 2)).toBeLessThanOrEqual(1.5);
      // … and it keeps the frame's ratio: the result, placed in the frame, shows it in the frame's middle.
      expect((right - left + 1) / (bottom - top + 1)).toBeCloseTo(frame.width / frame.height, 1);
    });
  }
});
