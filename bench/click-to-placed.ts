// §1 Framefill's share of click → placed, and §2 the bytes on the wire per job: the playground's built plugin and
// panel in Chromium, 16 photo-like references, a 4K result, the proxy on the OpenAI provider, and an upstream that
// holds every call a fixed time. Timestamps come from outside the product: the playground page's messages between
// the panel and the plugin's main thread (an init script listens to both sides), Chromium's network timing of the
// panel's requests, the proxy's job log, and the upstream stand-in's own clock. All are wall-clock milliseconds
// on one machine.
//
// The Figma stand-in exports every node as one flat colour; Figma exports a frame holding a photo as a photo. The
// init script gives each full-size reference export photo-like pixels of the exported size on its way from the
// plugin's main thread to the panel (thumbnails are left alone), so the panel re-encodes and uploads what it would
// for photos. The export step's time is the stand-in's, not Figma's.
import type { Frame, Page, Request } from 'playwright-core';
import { sizeFor } from '../core/formats';
import { REFERENCE_JPEG_QUALITY } from '../core/limits';
import type { NodeView } from '../playground/protocol';
import { JPEG_COMPRESSION } from '../proxy/providers/openai';
import { launchChromium } from '../test/e2e/helpers/chromium';
import type { SpawnedProxy } from '../test/helpers/proxy';
import { encode, photoLike } from './fixtures';
import type { HoldUpstream, UpstreamCall } from './hold-upstream';
import { exportSize, MAX_EDGE } from './references';
import { type Row, summarize } from './stats';

const MB = 1024 * 1024;
/** The frame that receives the 4K image (16:9 → 3840 × 2160). */
const TARGET = 'Hero';
export const RESULT_SIZE = sizeFor('16:9', '4K') as { width: number; height: number };

/** The 4K photo-like result the upstream answers with, in the output format asked (JPEG at the proxy's compression). */
export async function resultImage(width: number, height: number, format: 'png' | 'jpeg'): Promise<Buffer> {
  return encode(await photoLike(width, height, 4242), format, JPEG_COMPRESSION);
}

/** What the init script keeps in the playground page (`window.__bench`). */
interface BenchPage {
  /** [direction, message name, Date.now(), requestId or job id]. */
  log: [string, string, number, string][];
  worker: Worker | null;
  photos: Map<string, Uint8Array>;
  fullExports: Set<string>;
  swapped: number;
}

/**
 * Runs in the playground page before its own scripts: keeps the sandbox worker the page creates, logs every
 * message between panel and main with its time, and swaps photo pixels into full-size reference exports.
 */
function instrumentPlayground(minEdge: number): void {
  if (window !== window.top) return;
  const bench: BenchPage = { log: [], worker: null, photos: new Map(), fullExports: new Set(), swapped: 0 };
  (window as unknown as { __bench: BenchPage }).__bench = bench;
  const NativeWorker = window.Worker;
  window.Worker = class extends NativeWorker {
    constructor(url: string | URL, options?: WorkerOptions) {
      super(url, options);
      bench.worker = this;
      // Registered before the page's own listener, so a swapped export is what the page forwards to the panel.
      this.addEventListener('message', (event: MessageEvent) => {
        const data = event.data as { kind?: string; pluginMessage?: unknown };
        if (data?.kind !== 'to-panel' || !Array.isArray(data.pluginMessage)) return;
        const [name, payload] = data.pluginMessage as [string, Record<string, unknown>];
        const requestId = String(payload?.requestId ?? '');
        bench.log.push(['main→panel', name, Date.now(), requestId]);
        if (name !== 'REFERENCE_EXPORTED' || !bench.fullExports.has(requestId)) return;
        const image = payload.image as { nodeId: string; width: number; height: number; bytes: Uint8Array };
        const photo = bench.photos.get(`${image.nodeId}@${image.width}x${image.height}`);
        if (photo) {
          image.bytes = photo;
          bench.swapped++;
        }
      });
    }
  };
  window.addEventListener('message', (event: MessageEvent) => {
    const data = event.data as { pluginMessage?: unknown };
    if (!Array.isArray(data?.pluginMessage)) return;
    const [name, payload] = data.pluginMessage as [string, Record<string, unknown>];
    const requestId = String(payload?.requestId ?? '');
    if (name === 'EXPORT_REFERENCES' && Number(payload.maxEdge) >= minEdge) bench.fullExports.add(requestId);
    const jobId = name === 'PLACE_IMAGE' ? String((payload.provenance as { jobId?: string })?.jobId ?? '') : '';
    bench.log.push(['panel→main', name, Date.now(), jobId || requestId]);
  });
}

