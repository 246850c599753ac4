// Who may change state from a browser (DESIGN.md §7). A web page the user visits must not spend their credits
// through a form post to the proxy: POST and DELETE from a present, non-`null`, unlisted Origin are refused. In
// local mode the Host must be a loopback name too, so a DNS-rebound page cannot pose as localhost; behind a TLS
// terminator (token mode) the Host is the public one and is not checked.
import type { MiddlewareHandler } from 'hono';
import { FramefillError } from '../errors';

export interface OriginRules {
  localMode: () => Promise<boolean>;
  allowedOrigins: readonly string[];
  /** The proxy's own origins (`http://localhost:PORT`…): the playground it serves may post to it. */
  selfOrigins: () => readonly string[];
}

const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

export function refuseForeignOrigins(rules: OriginRules): MiddlewareHandler {
  return async (c, next) => {
    const forbidden = () => new FramefillError('forbidden_origin', undefined, { field: 'Origin' });
    if ((await rules.localMode()) && !LOOPBACK_HOST.test(c.req.header('Host') ?? '')) throw forbidden();
    const origin = c.req.header('Origin');
    const changesState = c.req.method === 'POST' || c.req.method === 'DELETE';
    if (
      changesState &&
      origin !== undefined &&
      origin !== 'null' &&
      !rules.allowedOrigins.includes(origin) &&
      !rules.selfOrigins().includes(origin)
    ) {
      throw forbidden();
    }
    await next();
  };
}
