// The panel in Chromium shrinks large photo-like PNG references to JPEG before upload, and leaves small or
// transparent PNGs byte for byte as Figma exported them. A recorder in front of the proxy keeps each upload.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, FrameLocator, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { REFERENCE_REENCODE_MIN_BYTES } from '../../core/limits';
import { DEFAULT_SETTINGS } from '../../core/messages';
import { forwardTo } from '../helpers/forward';
import { imageInfo, png } from '../helpers/images';
import { startTestProxy, type TestProxy } from '../helpers/proxy';
import { frame } from '../ui/fixtures';
import { usePanelHostInChromium } from './helpers/panel-host';

const chromium = usePanelHostInChromium();
let context: BrowserContext | undefined;
let proxy: TestProxy | undefined;
let recorder: Recorder | undefined;

afterEach(async () => {
  await context?.close();
  context = undefined;
  await recorder?.close();
  recorder = undefined;
  await proxy?.close(0);
  proxy = undefined;
});

interface Upload {
  name: string;
  type: string;
  bytes: Buffer;
}

interface Recorder {
  url: string;
  /** The `reference` parts of every POST /v1/generations, in order. */
  uploads: Upload[][];
  close(): Promise<void>;
}

/** Forwards every request to the proxy unchanged, keeping the reference parts of each generation request. */
async function startRecorder(target: string): Promise<Recorder> {
  const uploads: Upload[][] = [];
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST' && req.url === '/v1/generations') {
        const form = await new Response(body, {
          headers: { 'content-type': req.headers['content-type'] ?? '' },
        }).formData();
        const parts: Upload[] = [];
        for (const value of form.getAll('reference')) {
          if (typeof value === 'string') continue;
          parts.push({ name: value.name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) });
        }
        uploads.push(parts);
      }
      forwardTo(upstream, req, res).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    uploads,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A seeded PRNG, so the fixtures are the same bytes on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 4_294_967_296;
  };
}

/**
 * Photo-like pixels: smooth colour fields (a tiny random image scaled up) plus per-pixel grain, which
 * PNG compresses badly and JPEG well — like a photo. With `alpha`, a soft hole makes part of it see-through.
 */
async function photoLikePng(width: number, height: number, seed: number, alpha = false): Promise<Buffer> {
  const next = random(seed);
  const small = Buffer.alloc(16 * 9 * 3);
  for (let i = 0; i < small.length; i++) small[i] = Math.floor(next() * 256);
  const smooth = await sharp(small, { raw: { width: 16, height: 9, channels: 3 } })
    .resize(width, height, { kernel: 'cubic' })
    .raw()
    .toBuffer();
  const channels = alpha ? 4 : 3;
  const data = Buffer.alloc(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      data[p * channels + c] = Math.max(0, Math.min(255, smooth[p * 3 + c]! + Math.round((next() - 0.5) * 12)));
    }
    if (alpha) {
      const x = (p % width) - width / 2;
      const y = Math.floor(p / width) - height / 2;
      data[p * channels + 3] = x * x + y * y < 200 * 200 ? 64 : 255;
    }
  }
  return sharp(data, { raw: { width, height, channels } }).png().toBuffer();
}

const HERO = frame('Hero', 1440, 810, '1:10');
const REFERENCE = frame('Reference', 2048, 1152, '2:1');

/**
 * Opens the panel against the recorder, with the host answering every export of the reference node with
 * `bytes`, pins that node as the one reference, generates for the Hero frame and waits for the placement.
 */
