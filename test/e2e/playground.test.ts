import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { type Provenance, ProvenanceSchema } from '../../core/messages';
import { pickRatio } from '../../core/pick';
import type { NodeView } from '../../playground/protocol';
import { imageInfo } from '../helpers/images';
import { api } from '../helpers/proxy';
import { saveScreenshot } from './helpers/chromium';
import { usePlayground } from './helpers/playground';

const playground = usePlayground();

const frame = (page: Page, label: string) => page.getByRole('button', { name: label, exact: true });

async function account(): Promise<{ spent_credits: number; balance_credits: number }> {
  const response = await api(`${playground.proxy?.url}/v1/account`);
  return (await response.json()) as { spent_credits: number; balance_credits: number };
}

async function nodes(page: Page): Promise<NodeView[]> {
  return page.evaluate(() => window.playground.snapshot().nodes);
}

async function nodeNamed(page: Page, name: string): Promise<NodeView> {
  const node = (await nodes(page)).find((n) => n.name === name);
  if (!node) throw new Error(`no node named ${name}`);
  return node;
}

/** The image a node's fill holds, as the page has it, with its provenance. */
async function placedImage(page: Page, node: NodeView): Promise<{ bytes: Buffer; provenance: Provenance }> {
  const paint = node.fills[0];
  expect(node.fills).toHaveLength(1);
  expect(paint).toMatchObject({ type: 'IMAGE', scaleMode: 'FILL' });
  const hash = paint?.type === 'IMAGE' ? paint.imageHash : null;
  const bytes = await page.evaluate((h) => Array.from(window.playground.imageBytes(h ?? '') ?? []), hash);
  const provenance = ProvenanceSchema.parse(JSON.parse(node.pluginData.framefill ?? 'null'));
  return { bytes: Buffer.from(bytes), provenance };
}

