// Proxy test helpers, shared by the proxy, panel, OpenAI-provider and benchmark tests:
// - startTestProxy(env?, opts?): an in-process proxy on 127.0.0.1, port 0, with a fresh temporary data dir
//   and a 50 ms draft delay; returns its url, dataDir, ledger and close(). `opts.engine: 'postgres'` gives it a
//   fresh database in the run's PostgreSQL cluster (the same one again when the data dir is reused, as a restart).
// - ENGINES and databaseFor(): the store's contract tests run once per engine.
// - spawnProxy(env?): `node build/proxy.mjs` as a child process (build it first: `node build.mjs --no-typecheck`).
// - submitGeneration(url, fields, options): POST /v1/generations as multipart; readEvents(): the SSE stream.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createParser } from 'eventsource-parser';
import { loadConfig } from '../../proxy/config';
import type { LogLine } from '../../proxy/log';
import { type RunningProxy, type StartOptions, startProxy } from '../../proxy/start';
import type { Engine } from '../../proxy/store';
import { createDatabase } from './postgres';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BUILT_PROXY = path.join(ROOT, 'build/proxy.mjs');

/** The local token of each proxy a test started, by its base URL: `api()` and the helpers below send it. */
const localTokens = new Map<string, string>();

/** A proxy on `port` answers at either loopback name. */
function registerLocalToken(port: number, token: string): void {
  for (const host of ['127.0.0.1', 'localhost']) localTokens.set(`http://${host}:${port}`, token);
}

/** The local token of the test proxy serving `url`, if a test started one there. */
export function tokenFor(url: string): string | undefined {
  try {
    return localTokens.get(new URL(url).origin);
  } catch {
    return undefined;
  }
}

/**
 * `fetch` as the panel calls a local proxy: with the proxy's local token unless the call sets Authorization itself.
 * Tests of authentication itself use plain `fetch`.
 */
export function api(url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = tokenFor(url);
  if (token && !headers.has('Authorization')) headers.set('Authorization', `Bearer ${token}`);
  return fetch(url, { ...init, headers });
}

export function tempDataDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'framefill-proxy-'));
}

export const ENGINES: readonly Engine[] = ['sqlite', 'postgres'];

/** A data dir's PostgreSQL database, so that a proxy restarted on the same dir finds the same store. */
const databases = new Map<string, string>();

/** A fresh database in the run's PostgreSQL cluster (test/global-postgres.ts). */
export async function freshDatabase(): Promise<string> {
  // Imported here: the bench imports this module outside vitest.
  const { inject } = await import('vitest');
  return createDatabase(inject('postgresAdminUrl'));
}

/** `{ DATABASE_URL }` for a proxy on `engine` with this data dir; `{}` for SQLite. */
export async function databaseFor(engine: Engine, dataDir: string): Promise<Record<string, string>> {
  if (engine === 'sqlite') return {};
  let url = databases.get(dataDir);
  if (!url) {
    url = await freshDatabase();
    databases.set(dataDir, url);
  }
  return { DATABASE_URL: url };
}

export interface TestStartOptions extends StartOptions {
  /** SQLite in the data dir (the default), or a PostgreSQL database of its own. */
  engine?: Engine;
}

export interface TestProxy extends RunningProxy {
  dataDir: string;
  /** Every log line the proxy wrote, as objects. */
  logs: LogLine[];
}

/**
 * An in-process proxy listening on 127.0.0.1 only, on a free port, with its own data dir. `env` overrides
 * the environment (e.g. `{ FRAMEFILL_DRAFT_DELAY_MS: '2000' }`, or `FRAMEFILL_DATA_DIR` to reuse a dir).
 */
export async function startTestProxy(
  env: Record<string, string> = {},
  { engine = 'sqlite', ...opts }: TestStartOptions = {},
): Promise<TestProxy> {
  const dataDir = env.FRAMEFILL_DATA_DIR ?? tempDataDir();
  const config = loadConfig({
    ...(await databaseFor(engine, dataDir)),
    HOST: '127.0.0.1',
    PORT: '0',
    FRAMEFILL_PROVIDER: 'draft',
    FRAMEFILL_DRAFT_DELAY_MS: '50',
    FRAMEFILL_SHUTDOWN_GRACE_S: '0',
    ...env,
    FRAMEFILL_DATA_DIR: dataDir,
  });
  const logs: LogLine[] = [];
  const proxy = await startProxy(config, { log: (line) => logs.push(line), ...opts });
  registerLocalToken(proxy.port, proxy.localToken);
  return Object.assign(proxy, { dataDir, logs });
}

