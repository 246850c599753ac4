// Starts the proxy: opens the store (SQLite in the data dir, or PostgreSQL shared with other replicas), settles
// jobs a dead process left unfinished, and listens on every configured address (both loopback families by default). `close()` is the graceful stop: no new jobs,
// running ones may finish, and their images stay downloadable until fetched or the grace period ends.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { getRequestListener } from '@hono/node-server';
import type { Config } from './config';
import { JobStore } from './jobs';
import { keepLeases, sweepLapsed } from './leases';
import { Ledger } from './ledger';
import { loadLocalToken } from './local-token';
import { type Logger, stdoutLogger } from './log';
import { ClientCaps } from './middleware/caps';
import { createProvider } from './providers';
import type { Provider } from './providers/types';
import { ResultKeeper } from './result-keeper';
import { INTERRUPTED_ERROR, JobRunner } from './runner';
import { createApp } from './server';
import { openStore, type Store } from './store';
import { noticesFor } from './store/notices';
import { sharedPace } from './store/pace';
import { type ResultStore, resultStoreFor } from './store/results';

export interface StartOptions {
  provider?: Provider;
  log?: Logger;
  /** SSE keep-alive interval (15 s by default). */
  keepAliveMs?: number;
  /** Folder of the built playground (build/ by default). */
  staticDir?: string;
  /** Per-reference byte cap (§4's 50 MB by default). */
  referenceMaxBytes?: number;
}

export interface RunningProxy {
  /** `http://127.0.0.1:PORT` (or the first address listened on). */
  url: string;
  port: number;
  /** The addresses actually listened on. */
  hosts: string[];
  mode: 'local' | 'tokens';
  /** Local mode's secret: every /v1 route but health and capabilities needs it. */
  localToken: string;
  provider: Provider;
  ledger: Ledger;
  store: JobStore;
  /** The database under the ledger and the jobs. */
  db: Store;
  results: ResultStore;
  /** This replica's id: the owner recorded on the jobs it accepts. */
  owner: string;
  /**
   * Removes result images past the TTL, then the oldest while over the disk budget (their rows stay); runs hourly
   * by itself, and the budget after every completed job. Returns how many images were removed.
   */
  cleanup(): Promise<number>;
  /** Stops accepting, lets running jobs finish within the grace period (config by default), then closes. */
  close(graceMs?: number): Promise<void>;
}

type NodeServer = Server;

const CLEANUP_EVERY_MS = 60 * 60_000;

