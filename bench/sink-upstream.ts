// A minimal OpenAI Images stand-in for the load benchmarks: it drains each upload without keeping it (the full
// fake in test/fakes/ records every part, which at 50 × 32 MB would measure the fake, not the proxy), holds the
// answer for `holdMs`, then streams the `completed` event with a fixed image.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkUpstream {
  url: string;
  /** Requests answered so far, and the upload bytes they carried. */
  stats: { requests: number; bytes: number };
  /** The image every later answer carries (it must have the size the proxy asked for). */
  setImage(image: Buffer): void;
  close(): Promise<void>;
}

export async function startSinkUpstream(image: Buffer, holdMs: number): Promise<SinkUpstream> {
  const stats = { requests: 0, bytes: 0 };
  let b64 = image.toString('base64');
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.on('data', (chunk: Buffer) => {
      stats.bytes += chunk.length;
    });
    req.on('end', () => {
      stats.requests++;
      const prefix = req.url?.endsWith('/images/edits') ? 'image_edit' : 'image_generation';
      setTimeout(() => {
        // Spec: ImageEditCompletedEvent / ImageGenCompletedEvent (/work/shared/reference/openai-images.openapi.json).
        res.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': `req_sink_${stats.requests}` });
        res.end(
          `event: ${prefix}.completed\ndata: ${JSON.stringify({ type: `${prefix}.completed`, b64_json: b64, usage: {} })}\n\n`,
        );
      }, holdMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    stats,
    setImage(next) {
      b64 = next.toString('base64');
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