export interface SpawnedProxy {
  url: string;
  port: number;
  dataDir: string;
  /** The local token the proxy printed (local mode). */
  localToken: string | undefined;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string>;
  /** SIGTERM (graceful) by default; SIGKILL to simulate a crash. Resolves when the process has ended. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Runs `node [nodeArgs] build/proxy.mjs [args]` and waits for it to listen (loopback 127.0.0.1, port 0 unless env
 * says).
 */
export async function spawnProxy(
  env: Record<string, string> = {},
  args: string[] = [],
  nodeArgs: readonly string[] = [],
): Promise<SpawnedProxy> {
  const dataDir = env.FRAMEFILL_DATA_DIR ?? tempDataDir();
  const child = spawn(process.execPath, [...nodeArgs, BUILT_PROXY, ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      FRAMEFILL_PROVIDER: 'draft',
      FRAMEFILL_DRAFT_DELAY_MS: '50',
      // A stop waits this long for running jobs and unfetched images; tests of the grace set their own.
      FRAMEFILL_SHUTDOWN_GRACE_S: '2',
      ...env,
      FRAMEFILL_DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  // 'close', not 'exit': the process may exit before its output has been read to the end.
  const exited = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const check = () => {
      const match = /listening on http:\/\/localhost:(\d+)/.exec(output);
      if (match) {
        child.stdout?.off('data', check);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => reject(new Error(`proxy exited (${code}) before listening:\n${output}`)));
  });
  const localToken = /token:\s+(ffl_\S+)/.exec(output)?.[1];
  if (localToken) registerLocalToken(port, localToken);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    localToken,
    child,
    output: () => output,
    exited,
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI (`node build/proxy.mjs …args`) to completion. */
export function runProxyCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BUILT_PROXY, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': the process may exit before its output has been read to the end (a token cut short).
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ReferenceFile {
  bytes: Uint8Array;
  /** The file name sent (never trusted by the proxy). */
  name?: string;
  type?: string;
}

export interface SubmitOptions {
  token?: string;
  idempotencyKey?: string;
  origin?: string;
  references?: ReferenceFile[];
  /** An edit's mask, sent as the `mask` file part after the references. */
  mask?: ReferenceFile;
  headers?: Record<string, string>;
}

/** The multipart body of `POST /v1/generations`, in the field order the panel sends. */
export function generationForm(
  fields: Record<string, string>,
  references: ReferenceFile[] = [],
  mask?: ReferenceFile,
): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  references.forEach((ref, i) => {
    form.append(
      'reference',
      new Blob([new Uint8Array(ref.bytes)], { type: ref.type ?? 'application/octet-stream' }),
      ref.name ?? `ref-${i + 1}.png`,
    );
  });
  if (mask) {
    form.append('mask', new Blob([new Uint8Array(mask.bytes)], { type: mask.type ?? 'image/png' }), 'mask.png');
  }
  return form;
}

export function authHeaders(options: SubmitOptions = {}, url = ''): Record<string, string> {
  // The proxy's local token unless the test names a token (or `''` for none).
  const token = options.token ?? tokenFor(url);
  return {
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
    ...(options.idempotencyKey ? { 'Idempotency-Key': options.idempotencyKey } : {}),
    ...(options.origin ? { Origin: options.origin } : {}),
    ...options.headers,
  };
}

/** POST /v1/generations; returns the raw Response (status and JSON body are the caller's to check). */
export function submitGeneration(
  url: string,
  fields: Record<string, string>,
  options: SubmitOptions = {},
): Promise<Response> {
  return fetch(`${url}/v1/generations`, {
    method: 'POST',
    body: generationForm(fields, options.references, options.mask),
    headers: authHeaders(options, url),
  });
}

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads a job's event stream until the server ends it (or `until` returns true); comments are counted. */
export async function readEvents(
  url: string,
  id: string,
  options: { token?: string; until?: (event: SseEvent) => boolean; onEvent?: (event: SseEvent) => void } = {},
): Promise<{ events: SseEvent[]; comments: number; contentType: string | null }> {
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/generations/${id}/events`, {
    headers: authHeaders({ token: options.token }, url),
    signal: controller.signal,
  });
  const events: SseEvent[] = [];
  let comments = 0;
  let stop = false;
  const parser = createParser({
    onEvent(message) {
      const event = { event: message.event ?? 'message', data: JSON.parse(message.data) as unknown };
      events.push(event);
      options.onEvent?.(event);
      if (options.until?.(event)) stop = true;
    },
    onComment() {
      comments++;
    },
  });
  if (!response.body) throw new Error(`no event stream (HTTP ${response.status})`);
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  while (!stop) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  if (stop) controller.abort();
  return { events, comments, contentType: response.headers.get('Content-Type') };
}

/** Submits, then follows the events to the end; returns the job id and the events. */
export async function generateAndWait(
  url: string,
  fields: Record<string, string>,
  options: SubmitOptions = {},
): Promise<{ id: string; events: SseEvent[] }> {
  const response = await submitGeneration(url, fields, options);
  if (response.status !== 202) throw new Error(`submit failed: ${response.status} ${await response.text()}`);
  const { id } = (await response.json()) as { id: string };
  const { events } = await readEvents(url, id, { token: options.token });
  return { id, events };
}
