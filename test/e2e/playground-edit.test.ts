// Region edits and expansions in the playground, end to end in Chromium: the built plugin on the Figma stand-in,
// the panel in its iframe, the proxy on the draft provider. The placed result is checked pixel by pixel against
// the image it started from.
import type { FrameLocator, Page } from 'playwright-core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AccountSchema, ERROR_ADVICE } from '../../core/api';
import { MASK_FEATHER_PX } from '../../core/limits';
import { type Provenance, ProvenanceSchema } from '../../core/messages';
import type { NodeView } from '../../playground/protocol';
import { fitCentred } from '../../proxy/edits';
import { imageInfo } from '../helpers/images';
import { differing, type Ellipse, insideEllipse, near, rgb } from '../helpers/masks';
import { api } from '../helpers/proxy';
import { saveScreenshot } from './helpers/chromium';
import { usePlayground } from './helpers/playground';

const playground = usePlayground();

const frameButton = (page: Page, label: string) => page.getByRole('button', { name: label, exact: true });

async function nodeNamed(page: Page, name: string): Promise<NodeView> {
  const walk = (nodes: NodeView[]): NodeView | undefined => {
    for (const node of nodes) {
      if (node.name === name) return node;
      const hit = walk(node.children);
      if (hit) return hit;
    }
    return undefined;
  };
  const node = walk(await page.evaluate(() => window.playground.snapshot().nodes));
  if (!node) throw new Error(`no node named ${name}`);
  return node;
}

async function fillOf(page: Page, name: string): Promise<{ hash: string; bytes: Buffer; provenance: Provenance }> {
  const node = await nodeNamed(page, name);
  const paint = node.fills[0];
  if (node.fills.length !== 1 || paint?.type !== 'IMAGE' || !paint.imageHash) throw new Error(`${name} has no image`);
  const hash = paint.imageHash;
  await expect.poll(() => page.evaluate((h) => window.playground.imageBytes(h) !== undefined, hash)).toBe(true);
  const bytes = await page.evaluate((h) => Array.from(window.playground.imageBytes(h) ?? []), hash);
  const provenance = ProvenanceSchema.parse(JSON.parse(node.pluginData.framefill ?? 'null'));
  return { hash, bytes: Buffer.from(bytes), provenance };
}

/** Waits until the node's image fill is another than `hash`. */
async function newFill(page: Page, name: string, hash: string | undefined) {
  await expect
    .poll(
      async () => {
        const paint = (await nodeNamed(page, name)).fills[0];
        return paint?.type === 'IMAGE' ? paint.imageHash : undefined;
      },
      { timeout: 30_000 },
    )
    .not.toBe(hash);
  await expect.poll(async () => (await nodeNamed(page, name)).fills[0]?.type, { timeout: 30_000 }).toBe('IMAGE');
  return fillOf(page, name);
}

async function generateInto(page: Page, panel: FrameLocator, frame: string, ratio?: string) {
  await frameButton(page, frame).click();
  await panel.getByLabel('Prompt').fill('A quiet harbour at dawn, boats and gulls');
  if (ratio) await panel.getByRole('radiogroup', { name: 'Aspect ratio' }).getByRole('radio', { name: ratio }).check();
  await panel.getByRole('button', { name: /^Generate/ }).click();
  return newFill(page, frame.replace(/ \d+×\d+$/, ''), undefined);
}

