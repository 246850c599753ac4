// The address a request really came from. Behind a TLS terminator (nginx, Caddy) every connection comes from the
// terminator, so per-client limits key on X-Forwarded-For as FRAMEFILL_TRUST_PROXY defines it: a hop count, or the
// terminators' addresses (proxy-addr, as Express reads it: https://expressjs.com/en/guide/behind-proxies.html).
// Without the setting the header is ignored, since any client can write it.
import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';

export type TrustProxy = number | string[] | undefined;

/** Takes a Hono context (its `env` holds @hono/node-server's `incoming`). */
export type ClientAddress = (c: { env: unknown }) => string;

export function clientAddressFrom(trust: TrustProxy): ClientAddress {
  const trusted =
    trust === undefined
      ? () => false
      : typeof trust === 'number'
        ? (_addr: string, hop: number) => hop < trust
        : compileTrusted(trust);
  return (c) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    // Not served over a socket (app.request() in a unit test): one shared bucket.
    if (!incoming?.socket) return 'unknown';
    return proxyAddr(incoming, trusted);
  };
}

function compileTrusted(addresses: string[]): (addr: string, hop: number) => boolean {
  try {
    return proxyAddr.compile(addresses);
  } catch (error) {
    throw new Error(
      `FRAMEFILL_TRUST_PROXY=${addresses.join(',')}: ${error instanceof Error ? error.message : String(error)}. ` +
        'Give the number of proxies in front (1 for one nginx or Caddy), or their addresses, comma-separated ' +
        '(CIDR ranges and the name loopback work too).',
    );
  }
}
