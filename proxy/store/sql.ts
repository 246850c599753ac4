// The storage interface both engines implement: plain SQL with `$1…` placeholders, written once for SQLite and
// PostgreSQL (the stores keep to the dialect both understand), and transactions that commit a job's state and its
// ledger row together.

/** What a placeholder may carry; bytes go to BLOB (SQLite) or bytea (PostgreSQL). */
export type SqlValue = string | number | null | Uint8Array;

export interface Sql {
  /** The first row, or undefined. */
  one<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  many<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export type Engine = 'sqlite' | 'postgres';

export interface Store extends Sql {
  readonly engine: Engine;
  /**
   * Runs `work` in one transaction on one connection (`q`), committed when it resolves, rolled back when it throws.
   * Inside `work`, use `q` only: with SQLite a statement on the store itself waits for the transaction to end.
   * A balance is never overspent: SQLite takes its write lock at BEGIN; on PostgreSQL every spend is a conditional
   * UPDATE, which waits for the row's lock.
   */
  tx<T>(work: (q: Sql) => Promise<T>): Promise<T>;
  /** Whether the engine answers a trivial query now. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export function nowIso(): string {
  return new Date().toISOString();
}
