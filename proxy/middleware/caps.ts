// Per-client caps (DESIGN.md §7), with defaults a design team never meets: open event streams per token and per
// address, uploads in progress per token, jobs queued or running per token. Past a cap the answer is
// `429 rate_limited` with Retry-After, before any work: never a failed job.
import type { MiddlewareHandler } from 'hono';
import { FramefillError } from '../errors';
import type { Account } from '../ledger';

export interface CapLimits {
  streamsPerToken: number;
  streamsPerAddress: number;
  uploadsPerToken: number;
  jobsPerToken: number;
}

const RETRY_AFTER_S = 5;

export class ClientCaps {
  private readonly streamsByToken = new Map<string, number>();
  private readonly streamsByAddress = new Map<string, number>();
  private readonly uploadsByToken = new Map<string, number>();

  constructor(readonly limits: CapLimits) {}

  /** Counts an event stream in; returns its release. */
  openStream(accountId: string, address: string): () => void {
    if ((this.streamsByToken.get(accountId) ?? 0) >= this.limits.streamsPerToken) {
      throw capped(`${this.limits.streamsPerToken} event streams are open for this token already`);
    }
    if ((this.streamsByAddress.get(address) ?? 0) >= this.limits.streamsPerAddress) {
      throw capped(`${this.limits.streamsPerAddress} event streams are open from this address already`);
    }
    add(this.streamsByToken, accountId, 1);
    add(this.streamsByAddress, address, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      add(this.streamsByToken, accountId, -1);
      add(this.streamsByAddress, address, -1);
    };
  }

  /** Refuses a new job when the token already has this many queued or running. */
  admitQueued(inFlight: number): void {
    if (inFlight >= this.limits.jobsPerToken) {
      throw capped(`${this.limits.jobsPerToken} jobs are already queued or running for this token`);
    }
  }

  beginUpload(accountId: string): () => void {
    if ((this.uploadsByToken.get(accountId) ?? 0) >= this.limits.uploadsPerToken) {
      throw capped(`${this.limits.uploadsPerToken} uploads are in progress for this token already`);
    }
    add(this.uploadsByToken, accountId, 1);
    return () => add(this.uploadsByToken, accountId, -1);
  }
}

/** Holds an upload slot of the caller's token for as long as its request is handled. */
export function capUploads(caps: ClientCaps): MiddlewareHandler<{ Variables: { account: Account } }> {
  return async (c, next) => {
    const release = caps.beginUpload(c.var.account.id);
    try {
      await next();
    } finally {
      release();
    }
  };
}

function add(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}

function capped(what: string): FramefillError {
  return new FramefillError('rate_limited', `${what}: wait for some to finish, then try again.`, {
    retryAfter: RETRY_AFTER_S,
  });
}
