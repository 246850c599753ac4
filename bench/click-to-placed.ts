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
import type { Frame, Request } from 'playwright-core';
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
export function resultImage(width: number, height: number, format: 'png' | 'jpeg'): Promise<Buffer> {
  const key = `${width}x${height}.${format}`;
  let image = results.get(key);
  if (!image) {
    let raw = rawResults.get(`${width}x${height}`);
    if (!raw) {
      raw = photoLike(width, height, 4242);
      rawResults.set(`${width}x${height}`, raw);
    }
    image = raw.then((pixels) => encode(pixels, format, JPEG_COMPRESSION));
    results.set(key, image);
  }
  return image;
}
const results = new Map<string, Promise<Buffer>>();
const rawResults = new Map<string, ReturnType<typeof photoLike>>();

const photos = new Map<string, Promise<Buffer>>();
/** A photo-like PNG, made once per size and seed for the whole bench. */
function photoPng(width: number, height: number, seed: number): Promise<Buffer> {
  const key = `${width}x${height}:${seed}`;
  let png = photos.get(key);
  if (!png) {
    png = photoLike(width, height, seed).then((raw) => encode(raw, 'png'));
    photos.set(key, png);
  }
  return png;
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
function instrumentPlayground({
  minEdge,
  token,
  outputFormat,
  debug,
}: {
  minEdge: number;
  token: string;
  outputFormat: string | null;
  debug: boolean;
}): void {
  if (window !== window.top) {
    if (debug) {
      // How long each decode and JPEG encode of the panel's re-encode takes.
      const times: [string, number][] = [];
      (window as unknown as { __benchCodec: typeof times }).__benchCodec = times;
      const encodeBlob = OffscreenCanvas.prototype.convertToBlob;
      OffscreenCanvas.prototype.convertToBlob = async function (this: OffscreenCanvas, options?: ImageEncodeOptions) {
        const started = Date.now();
        const blob = await encodeBlob.call(this, options);
        times.push([`encode ${this.width}x${this.height}`, Date.now() - started]);
        return blob;
      };
      const decode = window.createImageBitmap as (...args: unknown[]) => Promise<ImageBitmap>;
      window.createImageBitmap = (async (...args: unknown[]) => {
        const started = Date.now();
        const bitmap = await decode.apply(window, args);
        times.push([`decode ${bitmap.width}x${bitmap.height}`, Date.now() - started]);
        return bitmap;
      }) as typeof window.createImageBitmap;
    }
    // The panel's frame: when asked, the size of the next upload's multipart body, serialised as fetch sends it.
    const panel = window as unknown as { __benchMeasureUpload?: boolean; __benchUpload?: number };
    const nativeFetch = window.fetch;
    window.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
      if (panel.__benchMeasureUpload && init?.body instanceof FormData) {
        panel.__benchMeasureUpload = false;
        void new Response(init.body).arrayBuffer().then((body) => (panel.__benchUpload = body.byteLength));
      }
      return nativeFetch.call(window, input, init);
    };
    return;
  }
  const bench: BenchPage = { log: [], worker: null, photos: new Map(), fullExports: new Set(), swapped: 0 };
  (window as unknown as { __bench: BenchPage }).__bench = bench;
  const NativeWorker = window.Worker;
  window.Worker = class extends NativeWorker {
    constructor(url: string | URL, options?: WorkerOptions) {
      super(url, options);
      bench.worker = this;
      // The settings the page boots the plugin with get the proxy's local token if the page gave none, as a
      // designer pastes it into Settings ▸ Token, and the output format when the bench chooses one.
      const post = this.postMessage.bind(this);
      this.postMessage = (message: unknown, transfer?: unknown) => {
        const boot = message as { kind?: string; storage?: Record<string, { token?: string }> };
        if (boot?.kind === 'boot' && boot.storage) {
          for (const [key, value] of Object.entries(boot.storage)) {
            if (!key.endsWith('settings') || !value) continue;
            boot.storage[key] = { ...value, token: value.token || token, ...(outputFormat ? { outputFormat } : {}) };
          }
        }
        post(message, transfer as Transferable[]);
      };
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
  resultFormat: 'png' | 'jpeg';
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
  opts: { runs: number; holdMs: number; log: (line: string) => void; outputFormat?: 'png' | 'jpeg' },
): Promise<ClickToPlacedResult> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
    if (!proxy.localToken) throw new Error('the proxy printed no local token');
    await context.addInitScript(instrumentPlayground, {
      minEdge: 256,
      token: proxy.localToken,
      outputFormat: opts.outputFormat ?? null,
      debug: Boolean(process.env.FRAMEFILL_BENCH_DEBUG),
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    if (process.env.FRAMEFILL_BENCH_DEBUG) page.on('console', (message) => opts.log(`page: ${message.text()}`));
    const requests: Request[] = [];
    // An event stream the panel closes itself ends as "failed" for the browser.
    page.on('requestfinished', (request) => requests.push(request));
    page.on('requestfailed', (request) => requests.push(request));
    await page.goto(`${proxy.url}/playground`);
    const panelLocator = page.frameLocator('#plugin-body iframe');
    await panelLocator.getByText('Balance:').waitFor({ timeout: 30_000 });
    const panel = (await (await page.locator('#plugin-body iframe').elementHandle())?.contentFrame()) as Frame;
    // Bytes received per request, as Chromium counts them (the event stream is never "finished": the panel closes
    // it). A sandboxed frame may run in a process of its own, with its own session. Counted during the warm-up job
    // only, so that the inspector's own work never lands in a timed job.
    const received = new Map<string, { url: string; bytes: number }>();
    const receivedFor = (suffix: string) =>
      [...received.values()].filter((r) => r.url.endsWith(suffix)).reduce((sum, r) => sum + r.bytes, 0);
    const inspect = async () => {
      const cdp = await context.newCDPSession(panel).catch(() => context.newCDPSession(page));
      cdp.on('Network.requestWillBeSent', (event) =>
        received.set(event.requestId, { url: event.request.url, bytes: 0 }),
      );
      cdp.on('Network.dataReceived', (event) => {
        const entry = received.get(event.requestId);
        if (entry) entry.bytes += event.dataLength;
      });
      await cdp.send('Network.enable');
      return cdp;
    };

    // 16 references: every frame but the target, then shapes inside the mood boards (selected as in Figma's layers
    // panel: the playground's canvas offers top-level frames only).
    const nodes = await page.evaluate(() => window.playground.snapshot().nodes);
    const target = nodes.find((n) => n.name === TARGET)!;
    const frames = nodes.filter((n) => n.id !== target.id);
    const shapes = frames.flatMap((n) => n.children);
    const chosen: NodeView[] = [...frames, ...shapes].slice(0, 16);
    if (chosen.length !== 16) throw new Error(`the playground has ${chosen.length} nodes to pin, not 16`);
    if (!photos.size)
      opts.log(`1. making photo-like pixels for the 16 references (${chosen.map((n) => n.name).join(', ')})`);
    const pngs = await Promise.all(
      chosen.map(async (node, i) => {
        const size = exportSize(node.width, node.height, MAX_EDGE);
        return { node, size, png: await photoPng(size.width, size.height, 500 + i) };
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

    // Figma leaves a layer out of the selection when its parent is selected too: frames first, then the shapes.
    const tray = panelLocator.getByRole('list', { name: 'References' }).getByRole('listitem');
    for (const group of [chosen.filter((n) => frames.includes(n)), chosen.filter((n) => !frames.includes(n))]) {
      const before = await tray.count();
      await page.evaluate(
        (ids) => {
          const bench = (window as unknown as { __bench: BenchPage }).__bench;
          bench.log.length = 0;
          bench.worker?.postMessage({ kind: 'select', ids });
        },
        group.map((n) => n.id),
      );
      await until('the panel told of the selection', async () => {
        const entries = await page.evaluate(() => (window as unknown as { __bench: BenchPage }).__bench.log);
        return entries.some(([, name]) => name === 'SELECTION_CHANGED') ? true : undefined;
      });
      await sleep(200);
      await panelLocator.getByRole('button', { name: 'Add selection as references' }).click();
      const wanted = before + group.length;
      await until(`${wanted} references in the tray`, async () => ((await tray.count()) === wanted ? true : undefined));
    }

    await page.getByRole('button', { name: `${TARGET} ${target.width}×${target.height}`, exact: true }).click();
    await panelLocator.getByLabel('Prompt').fill('A ceramic cup on a sunlit table, warm dusk palette, film photograph');
    await panelLocator.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: /^4K/ }).check();
    await panelLocator.getByRole('button', { name: /^Generate/ }).waitFor();

    const runs: ClickRun[] = [];
    let format: 'png' | 'jpeg' = 'png';
    let uploadBytes = 0;
    let eventsBytes = 0;
    for (let run = 0; run <= opts.runs; run++) {
      const firstRequest = requests.length;
      const firstCall = upstream.calls.length;
      await page.evaluate(() => {
        (window as unknown as { __bench: BenchPage }).__bench.log.length = 0;
      });
      const inspector = run === 0 ? await inspect() : undefined;
      if (run === 0)
        await panel.evaluate(() => ((window as { __benchMeasureUpload?: boolean }).__benchMeasureUpload = true));
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
      }).catch((error: unknown) => {
        const seen = requests
          .slice(firstRequest)
          .map((r) => `${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`);
        throw new Error(`${String(error)} (job ${jobId}; seen: ${seen.join(', ')})`);
      });
      const call = upstream.calls.slice(firstCall).find((c) => c.answeredAt !== undefined) as UpstreamCall;
      const times = jobLog(proxy.output(), jobId);
      const post = mine.post.timing();
      const image = mine.image.timing();
      const imageSizes = await mine.image.sizes();
      await inspector?.detach();
      eventsBytes ||= receivedFor(`/v1/generations/${jobId}/events`);
      uploadBytes ||= await until('the upload size', () =>
        panel.evaluate(() => (window as { __benchUpload?: number }).__benchUpload),
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
          upload: uploadBytes,
          referenceFiles: call.imageBytes,
          toUpstream: call.bytesIn,
          fromUpstream: call.bytesOut,
          events: eventsBytes,
          image: imageSizes!.responseBodySize,
        },
      };
      if (call.size !== `${RESULT_SIZE.width}x${RESULT_SIZE.height}`) {
        throw new Error(`the upstream was asked for ${call.size}, not 4K 16:9`);
      }
      format = call.format ?? 'png';
      if (call.imageBytes.length !== 16) throw new Error(`the upstream received ${call.imageBytes.length} references`);
      opts.log(
        `1. run ${run}: click → placed ${result.placed - result.click} ms, of which the upstream held ${result.upstreamAnswered - result.upstreamRead} ms`,
      );
      if (process.env.FRAMEFILL_BENCH_DEBUG) {
        opts.log(`   messages: ${log.map(([d, n, t]) => `${d} ${n} +${t - click}`).join(', ')}`);
        const seen = requests
          .slice(firstRequest)
          .map((r) => `${r.method()} ${r.url().split('/v1/')[1]} +${Math.round(r.timing().startTime - click)}`);
        opts.log(`   requests: ${seen.join(', ')}`);
        const codec = await panel.evaluate(() => {
          const times = (window as unknown as { __benchCodec: [string, number][] }).__benchCodec;
          return times.splice(0);
        });
        opts.log(`   panel codec: ${codec.map(([what, ms]) => `${what} ${ms} ms`).join(', ')}`);
      }
      // The first job warms the JIT, sharp and the connections, as a proxy in use has run many jobs: not counted.
      if (run > 0) runs.push(result);
    }
    const swapped = await page.evaluate(() => (window as unknown as { __bench: BenchPage }).__bench.swapped);
    if (swapped !== 16 * (opts.runs + 1)) throw new Error(`${swapped} reference exports had photo pixels, not all`);
    if (errors.length > 0) throw new Error(`the page reported errors: ${errors.join('; ')}`);

    const pngBytes = pngs.map((p) => p.png.length);
    const pixels = pngs.reduce((sum, p) => sum + p.size.width * p.size.height, 0);
    const resultBytes = (await resultImage(RESULT_SIZE.width, RESULT_SIZE.height, format)).length;
    return {
      rows: rowsOf(runs, { pngBytes, leastJpegBytes, resultBytes, pixels, holdMs: opts.holdMs, format }),
      runs,
      references: { nodes: chosen.map((n) => n.name), pixels, pngBytes, leastJpegBytes },
      resultBytes,
      resultFormat: format,
      holdMs: opts.holdMs,
    };
  } finally {
    await browser.close();
  }
}

