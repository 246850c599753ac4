import type { FrameLocator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../core/messages';
import { imageInfo, png } from '../helpers/images';
import { api, tokenFor } from '../helpers/proxy';
import { frame } from '../ui/fixtures';
import { saveScreenshot } from './helpers/chromium';
import { usePanelHostInChromium } from './helpers/panel-host';
import { usePlayground } from './helpers/playground';

const chromium = usePanelHostInChromium();
const session = usePlayground(chromium);

const HERO = frame('Hero', 1440, 810, '1:10');
const REFERENCES = [
  frame('Logo', 200, 200, '2:1'),
  frame('Moodboard', 300, 200, '2:2'),
  frame('Palette', 240, 320, '2:3'),
];

interface Opened {
  page: Page;
  panel: FrameLocator;
}

/** Opens the host with the panel pointed at the test proxy, the way Figma would open the plugin. */
async function openPanel(options: { theme?: 'light' | 'dark'; proxyUrl: string }): Promise<Opened> {
  const context = await session.newContext({ viewport: { width: 400, height: 700 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error('host page error:', error));
  await page.goto(chromium.host.url);
  const nodes: Record<string, { name: string; width: number; height: number; b64: string }> = {};
  for (const [i, ref] of REFERENCES.entries()) {
    const bytes = await png(ref.width, ref.height, i + 2);
    nodes[ref.id] = { name: ref.name, width: ref.width, height: ref.height, b64: bytes.toString('base64') };
  }
  const hero = await png(HERO.width, HERO.height, 9);
  nodes[HERO.id] = { name: HERO.name, width: HERO.width, height: HERO.height, b64: hero.toString('base64') };
  await page.evaluate(
    ({ nodes, settings, theme }) => {
      const h = window.host;
      h.nodes = nodes;
      h.storage.settings = settings;
      h.theme = theme;
      h.open();
    },
    {
      nodes,
      settings: { ...DEFAULT_SETTINGS, proxyUrl: options.proxyUrl, token: tokenFor(options.proxyUrl) ?? '' },
      theme: options.theme ?? 'light',
    },
  );
  const panel = page.frameLocator('iframe');
  await panel.getByText('Balance:').waitFor();
  return { page, panel };
}

/** Pins the three references through the selection, then selects the Hero frame as the target. */
async function pinReferencesAndTarget(page: Page, panel: FrameLocator): Promise<void> {
  await page.evaluate((refs) => window.host.select(refs), REFERENCES);
  await panel.getByRole('button', { name: 'Add selection as references' }).click();
  await expect.poll(() => panel.getByRole('list', { name: 'References' }).getByRole('listitem').count()).toBe(3);
  await page.evaluate((hero) => window.host.select([hero]), HERO);
  await panel.getByText('1 frame: 16:9').waitFor();
}

const placed = (page: Page) => page.evaluate(() => window.host.placed);
const storage = (page: Page) => page.evaluate(() => window.host.storage);

async function account(url: string) {
  const response = await api(`${url}/v1/account`);
  return (await response.json()) as { balance_credits: number; jobs_in_flight: number };
}

describe('the panel in Chromium against the proxy', () => {
  it('generates a 16:9 2K image with 3 references, shows progress and a preview, and places a 2560×1440 JPEG (the default format)', async () => {
    const proxy = await session.startProxy({ FRAMEFILL_DRAFT_DELAY_MS: '3000' });
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    await pinReferencesAndTarget(page, panel);
    // Every thumbnail arrived as a small export.
    await expect.poll(() => panel.locator('.ff-thumb img').count()).toBe(3);

    await panel.getByLabel('Prompt').fill('A red bicycle leaning on a sunlit wall');
    await panel.getByRole('radiogroup', { name: 'Aspect ratio' }).getByRole('radio', { name: '16:9' }).check();
    await panel.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: /^2K/ }).check();
    const generate = panel.getByRole('button', { name: /^Generate/ });
    expect(await generate.textContent()).toBe('Generate · 8 credits');
    await generate.click();

    const progress = panel.getByRole('progressbar');
    await progress.waitFor();
    await panel.getByRole('img', { name: /^Partial preview of Hero/ }).waitFor();
    // Accepted jobs are saved at once, so a closed panel could resume them.
    expect((await storage(page)).pendingJobs).toHaveLength(1);

    await expect.poll(async () => (await placed(page)).length, { timeout: 30_000 }).toBe(1);
    const [image] = await placed(page);
    expect(image?.targetId).toBe(HERO.id);
    expect(image?.provenance).toMatchObject({ aspectRatio: '16:9', resolution: '2K' });
    expect(image?.provenance.referenceIds).toEqual(REFERENCES.map((r) => r.id));
    expect(await imageInfo(Buffer.from(image?.b64 ?? '', 'base64'))).toEqual({
      format: 'jpeg',
      width: 2560,
      height: 1440,
    });
    // The proxy received the three references.
    const job = (await (await api(`${proxy.url}/v1/generations/${image?.provenance.jobId}`)).json()) as {
      references: number;
    };
    expect(job.references).toBe(3);
    // The references went at full size (default max edge), thumbnails at 96 px.
    const exports = (await page.evaluate(() => window.host.received)).filter(([name]) => name === 'EXPORT_REFERENCES');
    expect(exports.map(([, p]) => (p as { maxEdge: number }).maxEdge)).toEqual([96, 2048]);

    await panel.getByText('Placed in Hero.').waitFor();
    expect(await progress.getAttribute('value')).toBe('100');
    const download = panel.getByRole('link', { name: 'Download original' });
    expect(await download.getAttribute('download')).toBe('a-red-bicycle-leaning-on-a-sunlit-wall-2560x1440.jpg');
    expect(await download.getAttribute('href')).toMatch(/^blob:/);
    await expect.poll(async () => (await storage(page)).pendingJobs).toEqual([]);
  });

  it('cancels a running job from the panel, saying before and after what happens to its credits', async () => {
    const proxy = await session.startProxy({ FRAMEFILL_DRAFT_DELAY_MS: '20000' });
    const before = await account(proxy.url);
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    await page.evaluate((hero) => window.host.select([hero]), HERO);
    await panel.getByLabel('Prompt').fill('A quiet harbour at dawn');
    // ⌘/Ctrl+Enter generates from the prompt.
    await panel.getByLabel('Prompt').press('Control+Enter');
    await panel.getByText(/^Generating…/).waitFor();
    await expect.poll(async () => (await account(proxy.url)).jobs_in_flight).toBe(1);
    expect((await account(proxy.url)).balance_credits).toBeLessThan(before.balance_credits);

    // Cancel says before the click what happens to the credits, and the card says after what did.
    const cancel = panel.getByRole('button', { name: /^Cancel — / });
    expect(await cancel.getAttribute('aria-label')).toMatch(
      /^Cancel — (6 credits returned|the image service has started: 6 credits charged)$/,
    );
    await cancel.click();
    const canceled = panel.getByText(/^Canceled — /);
    await canceled.waitFor();
    const after = await account(proxy.url);
    expect(after.jobs_in_flight).toBe(0);
    expect(await canceled.textContent()).toBe(
      after.balance_credits === before.balance_credits
        ? 'Canceled — 6 credits returned.'
        : 'Canceled — the image service had started: 6 credits charged.',
    );
    expect(await placed(page)).toEqual([]);
    await expect.poll(async () => (await storage(page)).pendingJobs).toEqual([]);
  });

  it('runs one job per target, and Cancel all stops them all', async () => {
    const proxy = await session.startProxy({ FRAMEFILL_DRAFT_DELAY_MS: '20000' });
    const before = await account(proxy.url);
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    const story = frame('Story', 1080, 1920, '1:11');
    await page.evaluate((targets) => window.host.select(targets), [HERO, story]);
    await panel.getByText('2 frames: 16:9, 9:16').waitFor();
    await panel.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: /^1K/ }).check();
    await panel.getByLabel('Prompt').fill('Two sizes of one campaign');
    const generate = panel.getByRole('button', { name: /^Generate/ });
    expect(await generate.textContent()).toBe('Generate · 12 credits');
    await generate.click();
    await expect.poll(() => panel.getByRole('progressbar').count()).toBe(2);
    await expect.poll(async () => (await account(proxy.url)).jobs_in_flight).toBe(2);

    await panel.getByRole('button', { name: 'Cancel all' }).click();
    await expect.poll(() => panel.getByText(/^Canceled — /).count()).toBe(2);
    expect((await account(proxy.url)).jobs_in_flight).toBe(0);
    // Each card says what the proxy did with its credits: returned before the image service started, else charged.
    const returned = before.balance_credits - (await account(proxy.url)).balance_credits === 0;
    for (const text of await panel.getByText(/^Canceled — /).allTextContents()) {
      if (returned) expect(text).toBe('Canceled — 6 credits returned.');
      else expect(text).toMatch(/^Canceled — (6 credits returned|the image service had started: 6 credits charged)\.$/);
    }
    expect(await placed(page)).toEqual([]);
    // Finished jobs leave the strip together.
    await panel.getByRole('button', { name: 'Clear finished' }).click();
    await expect.poll(() => panel.getByRole('progressbar').count()).toBe(0);
  });

  it('resumes a job after the panel is closed and reopened mid-job, and places it exactly once', async () => {
    const proxy = await session.startProxy({ FRAMEFILL_DRAFT_DELAY_MS: '4000' });
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    await page.evaluate((hero) => window.host.select([hero]), HERO);
    await panel.getByLabel('Prompt').fill('Mountains in fog');
    await panel.getByRole('button', { name: /^Generate/ }).click();
    await expect.poll(async () => (await storage(page)).pendingJobs.length).toBe(1);
    const [pending] = (await storage(page)).pendingJobs;

    // Closing the plugin tears the panel down; the job keeps running on the proxy.
    await page.evaluate(() => window.host.close());
    const job = (await (await api(`${proxy.url}/v1/generations/${pending?.jobId}`)).json()) as { status: string };
    expect(['queued', 'running']).toContain(job.status);

    await page.evaluate(() => window.host.open());
    const reopened = page.frameLocator('iframe');
    await reopened.getByText('Placed in Hero.').waitFor({ timeout: 30_000 });
    expect((await placed(page)).map((p) => p.provenance.jobId)).toEqual([pending?.jobId]);
    await expect.poll(async () => (await storage(page)).pendingJobs).toEqual([]);

    // A second reopen finds nothing pending, and places nothing again.
    await page.evaluate(() => window.host.open());
    await page.frameLocator('iframe').getByText('Balance:').waitFor();
    expect(await placed(page)).toHaveLength(1);
  });

  it('keeps a result whose placement failed, and places it in a new frame on request', async () => {
    const proxy = await session.startProxy();
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    await page.evaluate((hero) => {
      window.host.failTargets = [hero.id];
      window.host.select([hero]);
    }, HERO);
    await panel.getByLabel('Prompt').fill('A bowl of lemons');
    await panel.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: /^1K/ }).check();
    await panel.getByRole('button', { name: /^Generate/ }).click();
    await panel.getByText('Generated, but could not be placed.').waitFor({ timeout: 30_000 });
    expect(await panel.getByRole('alert').filter({ hasText: 'The target is locked' }).count()).toBe(1);
    expect(await panel.getByRole('link', { name: 'Download' }).getAttribute('download')).toBe(
      'a-bowl-of-lemons-1280x720.jpg',
    );
    expect(await placed(page)).toEqual([]);

    await panel.getByRole('button', { name: 'Place in a new frame' }).click();
    await panel.getByText('Placed in a new frame.').waitFor();
    const [image] = await placed(page);
    expect(image).toMatchObject({ targetId: null, width: 1280, height: 720 });
  });

  it('says how to start the proxy when it is not running', async () => {
    const proxy = await session.startProxy();
    const { page, panel } = await openPanel({ proxyUrl: proxy.url });
    await page.evaluate((hero) => window.host.select([hero]), HERO);
    await session.closeProxy();

    await panel.getByLabel('Prompt').fill('A lighthouse');
    await panel.getByRole('button', { name: /^Generate/ }).click();
    const alert = panel.getByRole('alert').filter({ hasText: 'Cannot reach the Framefill proxy' }).first();
    await alert.waitFor({ timeout: 30_000 });
    const text = (await alert.textContent()) ?? '';
    expect(text).toContain('npm start');
    expect(text).toContain('local network access');
    expect(await placed(page)).toEqual([]);
  });

  it("follows Figma's dark theme", async () => {
    const proxy = await session.startProxy({ FRAMEFILL_DRAFT_DELAY_MS: '10000' });
    const { page, panel } = await openPanel({ proxyUrl: proxy.url, theme: 'dark' });
    await pinReferencesAndTarget(page, panel);
    await expect.poll(() => panel.locator('.ff-thumb img').count()).toBe(3);
    const background = await panel.locator('body').evaluate((body) => getComputedStyle(body).backgroundColor);
    expect(background).toBe('rgb(44, 44, 44)');
    await panel.getByLabel('Prompt').fill('A red bicycle leaning on a sunlit wall, golden hour, film grain');
    await panel.getByRole('button', { name: /^Generate/ }).click();
    await panel.getByRole('img', { name: /^Partial preview of Hero/ }).waitFor({ timeout: 30_000 });
    await saveScreenshot(page.locator('iframe'), 'panel-dark.png');
  });
});
