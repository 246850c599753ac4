// §1's helper processes, each a child of bench/run.mjs: the OpenAI stand-in (OpenAI is another machine; in the
// bench's own process it shared one event loop with the client, which then starved it while the client uploaded
// to the proxy — a cost of the measurement, not of the proxy), and a bare Node pipe in front of it: the least any
// Node process between client and upstream costs on this machine, next to which the proxy's overhead is read.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeOpenAI } from '../test/fakes/openai-upstream';
import { forwardTo } from '../test/helpers/forward';

export interface ChildServer {
  url: string;
  pid: number;
  close(): Promise<void>;
}

export interface UpstreamProcess extends ChildServer {
  /** Drops the requests the stand-in recorded (it keeps every part it received). */
  clear(): void;
}

/** Forks `entry` (bench/run.mjs) with `args`; resolves once the child says where it listens. */
function forkServer(entry: string, args: string[]): Promise<ChildServer & { send(message: string): void }> {
  const child = fork(entry, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before listening`)));
    child.once('message', (message) => {
      const { url } = message as { url: string };
      resolve({
        url,
        pid: child.pid!,
        send: (m) => child.send(m),
        close: () =>
          new Promise<void>((done) => {
            child.removeAllListeners('exit');
            child.once('exit', () => done());
            child.disconnect();
          }),
      });
    });
  });
}

/** The stand-in in its own process (`--upstream-child`, which runs `runUpstreamChild`). */
export async function startUpstreamProcess(entry: string): Promise<UpstreamProcess> {
  const server = await forkServer(entry, ['--upstream-child']);
  return { ...server, clear: () => server.send('clear') };
}

/** A bare pipe to `target` in its own process (`--pipe-child <target>`, which runs `runPipeChild`). */
export function startPipeProcess(entry: string, target: string): Promise<ChildServer> {
  return forkServer(entry, ['--pipe-child', target]);
}

/** The stand-in's side: serve until the parent disconnects. */
export async function runUpstreamChild(): Promise<void> {
  const fake = await startFakeOpenAI();
  process.on('message', (message) => {
    if (message === 'clear') fake.requests.length = 0;
  });
  process.once('disconnect', () => void fake.close().then(() => process.exit(0)));
  process.send?.({ url: fake.url });
}

/**
 * The pipe's side: every request is streamed to `target` (an OpenAI base URL) and its answer streamed back, with
 * no parsing, no disk and no bookkeeping; `url` is `target` with this server's origin.
 */
export async function runPipeChild(target: string): Promise<void> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    req.pipe(forwardTo(upstream, req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.once('disconnect', () => process.exit(0));
  const { port } = server.address() as AddressInfo;
  process.send?.({ url: `http://127.0.0.1:${port}${upstream.pathname}` });
}
