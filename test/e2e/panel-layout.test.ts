// The panel at Figma's plugin size (360×640) in Chromium against the proxy: Generate and every running job stay
// in view with five targets and three references; one job per double click or double Ctrl+Enter; the tier is
// the designer's; impossible tiers say why; forced ratios show their crop; a proxy that stops and restarts
// reads as "offline", then the jobs complete and are placed; a pasted /v1 URL works.
import { createServer, type Server, Socket } from 'node:net';
import type { BrowserContext, Frame, FrameLocator, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type Settings } from '../../core/messages';
import { png } from '../helpers/images';
import { api, startTestProxy, type TestProxy, tempDataDir, tokenFor } from '../helpers/proxy';
import { frame } from '../ui/fixtures';
import { saveScreenshot } from './helpers/chromium';
import { usePanelHostInChromium } from './helpers/panel-host';

const chromium = usePanelHostInChromium();
let context: BrowserContext | undefined;
const proxies: TestProxy[] = [];
let forwarder: Forwarder | undefined;

afterEach(async () => {
  await context?.close();
  context = undefined;
  await forwarder?.stop();
  forwarder = undefined;
  for (const proxy of proxies.splice(0)) await proxy.close(0);
});

async function proxyWith(env: Record<string, string>): Promise<TestProxy> {
  const proxy = await startTestProxy(env);
  proxies.push(proxy);
  return proxy;
}

const TARGETS = [
  frame('Hero', 1920, 1080, '1:1'),
  frame('Story', 1080, 1920, '1:2'),
  frame('Post', 1080, 1080, '1:3'),
  frame('Editorial', 1200, 900, '1:4'),
  frame('Banner', 3000, 1000, '1:5'),
];
const HERO = TARGETS[0]!;
const POST = TARGETS[2]!;
const REFERENCES = [
  frame('Logo', 200, 200, '2:1'),
  frame('Moodboard', 300, 200, '2:2'),
  frame('Palette', 240, 320, '2:3'),
];

interface Opened {
  page: Page;
  panel: FrameLocator;
  /** The panel's own document, for what a locator cannot say (scroll positions, what was ever shown). */
  frame: () => Frame;
}

/** Opens the host with the panel at 360×640, as Figma opens Framefill. */
async function openPanel(
  settings: Partial<Settings>,
  theme: 'light' | 'dark' = 'light',
  ready = 'Balance:',
): Promise<Opened> {
  context = await chromium.browser.newContext({ viewport: { width: 400, height: 700 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error('host page error:', error));
  await page.goto(chromium.host.url);
  const nodes: Record<string, { name: string; width: number; height: number; b64: string }> = {};
  for (const [i, ref] of REFERENCES.entries()) {
    const bytes = await png(ref.width, ref.height, i + 2);
    nodes[ref.id] = { name: ref.name, width: ref.width, height: ref.height, b64: bytes.toString('base64') };
  }
  await page.evaluate(
    ({ nodes, settings, theme }) => {
      window.host.nodes = nodes;
      window.host.storage.settings = settings;
      window.host.theme = theme;
      window.host.open();
    },
    {
      nodes,
      settings: { ...DEFAULT_SETTINGS, token: tokenFor(settings.proxyUrl ?? '') ?? '', ...settings },
      theme,
    },
  );
  const panel = page.frameLocator('iframe');
  await panel.getByText(ready).first().waitFor();
  const frame = () => {
    const found = page.frames().find((f) => f !== page.mainFrame());
    if (!found) throw new Error('the panel frame is gone');
    return found;
  };
  return { page, panel, frame };
}

async function pinReferences(page: Page, panel: FrameLocator): Promise<void> {
  await page.evaluate((refs) => window.host.select(refs), REFERENCES);
  await panel.getByRole('button', { name: 'Add selection as references' }).click();
  await expect.poll(() => panel.getByRole('list', { name: 'References' }).getByRole('listitem').count()).toBe(3);
}

const placed = (page: Page) => page.evaluate(() => window.host.placed);
const storage = (page: Page) => page.evaluate(() => window.host.storage);
const tier = (panel: FrameLocator, name: string) =>
  panel.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: new RegExp(`^${name}`) });

