// The panel's side of a job, as plain Node: multipart submit, the event stream read until it ends, the image
// fetched, each with the proxy's local token. Event streams are read with node:http so a thousand can be open at
// once without fetch's overhead.
import { type IncomingMessage, request } from 'node:http';
import { createParser } from 'eventsource-parser';
import { tokenFor } from '../test/helpers/proxy';

export interface Reference {
  blob: Blob;
  name: string;
}

/** Builds the panel's multipart body; reference Blobs are shared, so 50 forms do not copy 32 MB each. */
export function form(fields: Record<string, string>, references: readonly Reference[]): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  for (const ref of references) body.append('reference', ref.blob, ref.name);
  return body;
}

/** Like the panel (ui/proxy-client.ts), every submission carries a fresh Idempotency-Key. */
export async function submit(url: string, body: FormData): Promise<string> {
  const response = await fetch(`${url}/v1/generations`, {
    method: 'POST',
    body,
    headers: { ...auth(url), 'Idempotency-Key': crypto.randomUUID() },
  });
  const text = await response.text();
  if (response.status !== 202) throw new Error(`submit: HTTP ${response.status} ${text}`);
  return (JSON.parse(text) as { id: string }).id;
}

export interface StreamEvent {
  event: string;
  data: Record<string, unknown>;
  /** performance.timeOrigin + performance.now() when it arrived: comparable with the proxy's log times. */
  at: number;
}

export const now = () => performance.timeOrigin + performance.now();

/** The Authorization header for the local proxy at `url` (spawnProxy keeps its token). */
export function auth(url: string): Record<string, string> {
  const token = tokenFor(url);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * Opens a job's event stream; `onEvent` sees each event as it arrives. Resolves when the server ends the stream
 * after a terminal event; `opened` resolves once the first event (the current status) has arrived.
 */
export function subscribe(
  url: string,
  id: string,
  onEvent: (event: StreamEvent) => void = () => undefined,
): { opened: Promise<void>; done: Promise<StreamEvent[]> } {
  let markOpened: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (markOpened = resolve));
  const done = new Promise<StreamEvent[]>((resolve, reject) => {
    const events: StreamEvent[] = [];
    const parser = createParser({
      onEvent(message) {
        const event = { event: message.event ?? 'message', data: JSON.parse(message.data), at: now() };
        events.push(event);
        markOpened();
        onEvent(event);
      },
    });
    const options = { agent: false, headers: auth(url) } as const;
    const req = request(`${url}/v1/generations/${id}/events`, options, (res: IncomingMessage) => {
      if (res.statusCode !== 200) reject(new Error(`events: HTTP ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.feed(chunk));
      res.on('end', () => resolve(events));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  return { opened, done };
}

/** Follows a job to its end; throws unless it completed. */
export async function completion(url: string, id: string): Promise<StreamEvent> {
  const events = await subscribe(url, id).done;
  const last = events.at(-1);
  if (last?.event !== 'completed') throw new Error(`job ${id} ended with ${JSON.stringify(last)}`);
  return last;
}

export async function fetchImage(url: string, id: string): Promise<Uint8Array> {
  const response = await fetch(`${url}/v1/generations/${id}/image`, { headers: auth(url) });
  if (response.status !== 200) throw new Error(`image: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The whole job as the panel runs it: submit → events until completed → image bytes. */
export async function runJob(url: string, body: FormData): Promise<Uint8Array> {
  const id = await submit(url, body);
  await completion(url, id);
  return fetchImage(url, id);
}
