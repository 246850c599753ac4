// Variations in the playground, the built plugin on the Figma stand-in: three variations into one frame, the first
// placed, the second swapped in, one undo (⌘Z on the canvas) bringing the first back and the strip following it,
// three images charged.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ProvenanceSchema } from '../../core/messages';
import { priceOf } from '../../core/pricing';
import type { NodeView } from '../../playground/protocol';
import { api } from '../helpers/proxy';
import { saveScreenshot } from './helpers/chromium';
import { usePlayground } from './helpers/playground';

const playground = usePlayground();

async function spent(): Promise<number> {
  return ((await (await api(`${playground.proxy?.url}/v1/account`)).json()) as { spent_credits: number }).spent_credits;
}

async function hero(page: Page): Promise<NodeView> {
  const node = (await page.evaluate(() => window.playground.snapshot().nodes)).find((n) => n.name === 'Hero');
  if (!node) throw new Error('no Hero');
  return node;
}

/** The bytes behind the Hero's image fill and its provenance. */
async function heroImage(page: Page): Promise<{ bytes: Buffer; variation: number | undefined; jobId: string }> {
  const node = await hero(page);
  const paint = node.fills[0];
  const hash = paint?.type === 'IMAGE' ? (paint.imageHash ?? '') : '';
  const bytes = await page.evaluate((h) => Array.from(window.playground.imageBytes(h) ?? []), hash);
  const provenance = ProvenanceSchema.parse(JSON.parse(node.pluginData.framefill ?? 'null'));
  return { bytes: Buffer.from(bytes), variation: provenance.variation, jobId: provenance.jobId };
}

async function proxyImage(jobId: string, index: number): Promise<Buffer> {
  const response = await api(`${playground.proxy?.url}/v1/generations/${jobId}/image?index=${index}`);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

describe('variations in the playground', () => {
  it('three variations into one frame: three thumbnails, the first placed, the second swapped in as one undo step', async () => {
    const { page, panel, errors } = await playground.openPlayground({ env: { FRAMEFILL_DRAFT_DELAY_MS: '200' } });
    const before = await spent();
    await page.getByRole('button', { name: 'Hero 1920×1080', exact: true }).click();
    await panel.getByText('1 frame: 16:9').waitFor();
    await panel.getByLabel('Prompt').fill('A lighthouse on a cliff at dusk, three takes');
    await panel.getByRole('radiogroup', { name: 'Variations' }).getByRole('radio', { name: '3' }).check();
    const generate = panel.getByRole('button', { name: /^Generate/ });
    const price = priceOf('1K');
    expect(await generate.textContent()).toBe(`Generate · ${3 * price} credits`);
    await generate.click();

    const strip = panel.getByRole('list', { name: /^Variations of Hero/ });
    const thumbs = strip.getByRole('button', { name: /^Variation \d of 3$/ });
    await expect.poll(() => thumbs.count(), { timeout: 30_000 }).toBe(3);
    await expect
      .poll(() => strip.getByRole('button', { name: 'Variation 1 of 3' }).getAttribute('aria-pressed'))
      .toBe('true');
    const first = await heroImage(page);
    expect(first.bytes.equals(await proxyImage(first.jobId, 0))).toBe(true);
    const second = await proxyImage(first.jobId, 1);
    expect(second.equals(first.bytes)).toBe(false);
    // Each variation stays downloadable from the strip.
    expect(await strip.getByRole('link', { name: /^Download variation/ }).count()).toBe(3);

    await strip.getByRole('button', { name: 'Variation 2 of 3' }).click();
    await expect
      .poll(() => strip.getByRole('button', { name: 'Variation 2 of 3' }).getAttribute('aria-pressed'))
      .toBe('true');
    const swapped = await heroImage(page);
    expect(swapped.bytes.equals(second)).toBe(true);
    expect(swapped.variation).toBe(1);
    await saveScreenshot(page, 'variations.png');
    // Keyboard focus on the strip is visible beside the pressed thumbnail's border (same colour, so a ring outside).
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const third = strip.getByRole('button', { name: 'Variation 3 of 3' });
    expect(await third.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await third.evaluate((el) => getComputedStyle(el).outlineStyle)).toBe('solid');

    // One undo: the first variation is back in the frame, with its own provenance.
    // Focus on the canvas (a frame's button), not in the panel: ⌘Z there is the document's undo.
    await page.getByRole('button', { name: 'Hero 1920×1080', exact: true }).focus();
    await page.keyboard.press('Control+z');
    await expect.poll(async () => (await heroImage(page)).bytes.equals(first.bytes)).toBe(true);
    expect((await heroImage(page)).variation).toBeUndefined();
    // The strip follows the canvas: the first is marked again, and the second can be swapped back in.
    await expect
      .poll(() => strip.getByRole('button', { name: 'Variation 1 of 3' }).getAttribute('aria-pressed'))
      .toBe('true');
    await strip.getByRole('button', { name: 'Variation 2 of 3' }).click();
    await expect.poll(async () => (await heroImage(page)).bytes.equals(second)).toBe(true);
    await page.getByRole('button', { name: 'Hero 1920×1080', exact: true }).focus();
    await page.keyboard.press('Control+z');
    await expect.poll(async () => (await heroImage(page)).bytes.equals(first.bytes)).toBe(true);

    expect((await spent()) - before).toBe(3 * price);

    // History lists the job with a thumbnail per variation; the one chosen is what Place puts in the frame.
    await panel.getByText('History', { exact: true }).click();
    const entry = panel.getByRole('list', { name: 'Past jobs' }).getByRole('listitem');
    await expect.poll(() => entry.count()).toBe(1);
    expect(await entry.textContent()).toContain(`16:9 · 1K · ${3 * price} credits · completed`);
    await expect.poll(() => entry.locator('img[src^="blob:"]').count()).toBe(3);
    // The designer clicks the second thumbnail; its (visually hidden) radio is what is chosen.
    await entry.locator('.ff-history-variation').nth(1).click();
    expect(await entry.getByRole('radio', { name: 'Variation 2 of 3' }).isChecked()).toBe(true);
    // The arrow keys move the choice too, as in any group of radios.
    await entry.getByRole('radio', { name: 'Variation 2 of 3' }).focus();
    await page.keyboard.press('ArrowRight');
    expect(await entry.getByRole('radio', { name: 'Variation 3 of 3' }).isChecked()).toBe(true);
    await page.keyboard.press('ArrowLeft');
    expect(await entry.getByRole('radio', { name: 'Variation 2 of 3' }).isChecked()).toBe(true);
    await entry.getByRole('button', { name: /^Reuse/ }).scrollIntoViewIfNeeded();
    await saveScreenshot(page.locator('#plugin-window'), 'history.png');
    await entry.getByRole('button', { name: /^Place in Hero \(variation 2 of 3\)/ }).click();
    await expect.poll(async () => (await heroImage(page)).bytes.equals(second)).toBe(true);
    expect((await heroImage(page)).variation).toBe(1);
    expect((await spent()) - before).toBe(3 * price);
    expect(errors).toEqual([]);
  });
});
