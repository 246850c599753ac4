// The playground's chrome around the built plugin: Figma's light and dark themes (following the system
// until the toggle is used) given to the panel as Figma gives them, and a plugin iframe that can download.
import type { Frame, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { usePlayground } from './helpers/playground';

const playground = usePlayground();

function openPlayground(colorScheme: 'light' | 'dark') {
  return playground.openPlayground({
    env: { FRAMEFILL_DRAFT_DELAY_MS: '100' },
    context: { viewport: { width: 1600, height: 1000 }, colorScheme, acceptDownloads: true },
  });
}

function panelFrame(page: Page): Frame {
  const frame = page.frames().find((f) => f !== page.mainFrame());
  if (!frame) throw new Error('no panel iframe');
  return frame;
}

const panelTheme = (page: Page) =>
  panelFrame(page).evaluate(() => ({
    theme: document.documentElement.className,
    background: getComputedStyle(document.documentElement).getPropertyValue('--figma-color-bg').trim(),
  }));

describe('the playground chrome', () => {
  it('gives the panel the system’s dark theme, and the toggle switches page and panel to light in place', async () => {
    const { page, panel, errors } = await openPlayground('dark');
    const dark = await panelTheme(page);
    expect(dark.theme).toBe('figma-dark');
    expect(dark.background).not.toBe('');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    const toggle = page.getByRole('button', { name: 'Dark theme' });
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');

    await panel.getByLabel('Prompt').fill('kept across the theme change');
    await toggle.click();
    await expect.poll(async () => (await panelTheme(page)).theme).toBe('figma-light');
    const light = await panelTheme(page);
    expect(light.background).not.toBe(dark.background);
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
    // In place, as Figma does it: the panel was not reloaded.
    expect(await panel.getByLabel('Prompt').inputValue()).toBe('kept across the theme change');
    expect(errors).toEqual([]);
  });

  it('follows a light system theme', async () => {
    const { page } = await openPlayground('light');
    expect((await panelTheme(page)).theme).toBe('figma-light');
    expect(await page.getByRole('button', { name: 'Light theme' }).getAttribute('aria-pressed')).toBe('false');
  });

  it('lets the panel download the original image, as Figma’s plugin iframe does', async () => {
    const { page, panel, errors } = await openPlayground('light');
    expect(await page.locator('#plugin-body iframe').getAttribute('sandbox')).toBe('allow-scripts allow-downloads');
    await panel.getByLabel('Prompt').fill('A lighthouse at dusk');
    await panel.getByRole('button', { name: 'Generate · 6 credits' }).click();
    const link = panel.getByRole('link', { name: 'Download original' });
    await link.waitFor({ timeout: 30_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toMatch(/\.jpg$/);
    expect(await download.failure()).toBeNull();
    expect(errors).toEqual([]);
  });
});