async function generateWithReference(bytes: Buffer, options: { placed?: boolean } = {}): Promise<Upload> {
  proxy = await startTestProxy();
  recorder = await startRecorder(proxy.url);
  context = await chromium.browser.newContext({ viewport: { width: 400, height: 1140 }, deviceScaleFactor: 1 });
  const page: Page = await context.newPage();
  page.on('pageerror', (error) => console.error('host page error:', error));
  await page.goto(chromium.host.url);
  const { width, height } = REFERENCE;
  const nodes = {
    [REFERENCE.id]: { name: REFERENCE.name, width, height, b64: bytes.toString('base64') },
    [HERO.id]: { name: HERO.name, width: HERO.width, height: HERO.height, b64: (await png(64, 36)).toString('base64') },
  };
  await page.evaluate(
    ({ nodes, settings }) => {
      window.host.nodes = nodes;
      window.host.storage.settings = settings;
      window.host.open();
    },
    { nodes, settings: { ...DEFAULT_SETTINGS, proxyUrl: recorder.url, token: proxy.localToken } },
  );
  const panel: FrameLocator = page.frameLocator('iframe');
  await panel.getByText('Balance:').waitFor();
  await page.evaluate((ref) => window.host.select([ref]), REFERENCE);
  await panel.getByRole('button', { name: 'Add selection as references' }).click();
  await expect.poll(() => panel.getByRole('list', { name: 'References' }).getByRole('listitem').count()).toBe(1);
  await page.evaluate((hero) => window.host.select([hero]), HERO);
  await panel.getByText('1 frame: 16:9').waitFor();
  await panel.getByLabel('Prompt').fill('The same scene at dusk');
  await panel.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: /^1K/ }).check();
  await panel.getByRole('button', { name: /^Generate/ }).click();
  if (options.placed === false) await expect.poll(() => recorder?.uploads.length, { timeout: 30_000 }).toBe(1);
  else await panel.getByText('Placed in Hero.').waitFor({ timeout: 30_000 });
  expect(recorder.uploads).toHaveLength(1);
  const [parts] = recorder.uploads;
  expect(parts).toHaveLength(1);
  return parts![0]!;
}

describe('reference uploads from the panel in Chromium', () => {
  it('sends a large photo-like PNG reference as a JPEG under 1.5 MB, at the same size', async () => {
    const photo = await photoLikePng(2048, 1152, 7);
    expect(photo.length).toBeGreaterThan(REFERENCE_REENCODE_MIN_BYTES);

    const upload = await generateWithReference(photo);

    expect(upload.type).toBe('image/jpeg');
    expect(upload.name).toBe('reference-1.jpeg');
    expect(upload.bytes.length).toBeLessThan(REFERENCE_REENCODE_MIN_BYTES);
    expect(await imageInfo(upload.bytes)).toEqual({ format: 'jpeg', width: 2048, height: 1152 });
    // Still the same picture: the mean colour barely moves.
    const [before, after] = await Promise.all([sharp(photo).stats(), sharp(upload.bytes).stats()]);
    for (const c of [0, 1, 2]) expect(Math.abs(before.channels[c]!.mean - after.channels[c]!.mean)).toBeLessThan(2);
  });

  it('sends a small flat PNG reference unchanged', async () => {
    const flat = await png(2048, 1152, 5);
    expect(flat.length).toBeLessThan(REFERENCE_REENCODE_MIN_BYTES);

    const upload = await generateWithReference(flat);

    expect(upload.type).toBe('image/png');
    expect(upload.bytes.equals(flat)).toBe(true);
  });

  it('sends a large PNG reference with transparency unchanged, since JPEG would lose it', async () => {
    const transparent = await photoLikePng(2048, 1152, 11, true);
    expect(transparent.length).toBeGreaterThan(REFERENCE_REENCODE_MIN_BYTES);

    const upload = await generateWithReference(transparent);

    expect(upload.type).toBe('image/png');
    expect(upload.bytes.equals(transparent)).toBe(true);
  });

  it('sends a large PNG reference the browser cannot decode as it is, instead of failing in the panel', async () => {
    const photo = await photoLikePng(2048, 1152, 13);
    // Cut short mid-image: the signature and header still say PNG, the pixels never finish.
    const broken = photo.subarray(0, Math.floor(photo.length * 0.9));
    expect(broken.length).toBeGreaterThan(REFERENCE_REENCODE_MIN_BYTES);

    const upload = await generateWithReference(broken, { placed: false });

    expect(upload.type).toBe('image/png');
    expect(upload.bytes.equals(broken)).toBe(true);
  });
});
