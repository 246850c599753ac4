// One log line per request: method, path, status and time. A client that left mid-upload is logged as 499
// (nginx's "client closed request"), never as a server error.
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log';

export const CLIENT_CLOSED_STATUS = 499;

export function requestLog(log: Logger): MiddlewareHandler<{ Variables: { clientGone?: boolean } }> {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      log({
        kind: 'request',
        method: c.req.method,
        path: c.req.path,
        status: c.var.clientGone ? CLIENT_CLOSED_STATUS : c.res.status,
        ms: Math.round(performance.now() - started),
      });
    }
  };
}