async function jobsOn(url: string): Promise<number> {
  const account = (await (await api(`${url}/v1/account`)).json()) as {
    jobs_in_flight: number;
    spent_credits: number;
  };
  return account.jobs_in_flight;
}

/** Whether a box lies inside the plugin window (the iframe), which is all a designer sees of the panel. */
async function inWindow(page: Page, box: { x: number; y: number; width: number; height: number } | null) {
  const plugin = await page.locator('iframe').boundingBox();
  if (!box || !plugin) return false;
  return box.y >= plugin.y && box.y + box.height <= plugin.y + plugin.height && box.x >= plugin.x;
}

/** A TCP forwarder standing in for the proxy's address, so the proxy can stop and come back at the same URL. */
interface Forwarder {
  url: string;
  stop(): Promise<void>;
  start(targetPort: number): Promise<void>;
}

async function startForwarder(targetPort: number): Promise<Forwarder> {
  let port = 0;
  let target = targetPort;
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = new Socket();
        sockets.add(client).add(upstream);
        upstream.connect(target, '127.0.0.1');
        client.pipe(upstream).pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      server.listen(port, '127.0.0.1', () => {
        const address = server?.address();
        if (address && typeof address === 'object') port = address.port;
        resolve();
      });
    });
  await listen();
  return {
    url: `http://localhost:${port}`,
    async stop() {
      const running = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (running) await new Promise<void>((resolve) => running.close(() => resolve()));
    },
    async start(nextTarget) {
      target = nextTarget;
      await listen();
    },
  };
}

