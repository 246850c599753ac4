// The panel's proxy client over real HTTP on 127.0.0.1: idempotent submits, the bearer token, typed
// errors, and an event stream that survives a dropped connection.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, ProxyClient } from '../../ui/proxy-client';

const JOB_ID = '3f2b8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a7b';
const job = (status = 'queued') => ({
  id: JOB_ID,
  status,
  prompt_chars: 5,
  aspect_ratio: '16:9',
  resolution: '2K',
  width: 2560,
  height: 1440,
  quality: 'medium',
  output_format: 'png',
  references: 1,
  cost_credits: 8,
  created_at: new Date().toISOString(),
  model: 'draft',
});

let server: Server | undefined;
afterEach(async () => {
  const running = server;
  server = undefined;
  if (running) await new Promise((resolve) => running.close(resolve));
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<string> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server?.address() as AddressInfo | undefined;
  return `http://127.0.0.1:${address?.port ?? 0}`;
}

const fastBackoff = { backoffMs: [1] };

describe('proxy client', () => {
  it('submits multipart with the token and an Idempotency-Key, references in order', async () => {
    const seen: { auth?: string; key?: string; body: string }[] = [];
    const url = await serve((req, res, body) => {
      seen.push({
        auth: req.headers.authorization,
        key: req.headers['idempotency-key'] as string,
        body: body.toString('latin1'),
      });
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify(job()));
    });
    const client = new ProxyClient({ baseUrl: url, token: 'tok-1' });
    const accepted = await client.submit({
      prompt: 'a red bicycle',
      aspectRatio: '16:9',
      resolution: '2K',
      quality: 'low',
      outputFormat: 'png',
      references: [
        { name: 'first', mime: 'image/png', bytes: new Uint8Array([1, 2, 3]) },
        { name: 'second', mime: 'image/webp', bytes: new Uint8Array([4, 5]) },
      ],
    });
    expect(accepted.id).toBe(JOB_ID);
    expect(seen[0]?.auth).toBe('Bearer tok-1');
    expect(seen[0]?.key).toMatch(/^[0-9a-f-]{36}$/);
    const body = seen[0]?.body ?? '';
    expect(body).toContain('name="prompt"\r\n\r\na red bicycle');
    expect(body).toContain('name="resolution"\r\n\r\n2K');
    expect(body.indexOf('reference-1.png')).toBeLessThan(body.indexOf('reference-2.webp'));
    expect(body).toContain('Content-Type: image/webp');
  });

  it('retries a submit whose connection failed with the same Idempotency-Key', async () => {
    const keys: string[] = [];
    const url = await serve((req, res) => {
      keys.push(req.headers['idempotency-key'] as string);
      // The first attempt dies mid-answer, as when the network drops.
      if (keys.length === 1) return req.socket.destroy();
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify(job()));
    });
    const client = new ProxyClient({ baseUrl: url, ...fastBackoff });
    const request = {
      prompt: 'x',
      aspectRatio: '1:1',
      resolution: '1K',
      quality: 'medium',
      outputFormat: 'png',
      references: [],
    } as const;
    await client.submit(request, 'key-123');
    expect(keys).toEqual(['key-123', 'key-123']);
  });

  it('turns an error body into a typed error with Retry-After', async () => {
    const url = await serve((_req, res) => {
      res
        .writeHead(429, { 'content-type': 'application/json', 'retry-after': '12' })
        .end(JSON.stringify({ error: { code: 'rate_limited', message: 'Slow down.' } }));
    });
    const error = await new ProxyClient({ baseUrl: url }).getAccount().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'rate_limited', message: 'Slow down.', retry_after: 12 });
  });

  it('reports proxy_unreachable when nothing listens', async () => {
    const url = await serve(() => undefined);
    const running = server;
    server = undefined;
    await new Promise((resolve) => running?.close(resolve));
    const error = await new ProxyClient({ baseUrl: url }).getAccount().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'proxy_unreachable' });
  });

  it('fetches the capabilities once', async () => {
    let calls = 0;
    const url = await serve((_req, res) => {
      calls++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          model: 'draft',
          provider: 'draft',
          ratios: ['1:1'],
          tiers: ['1K'],
          qualities: ['medium'],
          sizes: { '1:1': { '1K': { width: 1024, height: 1024 } } },
          prices: { medium: { '1K': 6 } },
          limits: {
            prompt_max_chars: 20000,
            max_references: 16,
            reference_max_bytes: 1,
            reference_max_edge: 8192,
            reference_mime_types: ['image/png'],
          },
        }),
      );
    });
    const client = new ProxyClient({ baseUrl: url });
    await Promise.all([client.getCapabilities(), client.getCapabilities()]);
    await client.getCapabilities();
    expect(calls).toBe(1);
  });

  it('reopens a dropped event stream and stops at the terminal event, skipping invalid events', async () => {
    let connections = 0;
    const url = await serve((req, res) => {
      expect(req.headers.authorization).toBe('Bearer tok');
      connections++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`: keep-alive\n\nevent: status\ndata: ${JSON.stringify({ id: JOB_ID, status: 'running' })}\n\n`);
      if (connections === 1) {
        // The connection drops only after the client has read what was sent.
        res.write('event: partial\ndata: {"not":"valid"}\n\n', () => setTimeout(() => res.destroy(), 50));
        return;
      }
      res.end(
        `event: completed\ndata: ${JSON.stringify({ id: JOB_ID, width: 2560, height: 1440, mime: 'image/png', bytes: 10, url: '/x' })}\n\n`,
      );
    });
    const client = new ProxyClient({ baseUrl: url, token: 'tok', ...fastBackoff });
    const events: string[] = [];
    const reconnects: number[] = [];
    await client.streamEvents(
      JOB_ID,
      { onEvent: (e) => events.push(e.event), onReconnect: (n) => reconnects.push(n) },
      new AbortController().signal,
    );
    expect(events).toEqual(['status', 'status', 'completed']);
    expect(reconnects).toEqual([1]);
    expect(connections).toBe(2);
  });

  it('gives up on a stream the proxy answers with an error', async () => {
    const url = await serve((_req, res) => {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'not_found', message: 'No such job.' } }));
    });
    const error = await new ProxyClient({ baseUrl: url, ...fastBackoff })
      .streamEvents(JOB_ID, { onEvent: () => undefined }, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'not_found' });
  });

  it('keeps reopening the stream while nothing answers, for as long as the job could be alive, then resumes', async () => {
    let connections = 0;
    let down = 4;
    const url = await serve((_req, res) => {
      connections++;
      // A reverse proxy in front of a stopped proxy answers 502 itself; a bare socket that closes is the same.
      if (down-- > 0) {
        if (connections % 2 === 0) return res.destroy();
        return res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        `event: completed\ndata: ${JSON.stringify({ id: JOB_ID, width: 1024, height: 1024, mime: 'image/png', bytes: 1, url: '/x' })}\n\n`,
      );
    });
    const offline: number[] = [];
    const events: string[] = [];
    await new ProxyClient({ baseUrl: url, ...fastBackoff }).streamEvents(
      JOB_ID,
      { onEvent: (e) => events.push(e.event), onReconnect: (n) => offline.push(n) },
      new AbortController().signal,
      Date.now() + 60_000,
    );
    expect(offline).toEqual([1, 2, 3, 4]);
    expect(events).toEqual(['completed']);
  });

  it('gives a job up as unreachable only once it can no longer be alive on the proxy', async () => {
    const url = await serve((_req, res) => res.destroy());
    let now = 1_000;
    const client = new ProxyClient({ baseUrl: url, backoffMs: [1], now: () => now });
    const offline: number[] = [];
    const error = await client
      .streamEvents(
        JOB_ID,
        {
          onEvent: () => undefined,
          onReconnect: (n) => {
            offline.push(n);
            if (n === 3) now = 5_000;
          },
        },
        new AbortController().signal,
        2_000,
      )
      .catch((e: unknown) => e);
    expect(offline).toEqual([1, 2, 3]);
    expect(error).toMatchObject({ code: 'proxy_unreachable' });
  });

  it('uses a base URL pasted with /v1 or a trailing slash as the proxy itself', async () => {
    const paths: string[] = [];
    const url = await serve((req, res) => {
      paths.push(req.url ?? '');
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ name: 'local', balance_credits: 1, spent_credits: 0, jobs_in_flight: 0 }));
    });
    const client = new ProxyClient({ baseUrl: `${url}/v1/` });
    expect(client.baseUrl).toBe(url);
    await client.getAccount();
    expect(paths).toEqual(['/v1/account']);
  });

  it('fetches a thumbnail from its thumbnail_url with the token, and follows no address off this proxy', async () => {
    const seen: { url: string | undefined; auth: string | undefined }[] = [];
    const base = await serve((req, res) => {
      seen.push({ url: req.url, auth: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      res.end(Buffer.from([0xff, 0xd8, 0xff]));
    });
    const client = new ProxyClient({ baseUrl: base, token: 'secret' });
    const thumb = await client.getThumbnail({ thumbnail_url: `/v1/generations/${JOB_ID}/thumbnail?index=2` });
    expect(thumb.mime).toBe('image/jpeg');
    expect(seen).toEqual([{ url: `/v1/generations/${JOB_ID}/thumbnail?index=2`, auth: 'Bearer secret' }]);
    for (const elsewhere of ['https://example.com/v1/generations/x/thumbnail', '//example.com/x', '/v1/account']) {
      await expect(client.getThumbnail({ thumbnail_url: elsewhere })).rejects.toMatchObject({ code: 'bad_response' });
    }
    expect(seen).toHaveLength(1);
  });
});
