// The proxy restarted under a connected panel (Chromium, the panel helper's host page, reused): the panel
// reconnects and reports the outcome; a job that completed across the restart is placed exactly once.
// Closing the panel mid-job and a failed placement are proven in test/e2e/panel.test.ts ("resumes a job after the
// panel is closed and reopened mid-job…", "keeps a result whose placement failed…"), so they are not repeated here.
import type { BrowserContext, FrameLocator, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_ADVICE } from '../../core/api';
import { DEFAULT_SETTINGS, type Target } from '../../core/messages';
import { pickRatio, suggestTier } from '../../core/pick';
import { usePanelHostInChromium } from '../e2e/helpers/panel-host';
import { api, spawnProxy, startTestProxy, type TestProxy, tempDataDir, tokenFor } from '../helpers/proxy';

const chromium = usePanelHostInChromium();
let context: BrowserContext | undefined;
const proxies: TestProxy[] = [];

afterEach(async () => {
  await context?.close();
  context = undefined;
  for (const proxy of proxies.splice(0)) await proxy.close(0);
});

const { ratio, cropFraction } = pickRatio(1280, 720);
const HERO: Target = {
  id: '1:10',
  name: 'Hero',
  width: 1280,
  height: 720,
  ratio,
  cropFraction,
  suggestedTier: suggestTier(1280, 720, ratio),
};

async function start(env: Record<string, string>): Promise<TestProxy> {
  const proxy = await startTestProxy(env);
  proxies.push(proxy);
  return proxy;
}

async function openPanel(proxyUrl: string): Promise<{ page: Page; panel: FrameLocator }> {
  context = await chromium.browser.newContext({ viewport: { width: 400, height: 1000 } });
  const page = await context.newPage();
  await page.goto(chromium.host.url);
  await page.evaluate(
    ({ settings }) => {
      window.host.storage.settings = settings;
      window.host.open();
    },
    // The panel talks to localhost; the test proxies are known by 127.0.0.1, with the same local token.
    {
      settings: {
        ...DEFAULT_SETTINGS,
        proxyUrl,
        token: tokenFor(proxyUrl.replace('//localhost:', '//127.0.0.1:')) ?? '',
      },
    },
  );
  const panel = page.frameLocator('iframe');
  await panel.getByText('Balance:').waitFor();
  return { page, panel };
}

async function generate(page: Page, panel: FrameLocator, prompt: string): Promise<string> {
  await page.evaluate((hero) => window.host.select([hero]), HERO);
  await panel.getByLabel('Prompt').fill(prompt);
  await panel.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: /^1K/ }).check();
  await panel.getByRole('button', { name: /^Generate/ }).click();
  await expect.poll(async () => (await page.evaluate(() => window.host.storage)).pendingJobs.length).toBe(1);
  return (await page.evaluate(() => window.host.storage)).pendingJobs[0]!.jobId;
}

async function waitForStatus(url: string, id: string, status: string): Promise<void> {
  await expect
    .poll(async () => ((await (await api(`${url}/v1/generations/${id}`)).json()) as { status: string }).status, {
      timeout: 20_000,
    })
    .toBe(status);
}

describe('the proxy restarted under a connected panel', () => {
  it('after a crash, the panel reconnects to the restarted proxy and reports the interrupted job; credits back, nothing placed', async () => {
    const dataDir = tempDataDir();
    const first = await spawnProxy({ FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_DRAFT_DELAY_MS: '60000' });
    try {
      const { page, panel } = await openPanel(`http://localhost:${first.port}`);
      const jobId = await generate(page, panel, 'A lighthouse in a storm');
      await waitForStatus(first.url, jobId, 'running');

      // A crash: the event stream drops with no outcome, and the panel says the job is offline, not failed.
      await first.stop('SIGKILL');
      await panel.getByText('Offline — will resume').waitFor({ timeout: 20_000 });
      const second = await spawnProxy({ FRAMEFILL_DATA_DIR: dataDir, PORT: String(first.port) });
      try {
        // Said once: the proxy restarted and the credits came back.
        await panel.getByText(ERROR_ADVICE.interrupted).waitFor({ timeout: 30_000 });
        expect(await panel.getByText(ERROR_ADVICE.interrupted).count()).toBe(1);
        expect(await panel.getByText('Failed.').count()).toBe(0);
        expect(await page.evaluate(() => window.host.placed)).toEqual([]);
        await expect.poll(async () => (await page.evaluate(() => window.host.storage)).pendingJobs).toEqual([]);
        const account = await (await api(`${second.url}/v1/account`)).json();
        expect(account).toMatchObject({ spent_credits: 0, jobs_in_flight: 0 });
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop('SIGKILL');
    }
  });

  it('a job that finished while the proxy stopped gracefully is placed exactly once after the restart', async () => {
    const dataDir = tempDataDir();
    const first = await start({ FRAMEFILL_DATA_DIR: dataDir, FRAMEFILL_DRAFT_DELAY_MS: '1500' });
    const { page, panel } = await openPanel(`http://localhost:${first.port}`);
    const jobId = await generate(page, panel, 'Dunes at noon');
    await waitForStatus(first.url, jobId, 'running');
    // The panel closes; the graceful stop lets the running job finish, then keeps its image for the panel until the
    // grace period ends (nobody fetches it here).
    await page.evaluate(() => window.host.close());
    await first.close(5_000);

    const second = await start({ FRAMEFILL_DATA_DIR: dataDir, PORT: String(first.port) });
    await waitForStatus(second.url, jobId, 'completed');
    await page.evaluate(() => window.host.open());
    const reopened = page.frameLocator('iframe');
    await reopened.getByText('Placed in Hero.').waitFor({ timeout: 30_000 });
    expect((await page.evaluate(() => window.host.placed)).map((p) => p.provenance.jobId)).toEqual([jobId]);
    await expect.poll(async () => (await page.evaluate(() => window.host.storage)).pendingJobs).toEqual([]);
    // Reopening again places nothing twice.
    await page.evaluate(() => window.host.open());
    await page.frameLocator('iframe').getByText('Balance:').waitFor();
    expect(await page.evaluate(() => window.host.placed)).toHaveLength(1);
  });
});
