// An OpenAI Images stand-in for the benchmarks: it reads each request whole, holds it as long as `hold` says (the
// model's generation time), then streams one partial image halfway and the `completed` event — or answers JSON when
// the request did not ask to stream. It records when each call arrived, was read and was answered, and the bytes
// both ways, so the bench can subtract the model's time and count the upstream leg. The full stand-in in
// test/fakes/ checks every parameter; this one only answers, so that 1,000 held calls measure the proxy.
// Spec: ImageGenStreamEvent / ImageEditStreamEvent, ImagesResponse (/work/shared/reference/openai-images.openapi.json).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamCall {
  path: string;
  /** Date.now() when the headers arrived, the body was read, and the answer was written whole. */
  headersAt: number;
  bodyEndAt: number;
  answeredAt?: number;
  /** Request body bytes, and the sizes of its image parts (edits only, when `parseEdits` is on). */
  bytesIn: number;
  imageBytes: number[];
  /** Response body bytes. */
  bytesOut: number;
  /** What was asked: `WIDTHxHEIGHT` and the output format. */
  size?: string;
  format?: 'png' | 'jpeg';
  /** The connection closed before the answer was written. */
  abandoned: boolean;
}

export interface HoldUpstreamOptions {
  /** Resolves when the call may be answered (the model's time), counted from the moment its body was read. */
  hold: (call: UpstreamCall) => Promise<void>;
  /** The image answered for a size and format; called once per (size, format), then reused. */
  image: (width: number, height: number, format: 'png' | 'jpeg') => Promise<Buffer>;
  /** When a streamed call's one preview is sent, counted from the moment its body was read (0 by default). */
  partialAfterMs?: number;
  /** Read the parts of multipart edits (the sizes of the references); off for load tests. */
  parseEdits?: boolean;
}

export interface HoldUpstream {
  url: string;
  calls: UpstreamCall[];
  /** Calls read whole and not yet answered. */
  held(): number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startHoldUpstream(options: HoldUpstreamOptions): Promise<HoldUpstream> {
  const calls: UpstreamCall[] = [];
  const images = new Map<string, Promise<Buffer>>();
  let holding = 0;

  const imageFor = (width: number, height: number, format: 'png' | 'jpeg') => {
    const key = `${width}x${height}.${format}`;
    let image = images.get(key);
    if (!image) {
      image = options.image(width, height, format);
      images.set(key, image);
    }
    return image;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const call: UpstreamCall = {
      path: req.url ?? '/',
      headersAt: Date.now(),
      bodyEndAt: 0,
      bytesIn: 0,
      imageBytes: [],
      bytesOut: 0,
      abandoned: false,
    };
    calls.push(call);
    res.on('close', () => {
      if (!res.writableFinished) call.abandoned = true;
    });
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) {
      call.bytesIn += chunk.length;
      chunks.push(chunk);
    }
    call.bodyEndAt = Date.now();
    const body = Buffer.concat(chunks);
    const params: Record<string, unknown> = {};
    if (call.path.endsWith('/images/generations')) {
      Object.assign(params, JSON.parse(body.toString('utf8')) as Record<string, unknown>);
    } else if (options.parseEdits) {
      const form = await new Request('http://upstream.invalid/', {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? '' },
        body: new Uint8Array(body),
      }).formData();
      for (const [name, value] of form.entries()) {
        if (typeof value === 'string') params[name] = value;
        else if (name === 'image[]' || name === 'image') call.imageBytes.push(value.size);
      }
    } else {
      // Only the scalar fields are needed; they come first in the SDK's multipart body.
      const text = body.subarray(0, 4096).toString('latin1');
      for (const name of ['size', 'output_format', 'stream', 'partial_images']) {
        const match = new RegExp(`name="${name}"\\r\\n\\r\\n([^\\r]*)`).exec(text);
        if (match) params[name] = match[1];
      }
    }
    const [width, height] = String(params.size ?? '1024x1024')
      .split('x')
      .map(Number) as [number, number];
    const format = params.output_format === 'png' ? 'png' : 'jpeg';
    call.size = `${width}x${height}`;
    call.format = format;
    const stream = params.stream === true || params.stream === 'true';
    const partials = Number(params.partial_images ?? 0);
    const image = imageFor(width, height, format);

    holding++;
    let answered = false;
    try {
      const held = options.hold(call);
      if (!stream) {
        await held;
        if (call.abandoned) return;
        const text = JSON.stringify({ created: Math.floor(Date.now() / 1000), data: [{ b64_json: b64(await image) }] });
        call.bytesOut = Buffer.byteLength(text);
        res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_bench_${calls.length}` });
        res.end(text);
        answered = true;
        return;
      }
      const prefix = call.path.endsWith('/images/edits') ? 'image_edit' : 'image_generation';
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': `req_bench_${calls.length}` });
      res.flushHeaders();
      const send = (type: string, extra: Record<string, unknown>) => {
        const text = `event: ${prefix}.${type}\ndata: ${JSON.stringify({ type: `${prefix}.${type}`, ...extra })}\n\n`;
        call.bytesOut += Buffer.byteLength(text);
        return text;
      };
      if (partials > 0) {
        // A preview partway through, at the full size: the proxy scales previews down itself.
        await Promise.race([held, sleep(options.partialAfterMs ?? 0)]);
        if (call.abandoned) return;
        res.write(send('partial_image', { b64_json: b64(await image), partial_image_index: 0 }));
      }
      await held;
      if (call.abandoned) return;
      res.end(send('completed', { b64_json: b64(await image), usage: {} }));
      answered = true;
    } finally {
      holding--;
      if (answered) res.once('finish', () => (call.answeredAt = Date.now()));
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(error), type: 'server_error', param: null, code: null } }));
    });
  });
  // Every held call is a connection: no request or idle timeout may cut one short.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 60_000;
  server.maxConnections = Number.POSITIVE_INFINITY;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 4096, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    held: () => holding,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const b64Cache = new WeakMap<Buffer, string>();
function b64(image: Buffer): string {
  let text = b64Cache.get(image);
  if (!text) {
    text = image.toString('base64');
    b64Cache.set(image, text);
  }
  return text;
}
