// The embedded engine: one SQLite file (Node's built-in node:sqlite, WAL) in the data dir. Migrations are numbered
// and run once each at open (`PRAGMA user_version` counts them). node:sqlite is synchronous; a transaction's work is
// async, so while one is open every other statement of this process waits for it to end (the connection is one).
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { Sql, SqlValue, Store } from './sql';

export const DB_FILE = 'framefill.sqlite';

/** Each entry runs once, in order. Never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS accounts (
     id          TEXT PRIMARY KEY,
     name        TEXT NOT NULL UNIQUE,
     token_hash  TEXT UNIQUE,
     is_local    INTEGER NOT NULL DEFAULT 0,
     balance     INTEGER NOT NULL DEFAULT 0,
     spent       INTEGER NOT NULL DEFAULT 0,
     created_at  TEXT NOT NULL,
     revoked_at  TEXT
   );
   CREATE TABLE IF NOT EXISTS ledger (
     id          INTEGER PRIMARY KEY AUTOINCREMENT,
     account_id  TEXT NOT NULL REFERENCES accounts(id),
     job_id      TEXT,
     kind        TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'charge', 'release')),
     amount      INTEGER NOT NULL,
     created_at  TEXT NOT NULL
   );
   CREATE INDEX IF NOT EXISTS ledger_by_job ON ledger(job_id);
   CREATE TABLE IF NOT EXISTS jobs (
     id                   TEXT PRIMARY KEY,
     account_id           TEXT NOT NULL REFERENCES accounts(id),
     status               TEXT NOT NULL,
     prompt_chars         INTEGER NOT NULL,
     aspect_ratio         TEXT NOT NULL,
     resolution           TEXT NOT NULL,
     width                INTEGER,
     height               INTEGER,
     quality              TEXT NOT NULL,
     output_format        TEXT NOT NULL,
     references_json      TEXT NOT NULL,
     cost                 INTEGER NOT NULL,
     model                TEXT NOT NULL,
     created_at           TEXT NOT NULL,
     started_at           TEXT,
     finished_at          TEXT,
     error_json           TEXT,
     notes_json           TEXT,
     mime                 TEXT,
     bytes                INTEGER,
     result_file          TEXT,
     usage_json           TEXT,
     upstream_request_id  TEXT,
     idempotency_key      TEXT,
     request_hash         TEXT NOT NULL
   );
   CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_idempotency_key ON jobs(account_id, idempotency_key)
     WHERE idempotency_key IS NOT NULL;
   CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status);`,
  // Why a queued job waits; whether a canceled job's credits came back.
  `ALTER TABLE jobs ADD COLUMN status_reason TEXT;
   ALTER TABLE jobs ADD COLUMN credits_returned INTEGER;`,
  // The process working on a job and until when it vouches for it (used by PostgreSQL replicas; kept alike here).
  `ALTER TABLE jobs ADD COLUMN owner TEXT;
   ALTER TABLE jobs ADD COLUMN lease_until INTEGER;`,
  // Variations and History: the variations asked (n), the prompt (History shows and reuses it; logs never hold it),
  // and one row per image produced, keyed by (job, index), with its thumbnail. An image removed by the TTL or the
  // budget keeps its row (result_file NULL, evicted_at set). Images of jobs completed before this migration become
  // index 0.
  `ALTER TABLE jobs ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE jobs ADD COLUMN prompt TEXT;
   CREATE TABLE job_images (
     job_id         TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
     image_index    INTEGER NOT NULL,
     width          INTEGER NOT NULL,
     height         INTEGER NOT NULL,
     mime           TEXT NOT NULL,
     bytes          INTEGER NOT NULL,
     result_file    TEXT,
     thumbnail      BLOB,
     thumbnail_mime TEXT,
     created_at     TEXT NOT NULL,
     evicted_at     TEXT,
     PRIMARY KEY (job_id, image_index)
   );
   CREATE INDEX job_images_by_age ON job_images(created_at);
   CREATE INDEX jobs_by_account_created ON jobs(account_id, created_at, id);
   INSERT INTO job_images (job_id, image_index, width, height, mime, bytes, result_file, created_at)
     SELECT id, 0, width, height, mime, bytes, result_file, COALESCE(finished_at, created_at) FROM jobs
     WHERE status = 'completed' AND result_file IS NOT NULL AND width IS NOT NULL AND height IS NOT NULL
       AND mime IS NOT NULL AND bytes IS NOT NULL;`,
  // A running job's latest preview (≤ 512 px), so a stream on any replica can show it.
  `ALTER TABLE jobs ADD COLUMN preview_json TEXT;`,
];

/** `$1` → `?1`: SQLite's numbered parameter, so one SQL text serves both engines. */
const toSqlite = (sql: string) => sql.replace(/\$(\d+)/g, '?$1');

export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  private readonly statements = new Map<string, StatementSync>();
  /** Set while a transaction is open: other statements wait for it. */
  private open: Promise<void> | undefined;
  private readonly direct: Sql;

  constructor(readonly db: DatabaseSync) {
    const exec = this.exec.bind(this);
    this.direct = {
      one: async <T>(sql: string, params: readonly SqlValue[] = []) =>
        exec(sql).get(...(params as SQLInputValue[])) as T | undefined,
      many: async <T>(sql: string, params: readonly SqlValue[] = []) =>
        exec(sql).all(...(params as SQLInputValue[])) as T[],
      run: async (sql: string, params: readonly SqlValue[] = []) =>
        Number(exec(sql).run(...(params as SQLInputValue[])).changes),
    };
  }

  /** Each SQL text is compiled once and reused. */
  prepare(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(toSqlite(sql));
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private exec(sql: string): StatementSync {
    return this.prepare(sql);
  }

  // Each waits inline (`while … await`) so that nothing runs between the last check and the statement.

  async one<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    while (this.open) await this.open;
    return this.direct.one<T>(sql, params);
  }

  async many<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    while (this.open) await this.open;
    return this.direct.many<T>(sql, params);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    while (this.open) await this.open;
    return this.direct.run(sql, params);
  }

  /** One IMMEDIATE transaction: the write lock is taken at BEGIN, so writers (other processes too) are serialised. */
  async tx<T>(work: (q: Sql) => Promise<T>): Promise<T> {
    while (this.open) await this.open;
    let done!: () => void;
    this.open = new Promise((resolve) => (done = resolve));
    try {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(this.direct);
        this.db.exec('COMMIT');
        return result;
      } catch (error) {
        this.db.exec('ROLLBACK');
        throw error;
      }
    } finally {
      this.open = undefined;
      done();
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.one('SELECT 1 AS ok');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    while (this.open) await this.open;
    if (this.db.isOpen) this.db.close();
  }
}

export function openSqlite(dataDir: string): SqliteStore {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const file = path.join(dataDir, DB_FILE);
  const db = new DatabaseSync(file, { timeout: 5000 });
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
  // SQLite's own LOWER folds ASCII only; History's search folds case as PostgreSQL's does, beyond ASCII too.
  db.function('lower', { deterministic: true }, (text) => (typeof text === 'string' ? text.toLowerCase() : text));
  // The database holds token hashes and balances: only the proxy's user may read it.
  for (const suffix of ['', '-wal', '-shm']) if (existsSync(file + suffix)) chmodSync(file + suffix, 0o600);
  migrate(db);
  return new SqliteStore(db);
}

function migrate(db: DatabaseSync): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    const { user_version: done } = db.prepare('PRAGMA user_version').get() as { user_version: number };
    for (let i = done; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i]!);
    if (done < MIGRATIONS.length) db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}
