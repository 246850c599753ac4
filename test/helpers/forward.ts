// Sends an incoming request on to another server and its answer back unchanged: the bench's bare pipe
// (bench/upstream-process.ts) and the browser tests' recording forwarder.
import { type ClientRequest, type IncomingMessage, request, type ServerResponse } from 'node:http';

/** The request to `upstream` with `req`'s method, path and headers; the caller writes its body and ends it. */
export function forwardTo(upstream: URL, req: IncomingMessage, res: ServerResponse): ClientRequest {
  const out = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  out.on('error', () => res.destroy());
  return out;
}
