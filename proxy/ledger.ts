// Accounts, tokens and credits. Every change of credits is one ledger row: `grant` (+N, credits given),
// `reserve` (−cost, at submit), then `charge` (the reservation is spent: `spent += cost`, the available balance
// does not move again) and/or `release` (+cost, on failure, cancel or interruption) that together settle it. A job
// of several variations that got fewer images than it asked is charged for those and the rest is released.
// So `balance = Σ grant + Σ reserve + Σ release` and, once no job is in flight, `balance = granted − spent`.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { type Db, nowIso, transaction } from './db';
import { FramefillError } from './errors';

/** Local mode (no tokens, loopback only) still records credits, against this account and balance. */
export const LOCAL_ACCOUNT_NAME = 'local';
export const LOCAL_ACCOUNT_CREDITS = 1_000_000;

export interface Account {
  id: string;
  name: string;
  isLocal: boolean;
  balance: number;
  spent: number;
  createdAt: string;
  revokedAt: string | null;
}

interface AccountRow {
  id: string;
  name: string;
  is_local: number;
  balance: number;
  spent: number;
  created_at: string;
  revoked_at: string | null;
  token_hash: string | null;
}

const toAccount = (row: AccountRow): Account => ({
  id: row.id,
  name: row.name,
  isLocal: row.is_local === 1,
  balance: row.balance,
  spent: row.spent,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,63}$/;

export class Ledger {
  constructor(private readonly db: Db) {}

  /** Tokens mode as soon as one token was ever created (a revoked one too: revoking must not open the proxy). */
  hasTokens(): boolean {
    return this.db.prepare('SELECT 1 FROM accounts WHERE token_hash IS NOT NULL LIMIT 1').get() !== undefined;
  }

  createToken(name: string, credits: number): { token: string; account: Account } {
    if (!TOKEN_NAME.test(name) || name === LOCAL_ACCOUNT_NAME) {
      throw new Error(`Invalid token name "${name}": use 1–64 letters, digits, spaces, _ . @ - (not "local").`);
    }
    assertCredits(credits);
    const token = `ff_${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    transaction(this.db, () => {
      if (this.db.prepare('SELECT 1 FROM accounts WHERE name = ?').get(name)) {
        throw new Error(`A token named "${name}" already exists: pick another name, or use "token credit".`);
      }
      this.db
        .prepare('INSERT INTO accounts (id, name, token_hash, balance, created_at) VALUES (?, ?, ?, 0, ?)')
        .run(id, name, hashToken(token), nowIso());
      this.grantIn(id, credits);
    });
    return { token, account: this.accountById(id)! };
  }

  /** The account of a live token, or `undefined`. The hash lookup is followed by a constant-time compare. */
  authenticate(token: string): Account | undefined {
    const hash = hashToken(token);
    const row = this.db.prepare('SELECT * FROM accounts WHERE token_hash = ? AND revoked_at IS NULL').get(hash) as
      | AccountRow
      | undefined;
    if (!row?.token_hash) return undefined;
    const a = Buffer.from(row.token_hash, 'hex');
    const b = Buffer.from(hash, 'hex');
    return a.length === b.length && timingSafeEqual(a, b) ? toAccount(row) : undefined;
  }

  localAccount(): Account {
    const existing = this.db.prepare('SELECT * FROM accounts WHERE is_local = 1').get() as AccountRow | undefined;
    if (existing) return toAccount(existing);
    const id = randomUUID();
    transaction(this.db, () => {
      this.db
        .prepare('INSERT INTO accounts (id, name, is_local, balance, created_at) VALUES (?, ?, 1, 0, ?)')
        .run(id, LOCAL_ACCOUNT_NAME, nowIso());
      this.grantIn(id, LOCAL_ACCOUNT_CREDITS);
    });
    return this.accountById(id)!;
  }

  accountById(id: string): Account | undefined {
    const row = this.db.prepare('SELECT * FROM accounts WHERE id = ?').get(id) as AccountRow | undefined;
    return row ? toAccount(row) : undefined;
  }

  /** Token accounts, by name or id. */
  list(): Account[] {
    return (
      this.db
        .prepare('SELECT * FROM accounts WHERE is_local = 0 ORDER BY created_at, name')
        .all() as unknown as AccountRow[]
    ).map(toAccount);
  }

  find(nameOrId: string): Account | undefined {
    const row = this.db
      .prepare('SELECT * FROM accounts WHERE is_local = 0 AND (name = ? OR id = ?)')
      .get(nameOrId, nameOrId) as AccountRow | undefined;
    return row ? toAccount(row) : undefined;
  }

  revoke(nameOrId: string): Account {
    const account = this.find(nameOrId);
    if (!account) throw new Error(`No token named "${nameOrId}".`);
    this.db.prepare('UPDATE accounts SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(nowIso(), account.id);
    return this.accountById(account.id)!;
  }

  credit(nameOrId: string, credits: number): Account {
    assertCredits(credits);
    const account = this.find(nameOrId);
    if (!account) throw new Error(`No token named "${nameOrId}".`);
    assertBalanceAfter(account.balance, credits);
    transaction(this.db, () => this.grantIn(account.id, credits));
    return this.accountById(account.id)!;
  }

  // The *In methods run inside the caller's transaction (the job store's), so a job row and its credit
  // movement commit together.

  grantIn(accountId: string, credits: number): void {
    this.db.prepare('UPDATE accounts SET balance = balance + ? WHERE id = ?').run(credits, accountId);
    this.row(accountId, null, 'grant', credits);
  }

  /** Refuses with 402 when the balance is short; never lets it go below zero. */
  reserveIn(accountId: string, jobId: string, cost: number): void {
    const changed = this.db
      .prepare('UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?')
      .run(cost, accountId, cost).changes;
    if (changed === 0) {
      const balance = this.accountById(accountId)?.balance ?? 0;
      throw new FramefillError(
        'insufficient_credits',
        `This image costs ${cost} credits and the balance is ${balance}: ask your admin for more, or pick a lower resolution.`,
      );
    }
    this.row(accountId, jobId, 'reserve', -cost);
  }

  chargeIn(accountId: string, jobId: string, cost: number): void {
    this.db.prepare('UPDATE accounts SET spent = spent + ? WHERE id = ?').run(cost, accountId);
    this.row(accountId, jobId, 'charge', cost);
  }

  releaseIn(accountId: string, jobId: string, cost: number): void {
    this.db.prepare('UPDATE accounts SET balance = balance + ? WHERE id = ?').run(cost, accountId);
    this.row(accountId, jobId, 'release', cost);
  }

  /** Ledger rows of a job, oldest first (tests and `token list` read them). */
  rowsForJob(jobId: string): { kind: string; amount: number }[] {
    return this.db.prepare('SELECT kind, amount FROM ledger WHERE job_id = ? ORDER BY id').all(jobId) as {
      kind: string;
      amount: number;
    }[];
  }

  /** Σ grant + Σ reserve + Σ release of an account: always equal to its balance. */
  ledgerBalance(accountId: string): number {
    const row = this.db
      .prepare("SELECT COALESCE(SUM(amount), 0) AS total FROM ledger WHERE account_id = ? AND kind != 'charge'")
      .get(accountId) as { total: number };
    return row.total;
  }

  private row(accountId: string, jobId: string | null, kind: string, amount: number): void {
    this.db
      .prepare('INSERT INTO ledger (account_id, job_id, kind, amount, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(accountId, jobId, kind, amount, nowIso());
  }
}

function assertCredits(credits: number): void {
  if (!Number.isSafeInteger(credits) || credits < 0) {
    throw new Error(`Credits must be a whole number ≥ 0 (got ${credits}).`);
  }
}

/** The balance stays a safe integer whatever is granted. */
function assertBalanceAfter(balance: number, credits: number): void {
  if (!Number.isSafeInteger(balance + credits)) {
    throw new Error(`That would take the balance past ${Number.MAX_SAFE_INTEGER}: grant fewer credits.`);
  }
}
