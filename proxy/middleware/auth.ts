// Who is calling (DESIGN.md §7), through hono/bearer-auth with our lookup: in token mode a token names an account;
// in local mode the one local token names the built-in local account. Every /v1 route but health and capabilities
// needs it. Wrong tokens are limited per client address, so guessing is slow.
import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { FramefillError } from '../errors';
import type { Account, Ledger } from '../ledger';
import type { ClientAddress } from './client-address';

export interface AuthOptions {
  ledger: Ledger;
  localMode: () => Promise<boolean>;
  localToken: string;
  clientAddress: ClientAddress;
  failureLimit: number;
  failureWindowMs: number;
}

const OPEN_PATHS = new Set(['/v1/health', '/v1/capabilities']);

/** `local`: whether this request is served in local mode (asked of the store once per request). */
type AuthEnv = { Variables: { account: Account; client: string; local?: boolean } };

export function authenticate(options: AuthOptions): MiddlewareHandler<AuthEnv> {
  const failures = new AuthFailures(options.failureLimit, options.failureWindowMs);
  const missing = (c: Context<AuthEnv>) => unauthorized(c.var.local ? LOCAL_ADVICE : TEAM_ADVICE, c);
  const wrong = (c: Context<AuthEnv>) => {
    failures.record(c.var.client);
    return unauthorized(
      c.var.local
        ? `This is not the proxy's local token. ${LOCAL_ADVICE}`
        : 'This token is unknown or revoked: paste a valid one in Settings.',
      c,
    );
  };
  const bearer = bearerAuth<AuthEnv>({
    verifyToken: async (token, c) => {
      const account = c.var.local
        ? sameSecret(token, options.localToken)
          ? await options.ledger.localAccount()
          : undefined
        : await options.ledger.authenticate(token);
      if (account) c.set('account', account);
      return account !== undefined;
    },
    noAuthenticationHeader: { message: missing },
    // Not a bearer token at all (a panel not set up yet, a Basic header): no guess, so not counted.
    invalidAuthenticationHeader: { message: missing },
    invalidToken: { message: wrong },
  });
  return async (c, next) => {
    if (OPEN_PATHS.has(c.req.path) || c.req.method === 'OPTIONS') return next();
    c.set('client', options.clientAddress(c));
    c.set('local', await options.localMode());
    // A missing token is no guess: only a request that offers one is held back by earlier wrong ones.
    if (/^Bearer\s/i.test(c.req.header('Authorization') ?? '')) failures.check(c.var.client);
    return bearer(c, next);
  };
}

const LOCAL_ADVICE = 'Paste the token that `npm start` printed into Settings ▸ Token.';
const TEAM_ADVICE = 'The proxy needs a token: paste the one your admin gave you in Settings.';

/** hono/bearer-auth answers with this Response; it carries §6's error body. */
function unauthorized(message: string, c: Context<AuthEnv>): Response {
  return c.json(new FramefillError('unauthorized', message).toBody(), 401);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Guessing tokens: a client whose wrong tokens reach `limit` within a window gets `429 rate_limited` (with
 * Retry-After) for every authenticated request until the window ends — a right token too, or the limit would be
 * an oracle. A missing token is not counted (a panel not set up yet is no attack). The map is bounded.
 */
class AuthFailures {
  private readonly clients = new Map<string, { count: number; resetAt: number }>();
  private static readonly MAX_CLIENTS = 10_000;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  check(client: string): void {
    const entry = this.live(client);
    if (entry && entry.count >= this.limit) {
      throw new FramefillError('rate_limited', 'Too many wrong tokens from this client: wait, then check the token.', {
        retryAfter: Math.max(1, Math.ceil((entry.resetAt - Date.now()) / 1000)),
      });
    }
  }

  record(client: string): void {
    const entry = this.live(client);
    if (entry) {
      entry.count++;
      return;
    }
    if (this.clients.size >= AuthFailures.MAX_CLIENTS) {
      const now = Date.now();
      for (const [key, value] of this.clients) if (value.resetAt <= now) this.clients.delete(key);
      const oldest = this.clients.keys().next();
      if (this.clients.size >= AuthFailures.MAX_CLIENTS && !oldest.done) this.clients.delete(oldest.value);
    }
    this.clients.set(client, { count: 1, resetAt: Date.now() + this.windowMs });
  }

  private live(client: string): { count: number; resetAt: number } | undefined {
    const entry = this.clients.get(client);
    if (entry && entry.resetAt <= Date.now()) {
      this.clients.delete(client);
      return undefined;
    }
    return entry;
  }
}
