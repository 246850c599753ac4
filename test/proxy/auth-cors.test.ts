// Tokens, local mode, the non-loopback refusal, CORS for the plugin iframe's `null` origin, and the
// refusal of state-changing requests from other web origins.
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ErrorBodySchema } from '../../core/api';
import { loadConfig } from '../../proxy/config';
import { startProxy } from '../../proxy/start';
import { databaseFor, ENGINES, startTestProxy as startProxyOn, submitGeneration, tempDataDir } from '../helpers/proxy';

const fields = { prompt: 'x', aspect_ratio: '1:1', resolution: '1K' };
const code = async (response: Response) => ErrorBodySchema.parse(await response.json()).error.code;

describe.each(ENGINES)('on %s', (engine) => {
  const startTestProxy: typeof startProxyOn = (env, opts) => startProxyOn(env, { ...opts, engine });

  describe('auth', () => {
    it('needs a valid token once one exists: none, unknown or revoked → 401 unauthorized', async () => {
      const proxy = await startTestProxy();
      try {
        const { token } = await proxy.ledger.createToken('alice', 50);
        const { token: revoked } = await proxy.ledger.createToken('mallory', 50);
        await proxy.ledger.revoke('mallory');
        const attempts: Record<string, string>[] = [
          {},
          { Authorization: 'Bearer ff_unknown' },
          { Authorization: `Bearer ${revoked}` },
          { Authorization: `Basic ${token}` },
          { Authorization: token },
        ];
        for (const headers of attempts) {
          for (const route of ['/v1/account', `/v1/generations/${crypto.randomUUID()}`]) {
            const response = await fetch(`${proxy.url}${route}`, { headers });
            expect(response.status, JSON.stringify(headers)).toBe(401);
            expect(await code(response)).toBe('unauthorized');
          }
          const post = await submitGeneration(proxy.url, fields, { headers });
          expect(post.status).toBe(401);
        }
        const ok = await fetch(`${proxy.url}/v1/account`, { headers: { Authorization: `Bearer ${token}` } });
        expect(ok.status).toBe(200);
        expect((await submitGeneration(proxy.url, fields, { token })).status).toBe(202);
      } finally {
        await proxy.close();
      }
    });

    it('keeps health and capabilities open without a token', async () => {
      const proxy = await startTestProxy();
      try {
        await proxy.ledger.createToken('alice', 50);
        expect((await fetch(`${proxy.url}/v1/health`)).status).toBe(200);
        expect((await fetch(`${proxy.url}/v1/capabilities`)).status).toBe(200);
      } finally {
        await proxy.close();
      }
    });

    it('needs the local token in local mode (no tokens, loopback), and says where to paste it', async () => {
      const proxy = await startTestProxy();
      try {
        expect(proxy.mode).toBe('local');
        for (const headers of [
          {} as Record<string, string>,
          { Authorization: 'Bearer ffl_guess' },
          { Authorization: 'Bearer ff_team_like' },
        ]) {
          const refused = await submitGeneration(proxy.url, fields, { token: '', headers });
          expect(refused.status).toBe(401);
          const { error } = ErrorBodySchema.parse(await refused.json());
          expect(error.code).toBe('unauthorized');
          expect(error.message).toContain('Paste the token that `npm start` printed into Settings ▸ Token.');
        }
        expect((await proxy.ledger.localAccount()).spent).toBe(0);
        expect((await submitGeneration(proxy.url, fields, { token: proxy.localToken })).status).toBe(202);
      } finally {
        await proxy.close();
      }
    });

    it('does not take the local token once team tokens exist', async () => {
      const proxy = await startTestProxy();
      try {
        await proxy.ledger.createToken('alice', 50);
        const response = await fetch(`${proxy.url}/v1/account`, {
          headers: { Authorization: `Bearer ${proxy.localToken}` },
        });
        expect(response.status).toBe(401);
      } finally {
        await proxy.close();
      }
    });

    it('refuses to start on a non-loopback HOST without tokens, saying why', async () => {
      const dataDir = tempDataDir();
      const config = loadConfig({
        ...(await databaseFor(engine, dataDir)),
        HOST: '0.0.0.0',
        PORT: '0',
        FRAMEFILL_DATA_DIR: dataDir,
      });
      await expect(startProxy(config, { log: () => undefined })).rejects.toThrow(/no token exists.*token create/s);
    });

    it('starts on a non-loopback HOST once a token exists, and requires it', async () => {
      const dataDir = tempDataDir();
      const first = await startTestProxy({ FRAMEFILL_DATA_DIR: dataDir });
      const { token } = await first.ledger.createToken('team', 10);
      await first.close();
      // Binds all interfaces, but the test talks to it on 127.0.0.1 only.
      const env = { ...(await databaseFor(engine, dataDir)), HOST: '0.0.0.0', PORT: '0', FRAMEFILL_DATA_DIR: dataDir };
      const proxy = await startProxy(loadConfig(env), {
        log: () => undefined,
      });
      try {
        const url = `http://127.0.0.1:${proxy.port}`;
        expect((await fetch(`${url}/v1/account`)).status).toBe(401);
        expect((await fetch(`${url}/v1/account`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
      } finally {
        await proxy.close(0);
      }
    });
  });

  describe('CORS and origins', () => {
    it('answers Origin: null and no Origin with Access-Control-Allow-Origin: *', async () => {
      const proxy = await startTestProxy();
      try {
        const withNull = await fetch(`${proxy.url}/v1/health`, { headers: { Origin: 'null' } });
        expect(withNull.headers.get('Access-Control-Allow-Origin')).toBe('*');
        const without = await fetch(`${proxy.url}/v1/health`);
        expect(without.headers.get('Access-Control-Allow-Origin')).toBe('*');
        const post = await submitGeneration(proxy.url, fields, { origin: 'null' });
        expect(post.status).toBe(202);
        expect(post.headers.get('Access-Control-Allow-Origin')).toBe('*');
        expect(post.headers.get('Access-Control-Allow-Credentials')).toBeNull();
      } finally {
        await proxy.close();
      }
    });

    it('echoes an allowed origin, and gives any other origin no CORS headers', async () => {
      const proxy = await startTestProxy({ FRAMEFILL_ALLOWED_ORIGINS: 'https://tools.example.com' });
      try {
        const allowed = await fetch(`${proxy.url}/v1/health`, { headers: { Origin: 'https://tools.example.com' } });
        expect(allowed.headers.get('Access-Control-Allow-Origin')).toBe('https://tools.example.com');
        expect(allowed.headers.get('Vary')).toContain('Origin');
        const other = await fetch(`${proxy.url}/v1/health`, { headers: { Origin: 'https://evil.example' } });
        expect(other.status).toBe(200);
        expect(other.headers.get('Access-Control-Allow-Origin')).toBeNull();
      } finally {
        await proxy.close();
      }
    });

    it('answers preflights with the allowed methods and headers', async () => {
      const proxy = await startTestProxy();
      try {
        const response = await fetch(`${proxy.url}/v1/generations`, {
          method: 'OPTIONS',
          headers: {
            Origin: 'null',
            'Access-Control-Request-Method': 'POST',
            'Access-Control-Request-Headers': 'authorization, idempotency-key',
          },
        });
        expect(response.status).toBe(204);
        expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*');
        expect(response.headers.get('Access-Control-Allow-Methods')).toContain('DELETE');
        const allowHeaders = response.headers.get('Access-Control-Allow-Headers')?.toLowerCase() ?? '';
        for (const h of ['authorization', 'content-type', 'idempotency-key']) expect(allowHeaders).toContain(h);
        const foreign = await fetch(`${proxy.url}/v1/generations`, {
          method: 'OPTIONS',
          headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
        });
        expect(foreign.headers.get('Access-Control-Allow-Origin')).toBeNull();
      } finally {
        await proxy.close();
      }
    });

    it('refuses POST and DELETE from another web origin with 403 forbidden_origin, in local mode too', async () => {
      const proxy = await startTestProxy({ FRAMEFILL_ALLOWED_ORIGINS: 'https://tools.example.com' });
      try {
        const before = (await proxy.ledger.localAccount()).balance;
        const post = await submitGeneration(proxy.url, fields, { origin: 'https://evil.example' });
        expect(post.status).toBe(403);
        expect(await code(post)).toBe('forbidden_origin');
        expect((await proxy.ledger.localAccount()).balance).toBe(before);
        const del = await fetch(`${proxy.url}/v1/generations/${crypto.randomUUID()}`, {
          method: 'DELETE',
          headers: { Origin: 'https://evil.example' },
        });
        expect(del.status).toBe(403);
        expect((await submitGeneration(proxy.url, fields, { origin: 'https://tools.example.com' })).status).toBe(202);
        // Its own origin (the playground it serves) may post.
        expect((await submitGeneration(proxy.url, fields, { origin: `http://localhost:${proxy.port}` })).status).toBe(
          202,
        );
      } finally {
        await proxy.close();
      }
    });

    it('refuses a non-loopback Host in local mode (a DNS-rebound page posing as localhost)', async () => {
      const proxy = await startTestProxy();
      try {
        // fetch() will not send a Host of our choosing; node:http will.
        const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port: proxy.port,
              path: '/v1/account',
              headers: { Host: `rebound.example:${proxy.port}` },
            },
            (res) => {
              let text = '';
              res.on('data', (d: Buffer) => (text += d.toString()));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
            },
          );
          req.on('error', reject);
          req.end();
        });
        expect(status).toBe(403);
        expect(ErrorBodySchema.parse(JSON.parse(body)).error.code).toBe('forbidden_origin');
      } finally {
        await proxy.close();
      }
    });
  });
});