function rowsOf(
  runs: readonly ClickRun[],
  o: {
    pngBytes: number[];
    leastJpegBytes: number[];
    resultBytes: number;
    pixels: number;
    holdMs: number;
    format: 'png' | 'jpeg';
  },
): Row[] {
  const tag = o.format.toUpperCase();
  const ms = (metric: string, values: number[], extra: Partial<Row> = {}): Row => ({
    section: '1',
    metric: `${tag}: ${metric}`,
    unit: 'ms',
    summary: summarize(values),
    ...extra,
  });
  const model = runs.map((r) => r.upstreamAnswered - r.upstreamRead);
  const share = runs.map((r, i) => r.placed - r.click - model[i]!);
  const shareSummary = summarize(share);
  const rows: Row[] = [
    ms(
      `click → placed (16 references, 4K ${o.format.toUpperCase()} result)`,
      runs.map((r) => r.placed - r.click),
    ),
    ms(`  the upstream's hold (T = ${o.holdMs} ms) and answer`, model),
    ms("Framefill's share: (click → placed) − upstream time", share, {
      target: '≤ 1,500 ms',
      pass: shareSummary.median <= 1500,
    }),
    ms(
      '  export: click → last reference out of main (stand-in)',
      runs.map((r) => r.exported - r.click),
    ),
    ms(
      '  encode: → upload starts (JPEG re-encodes left, the form)',
      runs.map((r) => r.uploadStart - r.exported),
    ),
    ms(
      '  upload: panel → proxy, until 202',
      runs.map((r) => r.accepted - r.uploadStart),
    ),
    ms(
      '  proxy: 202 → upstream has the request, + answer → panel asks for the image',
      runs.map((r) => r.upstreamRead - r.accepted + (r.imageStart - r.upstreamAnswered)),
    ),
    ms(
      '    of which: proxy → upstream request sent whole',
      runs.map((r) => r.upstreamRead - r.upstreamHeaders),
    ),
    ms(
      '    of which: upstream answer → job completed (log)',
      runs.map((r) => r.completedLog - r.upstreamAnswered),
    ),
    ms(
      '  download: GET image',
      runs.map((r) => r.imageEnd - r.imageStart),
    ),
    ms(
      '  place: image in panel → IMAGE_PLACED',
      runs.map((r) => r.placed - r.imageEnd),
    ),
  ];
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const bytes = (metric: string, values: number[], extra: Partial<Row> = {}): Row => ({
    section: '2',
    metric: `${tag}: ${metric}`,
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
      metric: `${tag}:   up ÷ least`,
      unit: '×',
      summary: upRatio,
    },
    bytes(
      '  proxy → upstream (multipart body)',
      runs.map((r) => r.bytes.toUpstream),
    ),
    bytes(`result: 4K ${o.format.toUpperCase()} as the upstream made it, the format the panel asked`, [o.resultBytes]),
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
      metric: `${tag}:   down ÷ least`,
      unit: '×',
      summary: downRatio,
    },
    bytes(
      '  events, proxy → panel (status, 1 preview ≤ 512 px, completed)',
      runs.map((r) => r.bytes.events),
    ),
  );
  return rows;
}