export interface ClickRun {
  click: number;
  exported: number;
  uploadStart: number;
  accepted: number;
  queuedLog: number;
  runningLog: number;
  upstreamHeaders: number;
  upstreamRead: number;
  upstreamAnswered: number;
  completedLog: number;
  imageStart: number;
  imageEnd: number;
  placeAsked: number;
  placed: number;
  bytes: {
    upload: number;
    referenceFiles: number[];
    toUpstream: number;
    fromUpstream: number;
    events: number;
    image: number;
  };
}

export interface ClickToPlacedResult {
  rows: Row[];
  runs: ClickRun[];
  references: { nodes: string[]; pixels: number; pngBytes: number[]; leastJpegBytes: number[] };
  resultBytes: number;
  holdMs: number;
}

/** A job's log lines from the proxy's stdout: status → Date.parse(time). */
function jobLog(output: string, id: string): Record<string, number> {
  const times: Record<string, number> = {};
  for (const line of output.split('\n')) {
    if (!line.includes(id)) continue;
    try {
      const parsed = JSON.parse(line) as { kind?: string; status?: string; time?: string };
      if (parsed.kind === 'job' && parsed.status && parsed.time) times[parsed.status] ??= Date.parse(parsed.time);
    } catch {
      // not a log line
    }
  }
  return times;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export async function measureClickToPlaced(
  proxy: SpawnedProxy,
  upstream: HoldUpstream,
  opts: { runs: number; holdMs: number; log: (line: string) => void },
): Promise<ClickToPlacedResult> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
    await context.addInitScript(instrumentPlayground, 256);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const requests: Request[] = [];
    page.on('requestfinished', (request) => requests.push(request));
    await page.goto(`${proxy.url}/playground`);
    const panelLocator = page.frameLocator('#plugin-body iframe');
    await panelLocator.getByText('Balance:').waitFor({ timeout: 30_000 });
    const panel = (await (await page.locator('#plugin-body iframe').elementHandle())?.contentFrame()) as Frame;

    // 16 references: every frame but the target, then shapes inside the mood boards (selected as in Figma's layers
    // panel: the playground's canvas offers top-level frames only).
    const nodes = await page.evaluate(() => window.playground.snapshot().nodes);
    const target = nodes.find((n) => n.name === TARGET)!;
    const frames = nodes.filter((n) => n.id !== target.id);
    const shapes = frames.flatMap((n) => n.children);
    const chosen: NodeView[] = [...frames, ...shapes].slice(0, 16);
    if (chosen.length !== 16) throw new Error(`the playground has ${chosen.length} nodes to pin, not 16`);
    opts.log(`1. making photo-like pixels for the 16 references (${chosen.map((n) => n.name).join(', ')})`);
    const pngs = await Promise.all(
      chosen.map(async (node, i) => {
        const size = exportSize(node.width, node.height, MAX_EDGE);
        return { node, size, png: await encode(await photoLike(size.width, size.height, 500 + i), 'png') };
      }),
    );
    for (const { node, size, png } of pngs) {
      await page.evaluate(
        ({ key, b64 }) => {
          const text = atob(b64);
          const bytes = new Uint8Array(text.length);
          for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
          (window as unknown as { __bench: BenchPage }).__bench.photos.set(key, bytes);
        },
        { key: `${node.id}@${size.width}x${size.height}`, b64: png.toString('base64') },
      );
    }
    // The least that carries the same pixels: each photo as JPEG by the panel's rule, with Chromium's own encoder.
    const leastJpegBytes = await page.evaluate(async (quality) => {
      const sizes: number[] = [];
      for (const bytes of (window as unknown as { __bench: BenchPage }).__bench.photos.values()) {
        const bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/png' }));
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        canvas.getContext('2d')?.drawImage(bitmap, 0, 0);
        sizes.push((await canvas.convertToBlob({ type: 'image/jpeg', quality })).size);
      }
      return sizes;
    }, REFERENCE_JPEG_QUALITY);

    await page.evaluate((ids) => {
      const bench = (window as unknown as { __bench: BenchPage }).__bench;
      bench.log.length = 0;
      bench.worker?.postMessage({ kind: 'select', ids });
    }, chosen.map((n) => n.id));
    await until('the panel told of the selection', async () => {
      const entries = await page.evaluate(() => (window as unknown as { __bench: BenchPage }).__bench.log);
      return entries.some(([, name]) => name === 'SELECTION_CHANGED') ? true : undefined;
    });
    await sleep(200);
    await panelLocator.getByRole('button', { name: 'Add selection as references' }).click();
    const tray = panelLocator.getByRole('list', { name: 'References' }).getByRole('listitem');
    await until('16 references in the tray', async () => ((await tray.count()) === 16 ? true : undefined));

    await page.getByRole('button', { name: `${TARGET} ${target.width}×${target.height}`, exact: true }).click();
    await panelLocator.getByLabel('Prompt').fill('A ceramic cup on a sunlit table, warm dusk palette, film photograph');
    await panelLocator.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: /^4K/ }).check();
    await panelLocator.getByRole('button', { name: /^Generate/ }).waitFor();

    const runs: ClickRun[] = [];
    for (let run = 0; run <= opts.runs; run++) {
      const firstRequest = requests.length;
      const firstCall = upstream.calls.length;
      await page.evaluate(() => {
        (window as unknown as { __bench: BenchPage }).__bench.log.length = 0;
      });
      const click = await panel.evaluate(() => {
        const button = [...document.querySelectorAll('button')].find((b) => b.textContent?.startsWith('Generate'));
        if (!button) throw new Error('no Generate button');
        const at = Date.now();
        button.click();
        return at;
      });
      const log = await until(
        'the image placed',
        async () => {
          const entries = await page.evaluate(() => (window as unknown as { __bench: BenchPage }).__bench.log);
          return entries.some(([, name]) => name === 'IMAGE_PLACED' || name === 'PLACE_FAILED') ? entries : undefined;
        },
        opts.holdMs + 60_000,
      );
      const at = (direction: string, name: string) => log.find(([d, n]) => d === direction && n === name);
      if (at('main→panel', 'PLACE_FAILED')) throw new Error(`placing failed: ${JSON.stringify(log)}`);
      const jobId = at('panel→main', 'PLACE_IMAGE')![3];
      // The GET of the image and the event stream end before or just after the placement is reported.
      const mine = await until('the job’s requests', () => {
        const list = requests.slice(firstRequest);
        const post = list.find((r) => r.method() === 'POST' && r.url().endsWith('/v1/generations'));
        const image = list.find((r) => r.url().endsWith(`/v1/generations/${jobId}/image`));
        const events = list.find((r) => r.url().endsWith(`/v1/generations/${jobId}/events`));
        return post && image && events ? { post, image, events } : undefined;
      });
      const call = upstream.calls.slice(firstCall).find((c) => c.answeredAt !== undefined) as UpstreamCall;
      const times = jobLog(proxy.output(), jobId);
      const post = mine.post.timing();
      const image = mine.image.timing();
      const [postSizes, imageSizes, eventSizes] = await Promise.all(
        [mine.post, mine.image, mine.events].map((r) => r.sizes()),
      );
      const result: ClickRun = {
        click,
        exported: at('main→panel', 'REFERENCES_EXPORTED')![2],
        uploadStart: post.startTime,
        accepted: post.startTime + post.responseStart,
        queuedLog: times.queued ?? Number.NaN,
        runningLog: times.running ?? Number.NaN,
        upstreamHeaders: call.headersAt,
        upstreamRead: call.bodyEndAt,
        upstreamAnswered: call.answeredAt!,
        completedLog: times.completed ?? Number.NaN,
        imageStart: image.startTime,
        imageEnd: image.startTime + image.responseEnd,
        placeAsked: at('panel→main', 'PLACE_IMAGE')![2],
        placed: at('main→panel', 'IMAGE_PLACED')![2],
        bytes: {
          upload: postSizes!.requestBodySize,
          referenceFiles: call.imageBytes,
          toUpstream: call.bytesIn,
          fromUpstream: call.bytesOut,
          events: eventSizes!.responseBodySize,
          image: imageSizes!.responseBodySize,
        },
      };
      if (call.format !== 'jpeg' || call.size !== `${RESULT_SIZE.width}x${RESULT_SIZE.height}`) {
        throw new Error(`the upstream was asked for ${call.size} ${call.format}, not a 4K JPEG`);
      }
      if (call.imageBytes.length !== 16) throw new Error(`the upstream received ${call.imageBytes.length} references`);
      opts.log(
        `1. run ${run}: click → placed ${result.placed - result.click} ms, of which the upstream held ${result.upstreamAnswered - result.upstreamRead} ms`,
      );
      // The first job warms the JIT, sharp and the connections, as a proxy in use has run many jobs: not counted.
      if (run > 0) runs.push(result);
    }
    const swapped = await page.evaluate(() => (window as unknown as { __bench: BenchPage }).__bench.swapped);
    if (swapped !== 16 * (opts.runs + 1)) throw new Error(`${swapped} reference exports had photo pixels, not all`);
    if (errors.length > 0) throw new Error(`the page reported errors: ${errors.join('; ')}`);

    const pngBytes = pngs.map((p) => p.png.length);
    const pixels = pngs.reduce((sum, p) => sum + p.size.width * p.size.height, 0);
    const resultBytes = (await resultImage(RESULT_SIZE.width, RESULT_SIZE.height, 'jpeg')).length;
    return {
      rows: rowsOf(runs, { pngBytes, leastJpegBytes, resultBytes, pixels, holdMs: opts.holdMs }),
      runs,
      references: { nodes: chosen.map((n) => n.name), pixels, pngBytes, leastJpegBytes },
      resultBytes,
      holdMs: opts.holdMs,
    };
  } finally {
    await browser.close();
  }
}

