// A throwaway PostgreSQL cluster for the tests and the bench: Debian's `postgresql` package provides the server;
// initdb and pg_ctl refuse to run as root, so as root they run as the package's `postgres` user. The cluster lives in
// a temporary directory (data, unix socket, log), listens on a free loopback port, and is removed afterwards. A run
// killed before its teardown leaves its server running: the next run stops and removes it.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export const POSTGRES_MISSING =
  'PostgreSQL is not installed: the store tests need its server. Install it with `apt-get install -y postgresql` (Debian/Ubuntu).';

export interface Cluster {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  adminUrl: string;
  stop(): void;
}

function binDir(): string | undefined {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  } catch {
    // pg_config comes with the client package; the server's own folder is looked for below.
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The `postgres` user's ids, when this process is root (initdb refuses root). */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const group = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (passwd.status !== 0)
    throw new Error(
      'Running as root and there is no `postgres` user to run initdb as: install the `postgresql` package.',
    );
  return { uid: Number(passwd.stdout.trim()), gid: Number(group.stdout.trim()) };
}

/** `runuser` is a root tool in sbin, which a plain user's PATH (and CI's) may leave out. */
function runuserPath(): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin'].filter(path.isAbsolute);
  const found = dirs.map((dir) => path.join(dir, 'runuser')).find((file) => existsSync(file));
  if (!found) throw new Error('Running as root and `runuser` (util-linux) was not found to run initdb as `postgres`.');
  return found;
}

const CLUSTER_PREFIX = 'framefill-pg-';
/** The file in a cluster's folder naming the process that started it. */
const OWNER_FILE = 'owner.pid';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Clusters in `parent` whose starting process is gone (a run killed before its teardown): stopped and removed. */
export function removeAbandonedClusters(parent: string, stopServer: (data: string) => void): void {
  for (const name of readdirSync(parent).filter((entry) => entry.startsWith(CLUSTER_PREFIX))) {
    const dir = path.join(parent, name);
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(dir, OWNER_FILE), 'utf8').trim());
    } catch {
      continue; // no owner named: made by an older version, or being set up by a run starting now
    }
    if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
    const data = path.join(dir, 'data');
    if (existsSync(path.join(data, 'postmaster.pid'))) {
      try {
        stopServer(data);
      } catch {
        // Already stopped (the machine restarted): the folder goes all the same.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startCluster(): Promise<Cluster> {
  const bin = binDir();
  if (!bin) throw new Error(POSTGRES_MISSING);
  const user = postgresUser();
  const run = (tool: string, args: string[]) => {
    const command = user ? runuserPath() : path.join(bin, tool);
    const argv = user ? ['-u', 'postgres', '--', path.join(bin, tool), ...args] : args;
    const result = spawnSync(command, argv, { encoding: 'utf8' });
    if (result.error) throw new Error(`${tool} could not start: ${result.error.message}`);
    if (result.status !== 0) throw new Error(`${tool} failed: ${(result.stderr || result.stdout).trim()}`);
  };
  const stopServer = (data: string) => run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  removeAbandonedClusters(tmpdir(), stopServer);
  const dir = mkdtempSync(path.join(tmpdir(), CLUSTER_PREFIX));
  writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = path.join(dir, 'data');
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      path.join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`,
      'start',
    ]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        stopServer(data);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A fresh, empty database in the cluster; resolves with its URL. */
export async function createDatabase(adminUrl: string): Promise<string> {
  const name = `ff_${Math.random().toString(36).slice(2, 12)}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
