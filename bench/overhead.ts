// §1 Proxy overhead: the same job through the proxy (multipart submit → events until completed → GET image) and
// straight to the fake upstream with the official SDK, with the upstream answering at once — and, as the floor
// for any Node process in between, the SDK's request through a bare pipe (bench/upstream-process.ts).
import { readFileSync } from 'node:fs';
import OpenAI, { toFile } from 'openai';
import { sizeFor, sizeParam } from '../core/formats';
import { form, type Reference, runJob } from './client';
import type { Row } from './stats';
import { summarize } from './stats';

export interface OverheadCase {
  name: string;
  references: readonly Reference[];
  /** Raw bytes of the references, for the SDK path. */
  bytes: readonly Buffer[];
}

const WARM_UPS = 3;

const FIELDS = {
  prompt: 'A lighthouse at dusk, film photograph',
  aspect_ratio: '16:9',
  resolution: '4K',
  quality: 'high',
  output_format: 'png',
};

/** What the proxy's OpenAI provider sends (proxy/providers/openai.ts), sent directly. */
async function direct(client: OpenAI, bytes: readonly Buffer[]): Promise<Buffer> {
  const size = sizeParam(sizeFor('16:9', '4K')!);
  const params = {
    model: 'gpt-image-2',
    prompt: FIELDS.prompt,
    n: 1,
    size,
    quality: 'high' as const,
    output_format: 'png' as const,
  };
  const streaming = { stream: true as const, partial_images: 2 };
  const stream =
    bytes.length === 0
      ? await client.images.generate({ ...params, ...streaming })
      : await client.images.edit({
          ...params,
          ...streaming,
          image: await Promise.all(bytes.map((b, i) => toFile(b, `reference-${i + 1}.png`, { type: 'image/png' }))),
        });
  for await (const event of stream) {
    if (event.type === 'image_generation.completed' || event.type === 'image_edit.completed') {
      return Buffer.from(event.b64_json, 'base64');
    }
  }
  throw new Error('the direct stream ended without an image');
}

export async function measureOverhead(
  proxyUrl: string,
  upstreamUrl: string,
  pipeUrl: string,
  cases: readonly OverheadCase[],
  runs: number,
  clearUpstream: () => void,
  proxyPid: number,
): Promise<{ rows: Row[]; raw: Record<string, { proxy: number[]; direct: number[]; pipe: number[] }> }> {
  const client = new OpenAI({ apiKey: 'sk-bench', baseURL: upstreamUrl, maxRetries: 0, logLevel: 'off' });
  const piped = new OpenAI({ apiKey: 'sk-bench', baseURL: pipeUrl, maxRetries: 0, logLevel: 'off' });
  const rows: Row[] = [];
  const raw: Record<string, { proxy: number[]; direct: number[]; pipe: number[] }> = {};
  for (const c of cases) {
    const viaProxy: number[] = [];
    const straight: number[] = [];
    const throughPipe: number[] = [];
    const proxyCpu: number[] = [];
    // Warm-ups of each path (JIT of the upload path, the fake's 4K render cache, connections): a proxy in use
    // has run many jobs. Then the two alternate.
    for (let i = 0; i < WARM_UPS; i++) {
      await runJob(proxyUrl, form(FIELDS, c.references));
      await direct(client, c.bytes);
      await direct(piped, c.bytes);
    }
    for (let i = 0; i < runs; i++) {
      clearUpstream();
      let t = performance.now();
      const cpu = cpuMsOf(proxyPid);
      const a = await runJob(proxyUrl, form(FIELDS, c.references));
      viaProxy.push(performance.now() - t);
      proxyCpu.push(cpuMsOf(proxyPid) - cpu);
      t = performance.now();
      const b = await direct(client, c.bytes);
      straight.push(performance.now() - t);
      if (a.length !== b.length) throw new Error(`the proxy delivered ${a.length} bytes, the upstream ${b.length}`);
      t = performance.now();
      await direct(piped, c.bytes);
      throughPipe.push(performance.now() - t);
    }
    raw[c.name] = { proxy: viaProxy, direct: straight, pipe: throughPipe };
    const ratios = viaProxy.map((v, i) => v / straight[i]!);
    const extra = viaProxy.map((v, i) => v - straight[i]!);
    const strict = c.references.length > 0;
    const ratio = summarize(ratios);
    const added = summarize(extra);
    rows.push(
      { section: '1', metric: `${c.name}: through the proxy`, unit: 'ms', summary: summarize(viaProxy) },
      { section: '1', metric: `${c.name}: SDK straight to upstream`, unit: 'ms', summary: summarize(straight) },
      {
        section: '1',
        metric: `${c.name}: ratio proxy / direct`,
        unit: '×',
        summary: ratio,
        ...(strict ? { target: '≤ 1.10', pass: ratio.median <= 1.1 } : {}),
      },
      { section: '1', metric: `${c.name}: proxy CPU per job`, unit: 'ms', summary: summarize(proxyCpu) },
      {
        section: '1',
        metric: `${c.name}: extra`,
        unit: 'ms',
        summary: added,
        ...(strict ? { target: '≤ 50 ms', pass: added.median <= 50 } : {}),
      },
      {
        section: '1',
        metric: `${c.name}: floor — ratio bare Node pipe / direct`,
        unit: '×',
        summary: summarize(throughPipe.map((v, i) => v / straight[i]!)),
      },
      {
        section: '1',
        metric: `${c.name}: floor — bare Node pipe extra`,
        unit: 'ms',
        summary: summarize(throughPipe.map((v, i) => v - straight[i]!)),
      },
    );
  }
  return { rows, raw };
}

/** CPU time (user + system, every thread) a process has used, from /proc (Linux; clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
