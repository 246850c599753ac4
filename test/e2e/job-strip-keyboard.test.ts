// The job strip from the keyboard, in the playground (the built plugin in Chromium): Cancel and Dismiss go away with
// what they act on, and the focus stays in the strip (then on the prompt) rather than falling to the page, where the
// next Tab would start again from the top.
import type { FrameLocator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { usePlayground } from './helpers/playground';

const playground = usePlayground();

/** The accessible name of the panel's focused element, or what has the focus when it has none. */
const focusedName = (panel: FrameLocator) =>
  panel.locator('body').evaluate((body) => {
    const active = body.ownerDocument.activeElement;
    if (!active || active === body) return '(page)';
    return active.getAttribute('aria-label') ?? active.id ?? active.tagName;
  });

describe('the job strip from the keyboard', () => {
  it('Cancel pressed with Enter leaves the focus on the canceled job’s Dismiss; Dismiss then leaves it on the prompt', async () => {
    const { page, panel, errors } = await playground.openPlayground({ env: { FRAMEFILL_DRAFT_DELAY_MS: '20000' } });
    await page.getByRole('button', { name: 'Hero 1920×1080', exact: true }).click();
    await panel.getByText('1 frame: 16:9').waitFor();
    await panel.getByRole('textbox', { name: 'Prompt', exact: true }).fill('A lighthouse on a cliff at dusk');
    await panel.getByRole('button', { name: /^Generate/ }).click();

    const cancel = panel.getByRole('button', { name: /^Cancel — / });
    await cancel.focus();
    await page.keyboard.press('Enter');
    await panel.getByText(/^Canceled — /).waitFor();
    await expect.poll(() => focusedName(panel)).toBe('Dismiss Hero · 16:9 1K');

    await page.keyboard.press('Enter');
    await expect.poll(() => panel.getByRole('progressbar').count()).toBe(0);
    await expect.poll(() => focusedName(panel)).toBe('ff-prompt');
    expect(errors).toEqual([]);
  });
});