async function proxyImage(jobId: string): Promise<Buffer> {
  const response = await api(`${playground.proxy?.url}/v1/generations/${jobId}/image`);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

interface Pixels {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** What the canvas shows inside a frame's rectangle, read back from the <canvas>. */
async function canvasPixels(page: Page, label: string): Promise<Pixels> {
  const read = await page.evaluate((name) => {
    const rect = window.playground.frameRect(name);
    const canvas = document.querySelector('canvas');
    const ctx = canvas?.getContext('2d');
    if (!rect || !canvas || !ctx) throw new Error(`no frame ${name} on the canvas`);
    const box = canvas.getBoundingClientRect();
    const x = Math.round(rect.left - box.left);
    const y = Math.round(rect.top - box.top);
    const width = Math.round(rect.width);
    const height = Math.round(rect.height);
    return { width, height, rgba: Array.from(ctx.getImageData(x, y, width, height).data) };
  }, label);
  const rgb = new Uint8Array(read.width * read.height * 3);
  for (let i = 0, j = 0; i < read.rgba.length; i += 4, j += 3) {
    rgb[j] = read.rgba[i] as number;
    rgb[j + 1] = read.rgba[i + 1] as number;
    rgb[j + 2] = read.rgba[i + 2] as number;
  }
  return { width: read.width, height: read.height, rgb };
}

/** The image as Figma's FILL shows it in a box of that size (cover, centred), or stretched to it. */
async function rendered(bytes: Buffer, width: number, height: number, fit: 'cover' | 'fill'): Promise<Pixels> {
  const rgb = await sharp(bytes).resize(width, height, { fit, position: 'centre' }).removeAlpha().raw().toBuffer();
  return { width, height, rgb: new Uint8Array(rgb) };
}

/**
 * How far apart two renderings of one box are: the mean over an 8×8 grid of cells of each cell's average
 * colour difference, 0…255. Cells (inset past the selection outline) absorb a pixel of misalignment.
 */
function difference(a: Pixels, b: Pixels): number {
  const inset = 4;
  const grid = 8;
  const cell = (p: Pixels, gx: number, gy: number) => {
    const x0 = inset + Math.floor(((p.width - 2 * inset) * gx) / grid);
    const x1 = inset + Math.floor(((p.width - 2 * inset) * (gx + 1)) / grid);
    const y0 = inset + Math.floor(((p.height - 2 * inset) * gy) / grid);
    const y1 = inset + Math.floor(((p.height - 2 * inset) * (gy + 1)) / grid);
    const sum = [0, 0, 0];
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++)
        for (let c = 0; c < 3; c++) (sum[c] as number) += p.rgb[(y * p.width + x) * 3 + c] as number;
    const n = Math.max(1, (x1 - x0) * (y1 - y0));
    return sum.map((s) => s / n);
  };
  let total = 0;
  for (let gy = 0; gy < grid; gy++)
    for (let gx = 0; gx < grid; gx++) {
      const ca = cell(a, gx, gy);
      const cb = cell(b, gx, gy);
      total += (Math.abs(ca[0]! - cb[0]!) + Math.abs(ca[1]! - cb[1]!) + Math.abs(ca[2]! - cb[2]!)) / 3;
    }
  return total / (grid * grid);
}

/** Drawn and expected differ by under 1 (of 255) where they agree; a stretched 16:9 banner is off by about 7. */
const TOLERANCE = 2;

/** The canvas shows `bytes` in the frame with FILL scaling; `stretched` says how far a stretch would be. */
async function expectFrameShows(page: Page, label: string, bytes: Buffer) {
  const shown = await canvasPixels(page, label);
  expect(shown.width).toBeGreaterThan(60);
  const cover = difference(shown, await rendered(bytes, shown.width, shown.height, 'cover'));
  const stretched = difference(shown, await rendered(bytes, shown.width, shown.height, 'fill'));
  expect(cover).toBeLessThan(TOLERANCE);
  return { cover, stretched };
}

describe('the playground runs the built plugin end to end', () => {
  it('fills the 9:16 story and the 1:1 post at 2K from three pinned mood boards, charging 16 credits', async () => {
    const { page, panel, errors } = await playground.openPlayground({ env: { FRAMEFILL_DRAFT_DELAY_MS: '200' } });
    const before = await account();

    // Pin three mood boards: click, shift-click, and Shift+Space from the keyboard.
    await frame(page, 'Mood Dusk 800×800').click();
    await frame(page, 'Mood Citrus 800×800').click({ modifiers: ['Shift'] });
    await frame(page, 'Mood Sea 800×800').focus();
    await page.keyboard.press('Shift+Space');
    for (const mood of ['Mood Dusk', 'Mood Citrus', 'Mood Sea']) {
      await expect.poll(() => frame(page, `${mood} 800×800`).getAttribute('aria-pressed')).toBe('true');
    }
    await panel.getByRole('button', { name: 'Add selection as references' }).click();
    const references = panel.getByRole('list', { name: 'References' }).getByRole('listitem');
    await expect.poll(() => references.count()).toBe(3);

    // The targets: the story and the post.
    await frame(page, 'Story 1080×1920').click();
    await frame(page, 'Post 1080×1080').click({ modifiers: ['Shift'] });
    await panel.getByText('2 frames: 9:16, 1:1').waitFor();
    expect(await frame(page, 'Mood Dusk 800×800').getAttribute('aria-pressed')).toBe('false');

    const brief = 'Spring launch: a ceramic cup on a sunlit table, warm dusk palette';
    await panel.getByLabel('Prompt').fill(brief);
    await panel.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: /^2K/ }).check();
    const generate = panel.getByRole('button', { name: /^Generate/ });
    expect(await generate.textContent()).toBe('Generate · 16 credits');
    await generate.click();

    await page.locator('button.frame[data-fill="image"]').nth(1).waitFor({ timeout: 30_000 });
    const story = await nodeNamed(page, 'Story');
    const post = await nodeNamed(page, 'Post');
    const moodIds = await Promise.all(
      ['Mood Dusk', 'Mood Citrus', 'Mood Sea'].map(async (n) => (await nodeNamed(page, n)).id),
    );
    const jobs = new Set<string>();
    for (const [node, size] of [
      [story, { width: 1440, height: 2560 }],
      [post, { width: 2048, height: 2048 }],
    ] as const) {
      const { bytes, provenance } = await placedImage(page, node);
      expect(await imageInfo(bytes)).toMatchObject({ format: 'jpeg', ...size });
      expect(provenance).toMatchObject({ prompt: brief, resolution: '2K', referenceIds: moodIds });
      // The fill holds exactly the draft the proxy made for this frame's job.
      expect(bytes.equals(await proxyImage(provenance.jobId))).toBe(true);
      jobs.add(provenance.jobId);
      expect(node.relaunch).toHaveProperty('regenerate');
      await expectFrameShows(page, `${node.name} ${node.width}×${node.height}`, bytes);
    }
    expect(jobs.size).toBe(2);
    // The untouched hero still shows its white fill, not an image.
    const hero = await canvasPixels(page, 'Hero 1920×1080');
    const white = { ...hero, rgb: new Uint8Array(hero.rgb.length).fill(255) };
    expect(difference(hero, white)).toBeLessThan(TOLERANCE);

    const after = await account();
    expect(after.spent_credits - before.spent_credits).toBe(16);
    expect(before.balance_credits - after.balance_credits).toBe(16);
    await frame(page, 'Story 1080×1920').getByText('Story').waitFor();
    await page.getByRole('button', { name: 'Regenerate Post 1080×1080' }).waitFor();
    expect(errors).toEqual([]);

    await saveScreenshot(page, 'playground.png');
  });

  it('makes a new frame holding the image when nothing is selected, and Regenerate on it pre-fills the prompt', async () => {
    const { page, panel, errors } = await playground.openPlayground({ env: { FRAMEFILL_DRAFT_DELAY_MS: '200' } });
    const count = (await nodes(page)).length;
    await panel.getByText('No frame selected: a new 1:1 frame is made.').waitFor();
    const prompt = 'A paper kite over a quiet harbour';
    await panel.getByLabel('Prompt').fill(prompt);
    await panel.getByRole('button', { name: 'Generate · 6 credits' }).click();

    await expect.poll(async () => (await nodes(page)).length, { timeout: 30_000 }).toBe(count + 1);
    const created = (await nodes(page)).at(-1) as NodeView;
    // 1K 1:1 is 1024×1024 pixels; the frame is that ÷ the density of 2.
    expect(created).toMatchObject({ type: 'FRAME', width: 512, height: 512 });
    const label = `${created.name} 512×512`;
    await page.locator(`button.frame[data-fill="image"][data-node-id="${created.id}"]`).waitFor();
    expect(await frame(page, label).getAttribute('aria-pressed')).toBe('true');
    const { bytes, provenance } = await placedImage(page, created);
    expect(await imageInfo(bytes)).toMatchObject({ width: 1024, height: 1024 });
    expect(bytes.equals(await proxyImage(provenance.jobId))).toBe(true);
    await expectFrameShows(page, label, bytes);

    // Select something else, then relaunch from the new frame: the plugin restarts with that frame selected.
    // (Placing scrolled the canvas to the new frame, as Figma does; zoom out to see the rest again.)
    await page.getByRole('button', { name: 'Zoom to fit' }).click();
    await frame(page, 'Hero 1920×1080').click();
    await panel.getByText('1 frame: 16:9').waitFor();
    await page.getByRole('button', { name: `Regenerate ${label}` }).click();
    const relaunched = page.frameLocator('#plugin-body iframe');
    await expect.poll(() => relaunched.getByLabel('Prompt').inputValue(), { timeout: 15_000 }).toBe(prompt);
    expect(
      await relaunched
        .getByRole('radiogroup', { name: 'Aspect ratio' })
        .getByRole('radio', { name: '1:1' })
        .isChecked(),
    ).toBe(true);
    await expect.poll(() => frame(page, label).getAttribute('aria-pressed')).toBe('true');
    expect(await frame(page, 'Hero 1920×1080').getAttribute('aria-pressed')).toBe('false');
    await relaunched.getByText('1 frame: 1:1').waitFor();
    expect(errors).toEqual([]);
  });

  it('picks 16:9 for the 3:1 banner, shows the crop in the panel and draws the image cropped to cover', async () => {
    const { page, panel } = await playground.openPlayground({ env: { FRAMEFILL_DRAFT_DELAY_MS: '200' } });
    const { ratio, cropFraction } = pickRatio(3000, 1000);
    expect(ratio).toBe('16:9');

    // Keyboard only: Tab from the editorial to the banner, Enter selects it.
    await frame(page, 'Editorial 3:4 1200×1600').focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Banner 3000×1000');
    await page.keyboard.press('Enter');
    await panel.getByText(`Banner 3000×1000 → 16:9 (crops ${Math.round(cropFraction * 100)}%)`).waitFor();
    expect(Math.round(cropFraction * 100)).toBe(41);

    await panel.getByLabel('Prompt').fill('A long table of summer fruit, seen from above');
    await panel.getByRole('radiogroup', { name: 'Resolution' }).getByRole('radio', { name: /^1K/ }).check();
    await panel.getByRole('button', { name: 'Generate · 6 credits' }).click();
    await page.locator('button.frame[data-fill="image"]').waitFor({ timeout: 30_000 });

    const banner = await nodeNamed(page, 'Banner');
    const { bytes } = await placedImage(page, banner);
    expect(await imageInfo(bytes)).toMatchObject({ width: 1280, height: 720 });
    // FILL keeps the image's proportions and crops top and bottom; a stretch would look clearly different.
    const { cover, stretched } = await expectFrameShows(page, 'Banner 3000×1000', bytes);
    expect(cover).toBeLessThan(TOLERANCE);
    expect(stretched).toBeGreaterThan(TOLERANCE);
  });
});
