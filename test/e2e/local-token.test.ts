// Local mode in a real browser (issue 15, finding 1): a stranger's page — a sandboxed iframe on another origin, or a
// saved HTML file — sends `Origin: null` as the Figma plugin does, so only the local token tells them apart. Such a
// page gets 401, makes no job and moves no credit, and cannot read the playground page that carries the token;
// the same iframe given the token generates as the panel does.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy } from '../helpers/proxy';
import { useChromium } from './helpers/chromium';

const chromium = useChromium();
let context: BrowserContext | undefined;
let proxy: TestProxy | undefined;
let foreign: Server | undefined;

afterEach(async () => {
  await context?.close();
  context = undefined;
  await new Promise((resolve) => (foreign ? foreign.close(resolve) : resolve(undefined)));
  foreign = undefined;
  await proxy?.close(0);
  proxy = undefined;
});

/** What the attacking script reports: the generation's status and error code, and whether /playground was readable. */
interface Attempt {
  status: number;
  code?: string;
  playground: 'readable' | 'refused';
}

/**
 * A script that posts a 16:9 4K generation to the proxy (with `token`, if given) and tries to read the playground
 * page, then hands what it saw to `report`.
 */
function attackScript(proxyUrl: string, report: string, token?: string): string {
  return `
    (async () => {
      const form = new FormData();
      form.append('prompt', 'a lighthouse');
      form.append('aspect_ratio', '16:9');
      form.append('resolution', '4K');
      const headers = ${token ? JSON.stringify({ Authorization: `Bearer ${token}` }) : '{}'};
      const result = {};
      try {
        const response = await fetch(${JSON.stringify(`${proxyUrl}/v1/generations`)}, { method: 'POST', body: form, headers });
        result.status = response.status;
        const body = await response.json();
        result.code = body.error ? body.error.code : undefined;
      } catch (error) {
        result.status = 0;
      }
      try {
        await (await fetch(${JSON.stringify(`${proxyUrl}/playground`)})).text();
        result.playground = 'readable';
      } catch (error) {
        result.playground = 'refused';
      }
      (${report})(result);
    })();`;
}

/** Serves, on a second loopback port, a page embedding a sandboxed iframe (`Origin: null`) that runs the attack. */
async function serveForeignSite(proxyUrl: string, token?: string): Promise<string> {
  const frame = `<!doctype html><script>${attackScript(proxyUrl, "(r) => parent.postMessage(r, '*')", token)}</script>`;
  const page = `<!doctype html><title>a foreign site</title>
    <script>window.attempt = new Promise((resolve) => addEventListener('message', (e) => resolve(e.data)));</script>
    <iframe sandbox="allow-scripts" src="/frame"></iframe>`;
  foreign = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(req.url === '/frame' ? frame : page);
  });
  await new Promise<void>((resolve) => foreign?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(foreign.address() as AddressInfo).port}/`;
}

async function attemptOn(page: Page): Promise<Attempt> {
  return page.evaluate(() => (window as unknown as { attempt: Promise<Attempt> }).attempt);
}

/** The local account as the proxy's own ledger has it, and how many jobs the proxy logged. */
async function localState(p: TestProxy) {
  const account = await p.ledger.localAccount();
  return {
    balance: account.balance,
    spent: account.spent,
    jobs: p.logs.filter((line) => line.kind === 'job').length,
  };
}

describe('a local-mode proxy and pages that are not the plugin', () => {
  it('a sandboxed iframe on another origin gets 401 with no job and no credit moved, and cannot read the playground', async () => {
    proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
    const before = await localState(proxy);
    const site = await serveForeignSite(proxy.url);
    context = await chromium.browser.newContext();
    const page = await context.newPage();
    await page.goto(site);
    const attempt = await attemptOn(page);
    expect(attempt).toEqual({ status: 401, code: 'unauthorized', playground: 'refused' });
    expect(await localState(proxy)).toEqual(before);
    expect(before.jobs).toBe(0);
    // The proxy saw the iframe's `Origin: null` POST and refused it at authentication.
    expect(proxy.logs).toContainEqual(
      expect.objectContaining({ kind: 'request', method: 'POST', path: '/v1/generations', status: 401 }),
    );
  });

  it('a saved HTML file opened from disk gets 401 with no job and no credit moved', async () => {
    proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
    const before = await localState(proxy);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'framefill-saved-page-')), 'saved.html');
    writeFileSync(
      file,
      `<!doctype html><script>window.attempt = new Promise((resolve) => {${attackScript(proxy.url, 'resolve')}});</script>`,
    );
    context = await chromium.browser.newContext();
    const page = await context.newPage();
    await page.goto(pathToFileURL(file).href);
    expect(await attemptOn(page)).toEqual({ status: 401, code: 'unauthorized', playground: 'refused' });
    expect(await localState(proxy)).toEqual(before);
  });

  it('the same sandboxed iframe given the local token generates, as the panel with the token does', async () => {
    proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
    const before = await localState(proxy);
    const site = await serveForeignSite(proxy.url, proxy.localToken);
    context = await chromium.browser.newContext();
    const page = await context.newPage();
    await page.goto(site);
    const attempt = await attemptOn(page);
    // The token is the whole difference; the playground page stays unreadable from another origin.
    expect(attempt).toEqual({ status: 202, playground: 'refused' });
    expect((await proxy.ledger.localAccount()).balance).toBeLessThan(before.balance);
  });

  it('the playground the proxy serves hands its panel the local token: the panel is connected without a paste', async () => {
    proxy = await startTestProxy({ FRAMEFILL_DRAFT_DELAY_MS: '0' });
    context = await chromium.browser.newContext();
    const page = await context.newPage();
    const served = await page.goto(`${proxy.url}/playground`);
    expect(served?.headers()['access-control-allow-origin']).toBeUndefined();
    expect(served?.headers()['content-security-policy']).toBe("frame-ancestors 'self'");
    const panel = page.frameLocator('#plugin-body iframe');
    // The balance shows only once /v1/account answered, which needs the token.
    await panel.getByText('Balance:').waitFor();
    expect(proxy.logs).toContainEqual(
      expect.objectContaining({ kind: 'request', method: 'GET', path: '/v1/account', status: 200 }),
    );
    expect(proxy.logs).not.toContainEqual(expect.objectContaining({ kind: 'request', status: 401 }));
  });

  it('the local token is written into the playground page only, with no CORS headers, for Origin: null least of all', async () => {
    proxy = await startTestProxy();
    for (const origin of [undefined, 'null', 'https://evil.example']) {
      const page = await fetch(`${proxy.url}/playground`, { headers: origin ? { Origin: origin } : {} });
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain(`<meta name="framefill-local-token" content="${proxy.localToken}">`);
      expect(html).not.toContain('__FRAMEFILL_LOCAL_TOKEN__');
      for (const header of ['Access-Control-Allow-Origin', 'Access-Control-Allow-Credentials']) {
        expect(page.headers.get(header), `${header} for Origin ${origin}`).toBeNull();
      }
      expect(page.headers.get('Content-Security-Policy')).toBe("frame-ancestors 'self'");
    }
    // Once a token exists the proxy is in token mode, and the playground is gone.
    await proxy.ledger.createToken('alice', 1);
    expect((await fetch(`${proxy.url}/playground`)).status).toBe(404);
  });
});
