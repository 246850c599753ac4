// A request body as the chunks Node received, counted against the body limit. Under @hono/node-server the
// chunks come straight from the IncomingMessage: its web-stream form wraps every 64 KB chunk in three streams
// (Readable.toWeb, the Request's body, a counting stream), which cost more CPU than parsing them (bench/ §1).
import type { IncomingMessage } from 'node:http';

/** Chunks (up to 64 KB each) queued before the socket is paused: enough to keep the parser busy, little to hold. */
const HIGH_WATER_CHUNKS = 4;

/**
 * The body's chunks; throws `tooLarge()` once more than `maxBytes` arrived. Leaving the loop early (an error)
 * does not destroy the connection, so the error answer can still be written.
 */
export async function* countedBody(
  source: IncomingMessage | ReadableStream<Uint8Array>,
  maxBytes: number,
  tooLarge: () => Error,
): AsyncGenerator<Uint8Array> {
  let seen = 0;
  const chunks = source instanceof ReadableStream ? webChunks(source) : incomingChunks(source);
  for await (const chunk of chunks) {
    seen += chunk.byteLength;
    if (seen > maxBytes) throw tooLarge();
    yield chunk;
  }
}

/** Without cancel() when left early: that would destroy the socket before the error answer is written. */
async function* webChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Not `for await (… of incoming)`: leaving that loop destroys the socket before the error answer is written.
 * This reads in flowing mode, pausing while the consumer is behind, and only detaches its listeners when left.
 */
async function* incomingChunks(incoming: IncomingMessage): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    if (queue.length >= HIGH_WATER_CHUNKS) incoming.pause();
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  const onError = (error: Error) => {
    failure = error;
    wake?.();
  };
  // 'aborted' and 'close' before 'end': the client went away mid-body.
  const onClose = () => {
    if (!incoming.complete) onError(new Error('the client closed the connection before the body ended'));
  };
  incoming.on('data', onData);
  incoming.on('end', onEnd);
  incoming.on('error', onError);
  incoming.on('close', onClose);
  incoming.resume();
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        if (queue.length < HIGH_WATER_CHUNKS / 2 && incoming.isPaused()) incoming.resume();
        yield chunk;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    incoming.off('data', onData);
    incoming.off('end', onEnd);
    incoming.off('error', onError);
    incoming.off('close', onClose);
    // Whatever is left is the HTTP server's to drain or drop once the answer is written.
    incoming.pause();
  }
}
