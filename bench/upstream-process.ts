// The OpenAI stand-in in a process of its own, for §1: OpenAI is another machine. In the bench's own process the
// stand-in shared one event loop with the client, which then starved it while the client uploaded to the proxy
// (the proxy forwards while it receives) — a cost of the measurement, not of the proxy.
import { fork } from 'node:child_process';
import { startFakeOpenAI } from '../test/fakes/openai-upstream';

export interface UpstreamProcess {
  url: string;
  /** Drops the requests the stand-in recorded (it keeps every part it received). */
  clear(): void;
  close(): Promise<void>;
}

/** Forks `entry` (bench/run.mjs) with `--upstream-child`, which runs `runUpstreamChild`; resolves once it listens. */
export function startUpstreamProcess(entry: string): Promise<UpstreamProcess> {
  const child = fork(entry, ['--upstream-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the upstream process exited (${code}) before listening`)));
    child.once('message', (message) => {
      const { url } = message as { url: string };
      resolve({
        url,
        clear: () => child.send('clear'),
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

/** The child's side: serve until the parent disconnects. */
export async function runUpstreamChild(): Promise<void> {
  const fake = await startFakeOpenAI();
  process.on('message', (message) => {
    if (message === 'clear') fake.requests.length = 0;
  });
  process.once('disconnect', () => void fake.close().then(() => process.exit(0)));
  process.send?.({ url: fake.url });
}