function rowsOf(
  runs: readonly ClickRun[],
  o: { pngBytes: number[]; leastJpegBytes: number[]; resultBytes: number; pixels: number; holdMs: number },
): Row[] {
  const ms = (metric: string, values: number[], extra: Partial<Row> = {}): Row => ({
    section: '1',
    metric,
    unit: 'ms',
    summary: summarize(values),
    ...extra,
  });
  const model = runs.map((r) => r.upstreamAnswered - r.upstreamRead);
  const share = runs.map((r, i) => r.placed - r.click - model[i]!);
  const shareSummary = summarize(share);
  const rows: Row[] = [
    ms('click → placed (16 references, 4K JPEG result)', runs.map((r) => r.placed - r.click)),
    ms(`  the upstream's hold (T = ${o.holdMs} ms) and answer`, model),
    ms("Framefill's share: (click → placed) − upstream time", share, {
      target: '≤ 1,500 ms',
      pass: shareSummary.median <= 1500,
    }),
    ms('  export: click → last reference out of main (stand-in)', runs.map((r) => r.exported - r.click)),
    ms('  encode: → upload starts (JPEG re-encodes left, the form)', runs.map((r) => r.uploadStart - r.exported)),
    ms('  upload: panel → proxy, until 202', runs.map((r) => r.accepted - r.uploadStart)),
    ms(
      '  proxy: 202 → upstream has the request, + answer → panel asks for the image',
      runs.map((r) => r.upstreamRead - r.accepted + (r.imageStart - r.upstreamAnswered)),
    ),
    ms('    of which: proxy → upstream request sent whole', runs.map((r) => r.upstreamRead - r.upstreamHeaders)),
    ms('    of which: upstream answer → job completed (log)', runs.map((r) => r.completedLog - r.upstreamAnswered)),
    ms('  download: GET image', runs.map((r) => r.imageEnd - r.imageStart)),
    ms('  place: image in panel → IMAGE_PLACED', runs.map((r) => r.placed - r.imageEnd)),
  ];
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const bytes = (metric: string, values: number[], extra: Partial<Row> = {}): Row => ({
    section: '2',
    metric,
    unit: 'MB',
    summary: summarize(values.map((v) => v / MB)),
    ...extra,
  });
  const least = sum(o.leastJpegBytes);
  const upRatio = summarize(runs.map((r) => r.bytes.upload / least));
  const downRatio = summarize(runs.map((r) => r.bytes.image / o.resultBytes));
  rows.push(
    bytes(`references as Figma exports them: 16 PNGs, ${(o.pixels / 1e6).toFixed(1)} Mpx`, [sum(o.pngBytes)]),
    bytes(`  the least carrying those pixels: each as JPEG ${REFERENCE_JPEG_QUALITY}`, [least]),
    bytes(
      '  up, panel → proxy (multipart body)',
      runs.map((r) => r.bytes.upload),
    ),
    {
      section: '2',
      metric: '  up ÷ least',
      unit: '×',
      summary: upRatio,
      target: '≤ 1.10',
      pass: upRatio.median <= 1.1,
    },
    bytes(
      '  proxy → upstream (multipart body)',
      runs.map((r) => r.bytes.toUpstream),
    ),
    bytes(`result: 4K JPEG as the upstream made it (${RESULT_SIZE.width} × ${RESULT_SIZE.height})`, [o.resultBytes]),
    bytes(
      '  upstream → proxy (base64 in the event stream, with 1 full-size preview)',
      runs.map((r) => r.bytes.fromUpstream),
    ),
    bytes(
      '  down, proxy → panel (GET image)',
      runs.map((r) => r.bytes.image),
    ),
    {
      section: '2',
      metric: '  down ÷ least',
      unit: '×',
      summary: downRatio,
      target: '≤ 1.01',
      pass: downRatio.median <= 1.01,
    },
    bytes(
      '  events, proxy → panel (status, 1 preview ≤ 512 px, completed)',
      runs.map((r) => r.bytes.events),
    ),
  );
  return rows;
}
