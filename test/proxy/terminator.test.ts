// The proxy behind a TLS terminator (issue 15, findings 3 and 4): a stand-in for nginx or Caddy on loopback that
// forwards every request, appends the client's address to X-Forwarded-For as `proxy_add_x_forwarded_for` does, and
// keeps the public Host. Loopback has one address, so a test names the client it plays in `X-Test-Client`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorBodySchema } from '../../core/api';
import { forwardTo } from '../helpers/forward';
import { generateAndWait, startTestProxy, submitGeneration, type TestProxy } from '../helpers/proxy';

const PUBLIC_HOST = 'framefill.example.com';
const fields = { prompt: 'a lighthouse', aspect_ratio: '1:1', resolution: '1K' };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const code = async (response: Response) => ErrorBodySchema.parse(await response.json()).error.code;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function proxyWith(env: Record<string, string>): Promise<TestProxy> {
  const proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0', ...env });
  cleanups.push(() => proxy.close(0));
  return proxy;
}

/** The terminator stand-in in front of `proxy`; its URL. */
async function terminator(proxy: TestProxy, { publicHost = PUBLIC_HOST } = {}): Promise<string> {
  const upstream = new URL(proxy.url);
  const server: Server = createServer((req, res) => {
    const client = String(req.headers['x-test-client'] ?? req.socket.remoteAddress);
    delete req.headers['x-test-client'];
    const forwarded = req.headers['x-forwarded-for'];
    req.headers['x-forwarded-for'] = forwarded ? `${forwarded}, ${client}` : client;
    req.headers.host = publicHost;
    req.pipe(forwardTo(upstream, req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** GET /v1/account through the terminator as `client`. */
function account(url: string, client: string, token: string, extra: Record<string, string> = {}) {
  return fetch(`${url}/v1/account`, { headers: { ...bearer(token), 'X-Test-Client': client, ...extra } });
}

async function guessTwentyTimes(
  url: string,
  client: string,
  extra: (i: number) => Record<string, string> = () => ({}),
) {
  for (let i = 0; i < 20; i++) {
    expect((await account(url, client, `ff_guess${i}`, extra(i))).status).toBe(401);
  }
}

describe('behind a terminator that forwards X-Forwarded-For', () => {
  it('with FRAMEFILL_TRUST_PROXY=1, 20 wrong tokens lock out only that client; a valid token through the same terminator keeps working', async () => {
    const proxy = await proxyWith({ FRAMEFILL_TRUST_PROXY: '1' });
    const { token } = await proxy.ledger.createToken('alice', 100);
    const url = await terminator(proxy);
    // The stranger also forges X-Forwarded-For: only the hop the terminator added counts.
    await guessTwentyTimes(url, '203.0.113.66', (i) => ({ 'X-Forwarded-For': `198.51.100.${i}` }));
    const locked = await account(url, '203.0.113.66', token, { 'X-Forwarded-For': '198.51.100.99' });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    expect(await code(locked)).toBe('rate_limited');
    // Everyone else comes through the same terminator, and is not held back.
    expect((await account(url, '203.0.113.7', token)).status).toBe(200);
    expect((await account(url, '2001:db8::7', token)).status).toBe(200);
    const { events } = await generateAndWait(url, fields, { token, headers: { 'X-Test-Client': '203.0.113.7' } });
    expect(events.at(-1)?.event).toBe('completed');
  });

  it('FRAMEFILL_TRUST_PROXY may name the terminator by address instead of a hop count', async () => {
    const proxy = await proxyWith({ FRAMEFILL_TRUST_PROXY: '127.0.0.1, ::1' });
    const { token } = await proxy.ledger.createToken('alice', 100);
    const url = await terminator(proxy);
    await guessTwentyTimes(url, '203.0.113.66');
    expect((await account(url, '203.0.113.66', token)).status).toBe(429);
    expect((await account(url, '203.0.113.7', token)).status).toBe(200);
  });

  it('without FRAMEFILL_TRUST_PROXY the header is not believed: every client shares the terminator address (why the README says to set it)', async () => {
    const proxy = await proxyWith({});
    const { token } = await proxy.ledger.createToken('alice', 100);
    const url = await terminator(proxy);
    await guessTwentyTimes(url, '203.0.113.66');
    expect((await account(url, '203.0.113.7', token)).status).toBe(429);
  });

  it('refuses to start on a FRAMEFILL_TRUST_PROXY that is neither a hop count nor addresses, saying what it takes', async () => {
    await expect(startTestProxy({ FRAMEFILL_TRUST_PROXY: 'nginx' })).rejects.toThrow(
      /FRAMEFILL_TRUST_PROXY=nginx: .*number of proxies in front/,
    );
  });
});

describe('the Host a reverse proxy keeps', () => {
  it('a public Host with a valid token works in token mode: account, generation, events and image', async () => {
    const proxy = await proxyWith({ FRAMEFILL_TRUST_PROXY: '1' });
    const { token } = await proxy.ledger.createToken('alice', 100);
    const url = await terminator(proxy);
    expect((await account(url, '203.0.113.7', token)).status).toBe(200);
    const { id, events } = await generateAndWait(url, fields, { token });
    expect(events.at(-1)?.event).toBe('completed');
    const image = await fetch(`${url}/v1/generations/${id}/image`, { headers: bearer(token) });
    expect(image.status).toBe(200);
    const canceled = await fetch(`${url}/v1/generations/${id}`, { method: 'DELETE', headers: bearer(token) });
    expect(canceled.status).toBe(200);
  });

  it('in local mode the same Host is refused 403 forbidden_origin (a DNS-rebound page posing as localhost)', async () => {
    const proxy = await proxyWith({});
    const url = await terminator(proxy);
    const response = await account(url, '127.0.0.1', proxy.localToken);
    expect(response.status).toBe(403);
    expect(await code(response)).toBe('forbidden_origin');
    expect((await submitGeneration(url, fields, { token: proxy.localToken })).status).toBe(403);
    // Its playground (which carries the local token) is no more reachable under a foreign Host.
    expect((await fetch(`${url}/playground`)).status).toBe(403);
  });
});

describe('Private Network Access', () => {
  const preflight = (url: string, headers: Record<string, string>) =>
    fetch(`${url}/v1/generations`, {
      method: 'OPTIONS',
      headers: { 'Access-Control-Request-Method': 'POST', ...headers },
    });

  it('answers Access-Control-Allow-Private-Network: true on a preflight that asks, from an origin CORS allows', async () => {
    const proxy = await proxyWith({ FRAMEFILL_ALLOWED_ORIGINS: 'https://tools.example.com' });
    for (const origin of ['null', 'https://tools.example.com']) {
      const asked = await preflight(proxy.url, { Origin: origin, 'Access-Control-Request-Private-Network': 'true' });
      expect(asked.status).toBe(204);
      expect(asked.headers.get('Access-Control-Allow-Private-Network')).toBe('true');
    }
    const notAsked = await preflight(proxy.url, { Origin: 'null' });
    expect(notAsked.headers.get('Access-Control-Allow-Private-Network')).toBeNull();
    const foreign = await preflight(proxy.url, {
      Origin: 'https://evil.example',
      'Access-Control-Request-Private-Network': 'true',
    });
    expect(foreign.headers.get('Access-Control-Allow-Private-Network')).toBeNull();
    expect(foreign.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});