export async function startProxy(config: Config, opts: StartOptions = {}): Promise<RunningProxy> {
  const log = opts.log ?? stdoutLogger;
  const db = await openStore(config);
  const ledger = new Ledger(db);
  if (!config.loopbackOnly && !(await ledger.hasTokens())) {
    await db.close();
    throw new Error(
      `Refusing to start: HOST=${config.hosts.join(',')} serves the network, and no token exists, so anyone could spend credits. ` +
        'Create one first with `npm run proxy -- token create --name NAME --credits N`, or unset HOST to serve only this machine.',
    );
  }
  const provider = opts.provider ?? createProvider(config);
  // The data dir holds the uploads in flight and the local token with either engine.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const results = resultStoreFor(db, config.dataDir);
  const uploadsDir = path.join(config.dataDir, 'uploads');
  // Uploads belong to jobs a previous process never finished; those jobs are interrupted just below.
  rmSync(uploadsDir, { recursive: true, force: true });
  mkdirSync(uploadsDir, { recursive: true, mode: 0o700 });
  const localToken = loadLocalToken(config.dataDir);
  const store = new JobStore(db, ledger);
  const notices = await noticesFor(db);
  const owner = randomUUID();
  const shared = db.engine === 'postgres';
  if (shared) {
    // Other replicas may be running their jobs: only those whose lease lapsed are ended.
    await sweepLapsed({ store, notices, results, log });
  } else {
    // The only process: whatever is unfinished was left by the previous one.
    for (const id of await store.unfinished()) {
      if (!(await store.finish(id, 'interrupted', INTERRUPTED_ERROR))) continue;
      // Images it kept before it could complete (it died in between) belong to no job any more.
      await results.deleteJob(id);
      log({ kind: 'job', id, status: 'interrupted' });
    }
  }
  const keeper = new ResultKeeper({ store, results, ttlMs: config.resultTtlMs, maxBytes: config.resultsMaxBytes });
  // One sweep at a time: a completion during the hourly sweep waits for it rather than racing it for the same files.
  let sweeping: Promise<number> = Promise.resolve(0);
  const serially = (work: () => Promise<number>): Promise<number> => {
    sweeping = sweeping.catch(() => 0).then(work);
    return sweeping;
  };
  const runner = new JobRunner({
    store,
    onCompleted: () => {
      void serially(() => keeper.enforceBudget()).catch((error: unknown) =>
        log({ kind: 'cleanup_error', error: String(error) }),
      );
    },
    provider,
    results,
    notices,
    concurrency: config.upstreamConcurrency,
    timeoutMs: config.upstreamTimeoutMs,
    imagesPerMinute: config.imagesPerMinute || undefined,
    sharedPace: shared ? sharedPace(db) : undefined,
    refundStartedCancels: config.refundStartedCancels,
    log,
    logPrompts: config.logPrompts,
  });

  const stopLeases = keepLeases({
    store,
    notices,
    results,
    owner,
    held: () => runner.heldIds(),
    leaseMs: config.leaseMs,
    sweep: shared,
    log,
  });

  let port = config.port;
  // Images of jobs that finished during a shutdown, not yet fetched: the drain waits for them.
  const unfetched = new Set<string>();
  let draining = false;
  let fetchedAll: (() => void) | undefined;
  const app = createApp({
    config,
    ledger,
    store,
    runner,
    db,
    results,
    notices,
    owner,
    leaseMs: config.leaseMs,
    provider,
    prices: config.prices,
    log,
    localToken,
    caps: new ClientCaps(config.caps),
    onImageFetched: (id) => {
      unfetched.delete(id);
      if (draining && unfetched.size === 0) fetchedAll?.();
    },
    uploadsDir,
    selfOrigins: () => [`http://localhost:${port}`, `http://127.0.0.1:${port}`, `http://[::1]:${port}`],
    keepAliveMs: opts.keepAliveMs,
    staticDir: opts.staticDir,
    referenceMaxBytes: opts.referenceMaxBytes,
  });

  // One descriptor budget for all the servers (both loopback families by default), not one each.
  const maxConnections = Math.max(32, Math.floor(connectionBudget() / config.hosts.length));
  const servers: NodeServer[] = [];
  const hosts: string[] = [];
  for (const host of config.hosts) {
    // Slow clients: headers must arrive within FRAMEFILL_HEADERS_TIMEOUT_S, a whole upload (up to ~800 MB) within
    // FRAMEFILL_REQUEST_TIMEOUT_S. Node checks both only every `connectionsCheckingInterval` (30 s by default),
    // so a short timeout gets a matching check: https://nodejs.org/api/http.html#httpcreateserveroptions-requestlistener
    const server = createServer(
      {
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        connectionsCheckingInterval: Math.min(30_000, Math.max(250, config.headersTimeoutMs / 4)),
      },
      getRequestListener(app.fetch),
    );
    server.maxConnections = maxConnections;
    // SSE streams send a keep-alive every 15 s; an idle socket is closed well after that.
    server.timeout = 120_000;
    server.keepAliveTimeout = 5_000;
    try {
      await listen(server, port, host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A machine without IPv6 (or IPv4) cannot bind that loopback: serve the other one.
      if ((code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') && config.hosts.length > 1) {
        log({ kind: 'listen_skipped', host, code });
        continue;
      }
      await Promise.all(servers.map(closeServer));
      stopLeases();
      await notices.close();
      await db.close();
      throw error;
    }
    port = (server.address() as AddressInfo).port;
    servers.push(server);
    hosts.push(host);
  }
  if (servers.length === 0) {
    stopLeases();
    await notices.close();
    await db.close();
    throw new Error(`Could not listen on any of ${config.hosts.join(', ')}.`);
  }

  const cleanup = async (): Promise<number> => {
    const removed = await serially(() => keeper.sweep());
    if (removed > 0) log({ kind: 'cleanup', removed_images: removed });
    return removed;
  };
  // Housekeeping: a failure is logged and the next round tries again, the first one included (the proxy listens).
  const cleanupOrLog = () =>
    cleanup().catch((error: unknown) => log({ kind: 'error', error: `cleanup: ${String(error)}` }));
  await cleanupOrLog();
  const cleanupTimer = setInterval(
    () => void cleanupOrLog(),
    Math.min(CLEANUP_EVERY_MS, Math.max(config.resultTtlMs, 1000)),
  );
  // Typed as a number where the DOM lib is loaded too (the tests' project); on Node it is a Timeout.
  (cleanupTimer as unknown as NodeJS.Timeout).unref();

  const displayHost = hosts.includes('127.0.0.1') ? '127.0.0.1' : hosts[0]!;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${displayHost.includes(':') ? `[${displayHost}]` : displayHost}:${port}`,
    port,
    hosts,
    mode: (await ledger.hasTokens()) ? 'tokens' : 'local',
    localToken,
    provider,
    ledger,
    store,
    db,
    results,
    owner,
    cleanup,
    close(graceMs = config.shutdownGraceMs) {
      closing ??= (async () => {
        clearInterval(cleanupTimer);
        const graceEnds = Date.now() + graceMs;
        const finishing = runner.runningIds();
        await runner.shutdown(graceMs);
        // A paid image is never lost: the panel may still be on its way to fetch what just finished.
        for (const id of finishing) if ((await store.get(id))?.status === 'completed') unfetched.add(id);
        if (unfetched.size > 0) {
          draining = true;
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            new Promise<void>((resolve) => (fetchedAll = resolve)),
            new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, graceEnds - Date.now())))),
          ]);
          clearTimeout(timer);
        }
        const stopped = Promise.all(servers.map(closeServer));
        // Event streams of finished jobs have ended; whatever is left open is idle.
        for (const server of servers) server.closeAllConnections();
        await stopped;
        // A removal of old images still under way finishes before the database closes.
        await sweeping.catch(() => 0);
        stopLeases();
        await notices.close();
        await db.close();
      })();
      return closing;
    },
  };
}

/**
 * Connections the servers accept at most: the process's descriptor limit less a reserve for the database, result
 * files, uploads and upstream calls, so that health and running jobs never meet EMFILE.
 */
const DESCRIPTOR_RESERVE = 256;
function connectionBudget(): number {
  const limits = (() => {
    try {
      return readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return '';
    }
  })();
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
  return Number.isFinite(soft) ? Math.max(64, soft - DESCRIPTOR_RESERVE) : 4096;
}

function listen(server: NodeServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: NodeServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
