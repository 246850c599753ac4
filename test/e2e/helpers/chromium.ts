// Debian's Chromium driven by playwright-core, with the flags that keep it off the (closed) network; and
// the built plugin the browser tests load. Nothing here downloads a browser.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const SCREENSHOTS = path.join(ROOT, 'docs/screenshots');

export function buildPlugin(): void {
  execFileSync(process.execPath, ['build.mjs', '--no-typecheck', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}

/**
 * Saves a screenshot: into docs/screenshots (the README's pictures) when FRAMEFILL_SCREENSHOTS=1
 * (`npm run screenshots`), else into the git-ignored build/screenshots, so `npm test` leaves the tree clean.
 */
export async function saveScreenshot(
  target: { screenshot(options: { path: string }): Promise<unknown> },
  name: string,
): Promise<string> {
  const dir = process.env.FRAMEFILL_SCREENSHOTS === '1' ? SCREENSHOTS : path.join(ROOT, 'build/screenshots');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  await target.screenshot({ path: file });
  return file;
}
