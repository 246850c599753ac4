// The proxy's one SQLite database (better-sqlite3, WAL) in the data dir: accounts and tokens, the credit
// ledger, and the jobs with their idempotency keys.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

export const DB_FILE = 'framefill.sqlite';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
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
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status);
`;

export function openDb(dataDir: string): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, DB_FILE));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // The CLI (`token create`) may write while the server runs: wait for its lock rather than fail.
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
  // better-sqlite3 compiles the SQL on every prepare(), and the stores prepare per call; a statement is reusable
  // (none here is switched to pluck/raw or iterated), so each SQL text is compiled once (~0.5 ms per job).
  const compile = db.prepare.bind(db);
  const statements = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = compile(sql);
      statements.set(sql, statement);
    }
    return statement;
  }) as Db['prepare'];
  return db;
}

export function nowIso(): string {
  return new Date().toISOString();
}