describe('the panel at 360×640', () => {
  it('keeps Generate and every running job’s progress in view with five targets and three references', async () => {
    const proxy = await proxyWith({ FRAMEFILL_DRAFT_DELAY_MS: '20000' });
    const { page, panel, frame } = await openPanel({ proxyUrl: proxy.url });
    await pinReferences(page, panel);
    await page.evaluate((targets) => window.host.select(targets), TARGETS);
    await panel.getByText('5 frames: 16:9, 9:16, 1:1, 4:3, 16:9').waitFor();
    await panel.getByLabel('Prompt').fill('A campaign in warm light');

    const generate = panel.getByRole('button', { name: /^Generate/ });
    expect(await inWindow(page, await generate.boundingBox())).toBe(true);
    await generate.click();
    await expect.poll(() => panel.getByRole('progressbar').count()).toBe(5);
    await expect.poll(() => jobsOn(proxy.url)).toBe(5);

    // Nothing scrolled to get there: the panel's document stays put, only its middle scrolls.
    expect(await frame().evaluate(() => document.scrollingElement?.scrollTop ?? 0)).toBe(0);
    for (const bar of await panel.getByRole('progressbar').all()) {
      expect(await inWindow(page, await bar.boundingBox())).toBe(true);
    }
    expect(await inWindow(page, await generate.boundingBox())).toBe(true);
    await panel
      .getByText(/^Generating…/)
      .first()
      .waitFor();
    await saveScreenshot(page.locator('iframe'), 'panel-light.png');
    // One line per target, each listed once.
    expect(await panel.getByRole('list', { name: 'Images to generate' }).getByRole('listitem').count()).toBe(5);
    await panel.getByRole('button', { name: 'Cancel all' }).click();
    await expect.poll(() => jobsOn(proxy.url)).toBe(0);
  });

  it('a double click and a double Ctrl+Enter make one job each', async () => {
    const proxy = await proxyWith({ FRAMEFILL_DRAFT_DELAY_MS: '20000' });
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    await page.evaluate((hero) => window.host.select([hero]), HERO);
    await panel.getByLabel('Prompt').fill('A quiet harbour at dawn');
    await panel.getByRole('button', { name: /^Generate/ }).dblclick();
    await expect.poll(async () => (await storage(page)).pendingJobs.length).toBe(1);
    expect(await jobsOn(proxy.url)).toBe(1);

    await page.evaluate((story) => window.host.select([story]), TARGETS[1]);
    await panel.getByText('1 frame: 9:16').waitFor();
    await panel.getByLabel('Prompt').press('Control+Enter');
    await panel.getByLabel('Prompt').press('Control+Enter');
    await expect.poll(async () => (await storage(page)).pendingJobs.length).toBe(2);
    // The second press met either the one submission in flight or the question about Story's running job.
    expect(await jobsOn(proxy.url)).toBe(2);
    expect((await storage(page)).pendingJobs).toHaveLength(2);
  });

  it('leaves the tier at 1K when a frame that suggests 4K is selected', async () => {
    const proxy = await proxyWith({});
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    expect(await tier(panel, '1K').isChecked()).toBe(true);
    await page.evaluate((hero) => window.host.select([hero]), HERO);
    await panel.getByText('1 frame: 16:9').waitFor();
    await panel.getByText('Suggested for these frames:').waitFor();
    // The hint sits beside 4K; the choice stays where the designer left it.
    expect(await tier(panel, '4K').getAttribute('value')).toBe('4K');
    expect(await panel.getByRole('radio', { name: /^4K.*suggested/ }).count()).toBe(1);
    expect(await tier(panel, '1K').isChecked()).toBe(true);
    await panel.getByLabel('Prompt').fill('A hero');
    expect(await panel.getByRole('button', { name: /^Generate/ }).textContent()).toBe('Generate · 6 credits');
  });

  it('shows 4K disabled with its reason for a square target', async () => {
    const proxy = await proxyWith({});
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    await page.evaluate((post) => window.host.select([post]), POST);
    await panel.getByText('1 frame: 1:1').waitFor();
    expect(await tier(panel, '4K').isDisabled()).toBe(true);
    await panel.getByText('4K is off: 1:1 has no 4K: the largest is 2K.').waitFor();
    expect(await panel.locator('body').textContent()).not.toMatch(/4K\s*2048×2048/);
  });

  it('shows the crop of 1:1 forced on a 16:9 frame, and the summary says 1:1', async () => {
    const proxy = await proxyWith({});
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    await page.evaluate((hero) => window.host.select([hero]), HERO);
    await panel.getByText('Hero 1920×1080 → 16:9').waitFor();
    await panel
      .getByRole('radiogroup', { name: 'Aspect ratio' })
      .getByRole('radio', { name: '1:1', exact: true })
      .check();
    await panel.getByText('Hero 1920×1080 → 1:1 (crops 44%)').waitFor();
    await panel.getByText('1 frame: 1:1').waitFor();
  });

  it('says "Offline — will resume" while the proxy is stopped, then completes and places every job after its restart, none Failed', async () => {
    const dataDir = tempDataDir();
    const first = await proxyWith({ FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_DRAFT_DELAY_MS: '3000' });
    forwarder = await startForwarder(first.port);
    const { page, panel, frame } = await openPanel({ proxyUrl: forwarder.url, token: first.localToken });
    // Every phase a job card ever shows, so a Failed that came and went is caught too.
    await frame().evaluate(() => {
      const seen = new Set<string>();
      (window as unknown as { phasesSeen: Set<string> }).phasesSeen = seen;
      const record = () => {
        for (const card of document.querySelectorAll('[data-phase]')) seen.add(card.getAttribute('data-phase') ?? '');
        if (document.querySelector('.ff-panel')?.textContent?.includes('Failed')) seen.add('Failed text');
      };
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.evaluate((targets) => window.host.select(targets), [HERO, TARGETS[1]]);
    await panel.getByLabel('Prompt').fill('Two sizes of one campaign');
    await panel.getByRole('button', { name: /^Generate/ }).click();
    await expect.poll(async () => (await storage(page)).pendingJobs.length).toBe(2);
    const ids = (await storage(page)).pendingJobs.map((job) => job.jobId);

    // The proxy's address stops answering; the jobs carry on inside the proxy.
    await forwarder.stop();
    await expect.poll(() => panel.getByText('Offline — will resume').count(), { timeout: 30_000 }).toBe(2);
    for (const id of ids) {
      await expect
        .poll(
          async () => ((await (await api(`${first.url}/v1/generations/${id}`)).json()) as { status: string }).status,
          {
            timeout: 20_000,
          },
        )
        .toBe('completed');
    }
    // The proxy itself restarts on the same data; the address answers again.
    await first.close(30_000);
    const second = await proxyWith({ FRAMEFILL_DATA_DIR: dataDir });
    await forwarder.start(second.port);

    await expect.poll(async () => (await placed(page)).length, { timeout: 40_000 }).toBe(2);
    expect((await placed(page)).map((p) => p.provenance.jobId).sort()).toEqual([...ids].sort());
    await panel.getByText('Placed in Hero.').waitFor();
    await panel.getByText('Placed in Story.').waitFor();
    const seen = await frame().evaluate(() => [...(window as unknown as { phasesSeen: Set<string> }).phasesSeen]);
    expect(seen).not.toContain('failed');
    expect(seen).not.toContain('Failed text');
    expect(seen).toContain('placed');
  });

  it('uses a proxy URL pasted with /v1/ as the proxy itself', async () => {
    const proxy = await proxyWith({});
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    await panel.getByText('Settings', { exact: true }).click();
    const url = panel.getByLabel('Proxy URL');
    // The address the built manifest allows (devAllowedDomains), pasted as the API's base.
    await url.fill('http://localhost:8787/v1/');
    await url.press('Enter');
    expect(await url.inputValue()).toBe('http://localhost:8787');
    await expect.poll(async () => ((await storage(page)).settings as Settings).proxyUrl).toBe('http://localhost:8787');
  });

  it('resizes the plugin window from its bottom edge: drag to grow, double-click to toggle the tallest (RESIZE)', async () => {
    const proxy = await proxyWith({});
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    const start = await page.locator('iframe').boundingBox();
    if (!start) throw new Error('no plugin window');
    const x = start.x + start.width / 2;
    const y = start.y + start.height - 3;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x, y + 2);
    await page.mouse.up();
    await expect.poll(() => page.evaluate(() => window.host.size)).toEqual({ width: 360, height: 642 });
    // The panel renders again at its new size (typing does): the opening size stays what it was.
    await expect.poll(() => panel.locator('body').evaluate(() => window.innerHeight)).toBe(642);
    await panel.getByLabel('Prompt').fill('a render after the drag');

    // A double-click toggles between the opening size and the tallest.
    await page.mouse.dblclick(x, start.y + 642 - 3);
    await expect.poll(() => page.evaluate(() => window.host.size)).toEqual({ width: 360, height: 640 });
    await page.mouse.dblclick(x, start.y + 640 - 3);
    await expect.poll(() => page.evaluate(() => window.host.size)).toEqual({ width: 360, height: 1200 });
    const resizes = (await page.evaluate(() => window.host.received)).filter(([name]) => name === 'RESIZE');
    expect(resizes.at(-1)?.[1]).toEqual({ width: 360, height: 1200 });
    expect((await page.locator('iframe').boundingBox())?.height).toBe(1200);
    // The footer follows the window's bottom edge.
    const generate = await panel.getByRole('button', { name: /^Generate/ }).boundingBox();
    expect((generate?.y ?? 0) + (generate?.height ?? 0)).toBeGreaterThan(start.y + 1100);
  });
});
