// The shared engine (DATABASE_URL=postgres://…): every replica reads and writes the same tokens, ledger, jobs and
// results. Migrations are versioned in a table and run under a transaction-scoped advisory lock, so replicas that
// start together apply each one once. Numbers come back as numbers: int8 columns (balances, leases) stay within
// Number.MAX_SAFE_INTEGER by the ledger's own checks.
import pg from 'pg';
import type { Sql, SqlValue, Store } from './sql';

/** Never edit a shipped one; append. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS accounts (
     id          TEXT PRIMARY KEY,
     name        TEXT NOT NULL UNIQUE,
     token_hash  TEXT UNIQUE,
     is_local    INTEGER NOT NULL DEFAULT 0,
     balance     BIGINT NOT NULL DEFAULT 0,
     spent       BIGINT NOT NULL DEFAULT 0,
     created_at  TEXT NOT NULL,
     revoked_at  TEXT
   );
   CREATE TABLE IF NOT EXISTS ledger (
     id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     account_id  TEXT NOT NULL REFERENCES accounts(id),
     job_id      TEXT,
     kind        TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'charge', 'release')),
     amount      BIGINT NOT NULL,
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
     cost                 BIGINT NOT NULL,
     model                TEXT NOT NULL,
     created_at           TEXT NOT NULL,
     started_at           TEXT,
     finished_at          TEXT,
     error_json           TEXT,
     notes_json           TEXT,
     mime                 TEXT,
     bytes                BIGINT,
     result_file          TEXT,
     usage_json           TEXT,
     upstream_request_id  TEXT,
     idempotency_key      TEXT,
     request_hash         TEXT NOT NULL,
     status_reason        TEXT,
     credits_returned     INTEGER,
     owner                TEXT,
     lease_until          BIGINT
   );
   CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_idempotency_key ON jobs(account_id, idempotency_key)
     WHERE idempotency_key IS NOT NULL;
   CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status);
   -- Result images, so that any replica serves any of them; (job, index) since a job may make several.
   CREATE TABLE IF NOT EXISTS results (
     job_id      TEXT NOT NULL,
     idx         INTEGER NOT NULL,
     mime        TEXT NOT NULL,
     bytes       BYTEA NOT NULL,
     created_at  TEXT NOT NULL,
     PRIMARY KEY (job_id, idx)
   );
   -- When upstream calls started (epoch ms), for the images-per-minute pace all replicas share.
   CREATE TABLE IF NOT EXISTS upstream_calls (
     id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     started_at  BIGINT NOT NULL
   );`,
  // Variations and History: the variations asked (n), the prompt (History shows and reuses it; logs never hold it),
  // and one row per image produced, keyed by (job, index), with its thumbnail. An image removed by the TTL or the
  // budget keeps its row (result_file NULL, evicted_at set).
  `ALTER TABLE jobs ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE jobs ADD COLUMN prompt TEXT;
   CREATE TABLE job_images (
     job_id         TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
     image_index    INTEGER NOT NULL,
     width          INTEGER NOT NULL,
     height         INTEGER NOT NULL,
     mime           TEXT NOT NULL,
     bytes          BIGINT NOT NULL,
     result_file    TEXT,
     thumbnail      BYTEA,
     thumbnail_mime TEXT,
     created_at     TEXT NOT NULL,
     evicted_at     TEXT,
     PRIMARY KEY (job_id, image_index)
   );
   CREATE INDEX job_images_by_age ON job_images(created_at);
   CREATE INDEX jobs_by_account_created ON jobs(account_id, created_at, id);`,
  // A running job's latest preview (≤ 512 px): too large for a NOTIFY, so streams on other replicas read it here.
  `ALTER TABLE jobs ADD COLUMN preview_json TEXT;`,
];

/** Any constant: the key of the advisory lock that serialises migrations across replicas. */
const MIGRATION_LOCK = 0x46_46_4d_31;

/** The LISTEN connection's name in `pg_stat_activity`, where an operator (or a test) finds it. */
export const LISTEN_APPLICATION = 'framefill-listen';
const INT8 = 20;
const PING_TIMEOUT_MS = 3000;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const clientOf = (client: pg.PoolClient | pg.Pool): Sql => ({
  one: async <T>(sql: string, params: readonly SqlValue[] = []) =>
    (await client.query(sql, params as SqlValue[])).rows[0] as T | undefined,
  many: async <T>(sql: string, params: readonly SqlValue[] = []) =>
    (await client.query(sql, params as SqlValue[])).rows as T[],
  run: async (sql: string, params: readonly SqlValue[] = []) =>
    (await client.query(sql, params as SqlValue[])).rowCount ?? 0,
});

export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  private readonly direct: Sql;

  constructor(
    readonly pool: pg.Pool,
    readonly url: string,
  ) {
    this.direct = clientOf(pool);
  }

  one<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.direct.one<T>(sql, params);
  }

  many<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.direct.many<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.direct.run(sql, params);
  }

  async tx<T>(work: (q: Sql) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      try {
        const result = await work(clientOf(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    } finally {
      client.release();
    }
  }

  /** Answers within PING_TIMEOUT_MS: a health check must not hang on a database that does not answer. */
  async ping(): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS)));
    const answered = this.pool.query('SELECT 1').then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([answered, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** A client of its own (LISTEN holds its connection for the process's life). */
  newClient(): pg.Client {
    return new pg.Client({ connectionString: this.url, types, application_name: LISTEN_APPLICATION });
  }
}

/**
 * Connects, checks the server answers and migrates. A wrong or unreachable URL throws one sentence naming the host
 * (never the password) and the cause.
 */
export async function openPostgres(url: string, poolSize: number): Promise<PostgresStore> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 10_000, types });
  // An idle connection the server closed (restart, failover) is replaced at the next query; it must not crash us.
  pool.on('error', () => undefined);
  const store = new PostgresStore(pool, url);
  try {
    await store.tx(async (q) => {
      await q.run('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await q.run(
        'CREATE TABLE IF NOT EXISTS framefill_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
      );
      const done =
        (await q.one<{ n: number }>('SELECT COALESCE(MAX(version), 0) AS n FROM framefill_migrations'))?.n ?? 0;
      for (let i = done; i < MIGRATIONS.length; i++) {
        await q.run(MIGRATIONS[i]!);
        await q.run('INSERT INTO framefill_migrations (version, applied_at) VALUES ($1, $2)', [
          i + 1,
          new Date().toISOString(),
        ]);
      }
    });
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new Error(`Cannot use DATABASE_URL (${describeUrl(url)}): ${reasonOf(error)}`);
  }
  return store;
}

/** The URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'not a URL';
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reasonOf(error.errors[0]);
  const e = error as { code?: string; message?: string };
  const text = e.message || e.code || String(error);
  return text.replace(/\s+/g, ' ').trim();
}
