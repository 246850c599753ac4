// Debian's Chromium driven by playwright-core, with the flags that keep it off the (closed) network; and
// the built plugin the browser tests load. Nothing here downloads a browser.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const SCREENSHOTS = path.join(ROOT, 'docs/screenshots');

export function buildPlugin(): void {
  execFileSync(process.execPath, ['build.mjs', '--no-typecheck', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
}

/** Where Chrome or Chromium usually is on Linux, macOS and Windows. */
const USUAL_PATHS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
  'C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe',
];

/** FRAMEFILL_CHROMIUM, or the first usual path that exists; with none, the tests fail saying how to get one. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env, exists = existsSync): string {
  if (env.FRAMEFILL_CHROMIUM) {
    if (exists(env.FRAMEFILL_CHROMIUM)) return env.FRAMEFILL_CHROMIUM;
    throw new Error(
      `FRAMEFILL_CHROMIUM=${env.FRAMEFILL_CHROMIUM} does not exist: point it at a Chrome or Chromium binary.`,
    );
  }
  const found = USUAL_PATHS.find((candidate) => exists(candidate));
  if (found) return found;
  throw new Error(
    'No Chrome or Chromium found for the browser tests: install one (Debian/Ubuntu: sudo apt-get install chromium; macOS: Google Chrome) or set FRAMEFILL_CHROMIUM to its path.',
  );
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
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
 * For a test file: builds the plugin, then launches Chromium once for all its tests (closed after them). Read
 * `browser` inside tests.
 */
export function useChromium(): { readonly browser: Browser } {
  const shared = {} as { browser: Browser };
  beforeAll(async () => {
    buildPlugin();
    shared.browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await shared.browser?.close();
  });
  return shared;
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
