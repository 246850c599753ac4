// Accounts, tokens and credits. Every change of credits is one ledger row: `grant` (+N, credits given),
// `reserve` (−cost, at submit), then `charge` (the reservation is spent: `spent += cost`, the available balance
// does not move again) and/or `release` (+cost, on failure, cancel or interruption) that together settle it. A job
// of several variations that got fewer images than it asked is charged for those and the rest is released.
// So `balance = Σ grant + Σ reserve + Σ release` and, once no job is in flight, `balance = granted − spent`.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { FramefillError } from './errors';
import { nowIso, type Sql, type Store } from './store';

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
  /** Tokens are never deleted: once one exists, the answer stays yes without asking the store again. */
  private tokensSeen = false;

  constructor(private readonly db: Store) {}

  /** Tokens mode as soon as one token was ever created (a revoked one too: revoking must not open the proxy). */
  async hasTokens(): Promise<boolean> {
    if (this.tokensSeen) return true;
    this.tokensSeen =
      (await this.db.one('SELECT 1 AS yes FROM accounts WHERE token_hash IS NOT NULL LIMIT 1')) !== undefined;
    return this.tokensSeen;
  }

  async createToken(name: string, credits: number): Promise<{ token: string; account: Account }> {
    if (!TOKEN_NAME.test(name) || name === LOCAL_ACCOUNT_NAME) {
      throw new Error(`Invalid token name "${name}": use 1–64 letters, digits, spaces, _ . @ - (not "local").`);
    }
    assertCredits(credits);
    const token = `ff_${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    await this.db.tx(async (q) => {
      if (await q.one('SELECT 1 AS yes FROM accounts WHERE name = $1', [name])) {
        throw new Error(`A token named "${name}" already exists: pick another name, or use "token credit".`);
      }
      await q.run('INSERT INTO accounts (id, name, token_hash, balance, created_at) VALUES ($1, $2, $3, 0, $4)', [
        id,
        name,
        hashToken(token),
        nowIso(),
      ]);
      await this.grantIn(q, id, credits);
    });
    this.tokensSeen = true;
    return { token, account: (await this.accountById(id))! };
  }

  /** The account of a live token, or `undefined`. The hash lookup is followed by a constant-time compare. */
  async authenticate(token: string): Promise<Account | undefined> {
    const hash = hashToken(token);
    const row = await this.db.one<AccountRow>('SELECT * FROM accounts WHERE token_hash = $1 AND revoked_at IS NULL', [
      hash,
    ]);
    if (!row?.token_hash) return undefined;
    const a = Buffer.from(row.token_hash, 'hex');
    const b = Buffer.from(hash, 'hex');
    return a.length === b.length && timingSafeEqual(a, b) ? toAccount(row) : undefined;
  }

  /** The local account, created at first use (once, however many replicas ask together). */
  async localAccount(): Promise<Account> {
    const existing = await this.db.one<AccountRow>('SELECT * FROM accounts WHERE is_local = 1');
    if (existing) return toAccount(existing);
    const id = randomUUID();
    await this.db.tx(async (q) => {
      const created = await q.run(
        'INSERT INTO accounts (id, name, is_local, balance, created_at) VALUES ($1, $2, 1, 0, $3) ON CONFLICT (name) DO NOTHING',
        [id, LOCAL_ACCOUNT_NAME, nowIso()],
      );
      if (created === 1) await this.grantIn(q, id, LOCAL_ACCOUNT_CREDITS);
    });
    return toAccount((await this.db.one<AccountRow>('SELECT * FROM accounts WHERE is_local = 1'))!);
  }

  async accountById(id: string): Promise<Account | undefined> {
    const row = await this.db.one<AccountRow>('SELECT * FROM accounts WHERE id = $1', [id]);
    return row ? toAccount(row) : undefined;
  }

  /** Token accounts, by name or id. */
  async list(): Promise<Account[]> {
    return (await this.db.many<AccountRow>('SELECT * FROM accounts WHERE is_local = 0 ORDER BY created_at, name')).map(
      toAccount,
    );
  }

  async find(nameOrId: string): Promise<Account | undefined> {
    const row = await this.db.one<AccountRow>('SELECT * FROM accounts WHERE is_local = 0 AND (name = $1 OR id = $1)', [
      nameOrId,
    ]);
    return row ? toAccount(row) : undefined;
  }

  async revoke(nameOrId: string): Promise<Account> {
    const account = await this.find(nameOrId);
    if (!account) throw new Error(`No token named "${nameOrId}".`);
    await this.db.run('UPDATE accounts SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2', [
      nowIso(),
      account.id,
    ]);
    return (await this.accountById(account.id))!;
  }

  async credit(nameOrId: string, credits: number): Promise<Account> {
    assertCredits(credits);
    const account = await this.find(nameOrId);
    if (!account) throw new Error(`No token named "${nameOrId}".`);
    assertBalanceAfter(account.balance, credits);
    await this.db.tx((q) => this.grantIn(q, account.id, credits));
    return (await this.accountById(account.id))!;
  }

  // The *In methods run inside the caller's transaction (`q`, the job store's), so a job row and its credit
  // movement commit together.

  async grantIn(q: Sql, accountId: string, credits: number): Promise<void> {
    await q.run('UPDATE accounts SET balance = balance + $1 WHERE id = $2', [credits, accountId]);
    await this.row(q, accountId, null, 'grant', credits);
  }

  /**
   * Refuses with 402 when the balance is short (saying what the `images` asked cost); never lets it go below zero.
   * The conditional UPDATE is exact under concurrency on both engines (PostgreSQL re-checks the condition on the row
   * it waited for).
   */
  async reserveIn(q: Sql, accountId: string, jobId: string, cost: number, images = 1): Promise<void> {
    const changed = await q.run('UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1', [
      cost,
      accountId,
    ]);
    if (changed === 0) {
      const balance = (await q.one<{ balance: number }>('SELECT balance FROM accounts WHERE id = $1', [accountId]))
        ?.balance;
      throw new FramefillError(
        'insufficient_credits',
        images > 1
          ? `${images} variations cost ${cost} credits and the balance is ${balance ?? 0}: ask your admin for more, or ask for fewer variations or a lower resolution.`
          : `This image costs ${cost} credits and the balance is ${balance ?? 0}: ask your admin for more, or pick a lower resolution.`,
      );
    }
    await this.row(q, accountId, jobId, 'reserve', -cost);
  }

  async chargeIn(q: Sql, accountId: string, jobId: string, cost: number): Promise<void> {
    await q.run('UPDATE accounts SET spent = spent + $1 WHERE id = $2', [cost, accountId]);
    await this.row(q, accountId, jobId, 'charge', cost);
  }

  async releaseIn(q: Sql, accountId: string, jobId: string, cost: number): Promise<void> {
    await q.run('UPDATE accounts SET balance = balance + $1 WHERE id = $2', [cost, accountId]);
    await this.row(q, accountId, jobId, 'release', cost);
  }

  /** Ledger rows of a job, oldest first (tests and `token list` read them). */
  rowsForJob(jobId: string): Promise<{ kind: string; amount: number }[]> {
    return this.db.many('SELECT kind, amount FROM ledger WHERE job_id = $1 ORDER BY id', [jobId]);
  }

  /** Σ grant + Σ reserve + Σ release of an account: always equal to its balance. */
  async ledgerBalance(accountId: string): Promise<number> {
    const row = await this.db.one<{ total: number }>(
      "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM ledger WHERE account_id = $1 AND kind != 'charge'",
      [accountId],
    );
    return Number(row?.total ?? 0);
  }

  private async row(q: Sql, accountId: string, jobId: string | null, kind: string, amount: number): Promise<void> {
    await q.run('INSERT INTO ledger (account_id, job_id, kind, amount, created_at) VALUES ($1, $2, $3, $4, $5)', [
      accountId,
      jobId,
      kind,
      amount,
      nowIso(),
    ]);
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
