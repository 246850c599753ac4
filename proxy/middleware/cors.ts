// CORS as DESIGN.md §7 says, through hono/cors with an origin function. The plugin iframe's origin is `null`, and
// Figma documents that it can only call APIs answering `Access-Control-Allow-Origin: *`
// (https://developers.figma.com/docs/plugins/making-network-requests/): `null` and no Origin get `*`, configured
// origins are echoed, any other origin gets no CORS headers at all.
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

export function corsFor(allowedOrigins: readonly string[]): MiddlewareHandler {
  const allowOrigin = (origin: string) =>
    origin === '' || origin === 'null' ? '*' : allowedOrigins.includes(origin) ? origin : null;
  const honoCors = cors({
    origin: allowOrigin,
    allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'],
    exposeHeaders: ['Retry-After', 'Location', 'Idempotent-Replayed'],
    maxAge: 600,
  });
  return async (c, next) => {
    // Chrome's Private Network Access asks a loopback server whether a page may reach it; hono/cors does not
    // answer that question (https://wicg.github.io/private-network-access/#cors-preflight).
    if (
      c.req.method === 'OPTIONS' &&
      c.req.header('Access-Control-Request-Private-Network') === 'true' &&
      allowOrigin(c.req.header('Origin') ?? '')
    ) {
      c.header('Access-Control-Allow-Private-Network', 'true');
    }
    return honoCors(c, next);
  };
}