describe('edit a region and expand to a new ratio in the playground', () => {
  it('an ellipse drawn over a generated image: Edit changes only the area under it (plus the feather)', async () => {
    const { page, panel, errors } = await playground.openPlayground({ env: { FRAMEFILL_DRAFT_DELAY_MS: '100' } });
    const before = await generateInto(page, panel, 'Hero 1920×1080');
    expect(await imageInfo(before.bytes)).toMatchObject({ width: 1280, height: 720 });

    // The designer draws an ellipse over the hero (frame coordinates) and keeps both selected.
    const hero = await nodeNamed(page, 'Hero');
    await page.evaluate((id) => window.playground.draw('ELLIPSE', id, 600, 300, 510, 330), hero.id);
    await panel.getByText('Edit the area under 1 shape in “Hero”.').waitFor();
    const mode = panel.getByRole('radiogroup', { name: 'Mode' });
    expect(await mode.getByRole('radio', { name: 'Edit' }).isChecked()).toBe(true);
    await panel.getByLabel('Prompt').fill('A red paper kite');
    const edit = panel.getByRole('button', { name: /^Edit · / });
    expect(await edit.textContent()).toBe('Edit · 6 credits');
    await edit.click();

    const after = await newFill(page, 'Hero', before.hash);
    await expect.poll(() => panel.getByText('Placed in Hero.').count()).toBe(2);
    await saveScreenshot(page, 'edit-region.png');
    expect(await imageInfo(after.bytes)).toMatchObject({ format: 'png', width: 1280, height: 720 });
    // Frame units → image pixels: FILL scales 1280×720 by 1.5 to cover 1920×1080, with no offset.
    const ellipse: Ellipse = { cx: (600 + 255) / 1.5, cy: (300 + 165) / 1.5, rx: 255 / 1.5, ry: 165 / 1.5 };
    const original = await rgb(before.bytes);
    const result = await rgb(after.bytes);
    const changed = differing(original, result);
    // Antialiasing of the mask's edge may reach one pixel further than the ellipse itself.
    const strays = changed.filter(
      ([x, y]) => !near((px, py) => insideEllipse(ellipse, px, py), x, y, MASK_FEATHER_PX + 1),
    );
    expect(strays).toEqual([]);
    expect(changed.length).toBeGreaterThan(Math.PI * ellipse.rx * ellipse.ry * 0.5);

    expect(after.provenance).toMatchObject({
      kind: 'edit',
      originalHash: before.hash,
      maskShapeIds: [(await nodeNamed(page, 'Ellipse')).id],
      costCredits: 6,
      resolution: '1K',
      aspectRatio: '16:9',
    });
    // The shape stays as drawn, over the new image.
    const ellipseNode = await nodeNamed(page, 'Ellipse');
    expect([ellipseNode.x, ellipseNode.y, ellipseNode.width, ellipseNode.height]).toEqual([600, 300, 510, 330]);

    // Regenerate repeats the same edit: from the original image, under the same shape.
    await page.getByRole('button', { name: 'Regenerate Hero 1920×1080' }).click();
    const relaunched = page.frameLocator('#plugin-body iframe');
    await expect.poll(() => relaunched.getByLabel('Prompt').inputValue(), { timeout: 15_000 }).toBe('A red paper kite');
    await relaunched.getByText('Edit the area under 1 shape in “Hero”.').waitFor();
    await relaunched.getByRole('button', { name: /^Edit · / }).click();
    const again = await newFill(page, 'Hero', after.hash);
    expect(again.provenance).toMatchObject({ kind: 'edit', originalHash: before.hash, maskShapeIds: [ellipseNode.id] });
    const redone = differing(original, await rgb(again.bytes));
    expect(
      redone.filter(([x, y]) => !near((px, py) => insideEllipse(ellipse, px, py), x, y, MASK_FEATHER_PX + 1)),
    ).toEqual([]);
    expect(redone.length).toBeGreaterThan(Math.PI * ellipse.rx * ellipse.ry * 0.5);
    expect(errors).toEqual([]);
  });

  it('a mask the proxy refuses shows its sentence and loses nothing: prompt, selection, image, credits', async () => {
    const { page, panel, errors } = await playground.openPlayground({ env: { FRAMEFILL_DRAFT_DELAY_MS: '100' } });
    const before = await generateInto(page, panel, 'Hero 1920×1080');
    const hero = await nodeNamed(page, 'Hero');
    await page.evaluate((id) => window.playground.draw('ELLIPSE', id, 600, 300, 510, 330), hero.id);
    await panel.getByText('Edit the area under 1 shape in “Hero”.').waitFor();
    const balance = panel.getByText(/^Balance: /);
    await expect.poll(() => balance.textContent()).toMatch(/^Balance: [\d,]+ credits$/);
    const balanceBefore = await balance.textContent();

    // A proxy that reads the mask otherwise than the panel (an older or stricter one) refuses it as the proxy
    // does; only the submission is answered here, everything else reaches the real proxy.
    const sentence = `The mask is 1280×719 px but the image it edits is 1280×720 px. ${ERROR_ADVICE.mask_size_mismatch}`;
    const submissions: string[] = [];
    await page.context().route(/\/v1\/generations$/, async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      submissions.push(route.request().postDataBuffer()?.toString('latin1') ?? '');
      await route.fulfill({
        status: 400,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'mask_size_mismatch', message: sentence, field: 'mask' } }),
      });
    });
    await panel.getByLabel('Prompt').fill('A red paper kite');
    await panel.getByRole('button', { name: /^Edit · / }).click();

    await panel.getByText(sentence).waitFor();
    expect(submissions).toHaveLength(1);
    expect(submissions[0]).toContain('name="mask"');
    await panel.getByText('Not sent: nothing was charged.').waitFor();
    // Nothing is lost: the prompt, the region edit on the same selection, the image, the balance.
    expect(await panel.getByLabel('Prompt').inputValue()).toBe('A red paper kite');
    await panel.getByText('Edit the area under 1 shape in “Hero”.').waitFor();
    expect(await panel.getByRole('button', { name: /^Edit · / }).isEnabled()).toBe(true);
    expect(await page.evaluate(() => window.playground.snapshot().selection)).toEqual(
      expect.arrayContaining([hero.id]),
    );
    expect((await fillOf(page, 'Hero')).hash).toBe(before.hash);
    await panel.getByText('Balance:').waitFor();
    expect(await balance.textContent()).toBe(balanceBefore);
    const account = AccountSchema.parse(await (await api(`${playground.proxy?.url}/v1/account`)).json());
    expect(account).toMatchObject({ jobs_in_flight: 0 });
    expect(`Balance: ${account.balance_credits.toLocaleString('en-US')} credits`).toBe(balanceBefore);
    expect(errors).toEqual([]);
  });

  it('a 16:9 image in a 9:16 frame: Expand keeps the original, fitted and centred, in the middle', async () => {
    const { page, panel, errors } = await playground.openPlayground({ env: { FRAMEFILL_DRAFT_DELAY_MS: '100' } });
    const before = await generateInto(page, panel, 'Story 1080×1920', '16:9');
    expect(await imageInfo(before.bytes)).toMatchObject({ width: 1280, height: 720 });

    const mode = panel.getByRole('radiogroup', { name: 'Mode' });
    await mode.getByRole('radio', { name: 'Expand' }).check();
    await panel.getByText("Expand the image of “Story” to the frame's ratio; the image itself is kept.").waitFor();
    await panel.getByLabel('Prompt').fill('The harbour continues above and below');
    const expand = panel.getByRole('button', { name: /^Expand · / });
    await expand.click();

    const after = await newFill(page, 'Story', before.hash);
    expect(await imageInfo(after.bytes)).toMatchObject({ format: 'png', width: 720, height: 1280 });
    expect(after.provenance).toMatchObject({ kind: 'expand', originalHash: before.hash, aspectRatio: '9:16' });
    const at = fitCentred({ width: 1280, height: 720 }, { width: 720, height: 1280 });
    const band = {
      left: at.left,
      top: at.top + MASK_FEATHER_PX,
      width: at.width,
      height: at.height - 2 * MASK_FEATHER_PX,
    };
    const middle = await sharp(after.bytes).removeAlpha().extract(band).raw().toBuffer();
    const fitted = await sharp(before.bytes)
      .removeAlpha()
      .resize(at.width, at.height, { fit: 'fill' })
      .png()
      .toBuffer();
    const expected = await sharp(fitted)
      .extract({ ...band, top: MASK_FEATHER_PX })
      .raw()
      .toBuffer();
    expect(middle.equals(expected)).toBe(true);
    // Above the original the draft painted its pattern: not the edge pixels repeated.
    const top = await rgb(
      await sharp(after.bytes).extract({ left: 0, top: 0, width: 720, height: 300 }).png().toBuffer(),
    );
    const edge = await rgb(await sharp(fitted).extract({ left: 0, top: 0, width: 720, height: 1 }).png().toBuffer());
    let differs = 0;
    for (let y = 0; y < 300; y++)
      for (let x = 0; x < 720; x++) if (top.data[(y * 720 + x) * 3] !== edge.data[x * 3]) differs++;
    expect(differs).toBeGreaterThan(720 * 300 * 0.3);

    // Regenerate expands the original again, though the frame's image now has the frame's ratio.
    await page.getByRole('button', { name: 'Regenerate Story 1080×1920' }).click();
    const relaunched = page.frameLocator('#plugin-body iframe');
    await relaunched.getByText("Expand the image of “Story” to the frame's ratio; the image itself is kept.").waitFor({
      timeout: 15_000,
    });
    await relaunched.getByRole('button', { name: /^Expand · / }).click();
    const again = await newFill(page, 'Story', after.hash);
    expect(again.provenance).toMatchObject({ kind: 'expand', originalHash: before.hash });
    const middleAgain = await sharp(again.bytes).removeAlpha().extract(band).raw().toBuffer();
    expect(middleAgain.equals(expected)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('one hero expanded into every selected frame of a campaign, each at its own ratio', async () => {
    const { page, panel, errors } = await playground.openPlayground({ env: { FRAMEFILL_DRAFT_DELAY_MS: '100' } });
    const hero = await generateInto(page, panel, 'Hero 1920×1080');
    await frameButton(page, 'Post 1080×1080').click({ modifiers: ['Shift'] });
    await frameButton(page, 'Editorial 3:4 1200×1600').click({ modifiers: ['Shift'] });
    await panel.getByRole('radiogroup', { name: 'Mode' }).getByRole('radio', { name: 'Expand' }).check();
    await panel.getByText("Expand “Hero” into “Post”, “Editorial 3:4”, each at its frame's ratio.").waitFor();
    const expand = panel.getByRole('button', { name: /^Expand · / });
    expect(await expand.textContent()).toBe('Expand · 12 credits');
    await expand.click();

    const fitted = (size: { width: number; height: number }) => fitCentred({ width: 1280, height: 720 }, size);
    for (const [name, size] of [
      ['Post', { width: 1024, height: 1024 }],
      ['Editorial 3:4', { width: 768, height: 1024 }],
    ] as const) {
      const placed = await newFill(page, name, undefined);
      expect(await imageInfo(placed.bytes), name).toMatchObject({ format: 'png', ...size });
      expect(placed.provenance, name).toMatchObject({ kind: 'expand', originalHash: hero.hash });
      const at = fitted(size);
      const band = {
        left: at.left,
        top: at.top + MASK_FEATHER_PX,
        width: at.width,
        height: at.height - 2 * MASK_FEATHER_PX,
      };
      const middle = await sharp(placed.bytes).removeAlpha().extract(band).raw().toBuffer();
      const scaled = await sharp(hero.bytes)
        .removeAlpha()
        .resize(at.width, at.height, { fit: 'fill' })
        .png()
        .toBuffer();
      const expected = await sharp(scaled)
        .extract({ ...band, top: MASK_FEATHER_PX })
        .raw()
        .toBuffer();
      expect(middle.equals(expected), name).toBe(true);
    }
    // The hero keeps its own image.
    expect((await fillOf(page, 'Hero')).hash).toBe(hero.hash);
    expect(errors).toEqual([]);
  });
});
