// The life of a browser test around the panel: a test proxy and a Chromium context of its own for each test, both
// closed after it (the context first, so the panel stops calling the proxy before it goes). `openPlayground()`
// opens the playground the proxy serves and waits until the panel is connected (it shows the balance).
import type { Browser, BrowserContext, BrowserContextOptions, FrameLocator, Page } from 'playwright-core';
import { afterEach } from 'vitest';
import { startTestProxy, type TestProxy } from '../../helpers/proxy';
import { useChromium } from './chromium';

export interface OpenedPlayground {
  page: Page;
  panel: FrameLocator;
  /** Uncaught errors of the page, as messages. */
  errors: string[];
}

export interface PlaygroundOptions {
  /** The test proxy's environment (`startTestProxy`). */
  env?: Record<string, string>;
  /** The browser context's options; a 1600 × 1000 viewport at scale 1 unless said. */
  context?: BrowserContextOptions;
}

export interface PlaygroundSession {
  /** The proxy of the running test, once started. */
  readonly proxy: TestProxy | undefined;
  startProxy(env?: Record<string, string>): Promise<TestProxy>;
  /** Closes the proxy before the test ends (a proxy that goes away under the panel). */
  closeProxy(): Promise<void>;
  newContext(options: BrowserContextOptions): Promise<BrowserContext>;
  /** A fresh proxy and the playground it serves, with the plugin running and its panel connected. */
  openPlayground(options?: PlaygroundOptions): Promise<OpenedPlayground>;
}

const PLAYGROUND_CONTEXT: BrowserContextOptions = { viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 };

/** For a test file: the Chromium it shares (`useChromium()` unless given), and per test a proxy and a context. */
export function usePlayground(chromium: { readonly browser: Browser } = useChromium()): PlaygroundSession {
  let context: BrowserContext | undefined;
  let proxy: TestProxy | undefined;

  afterEach(async () => {
    await context?.close();
    context = undefined;
    await proxy?.close(0);
    proxy = undefined;
  });

  const session: PlaygroundSession = {
    get proxy() {
      return proxy;
    },
    async startProxy(env = {}) {
      proxy = await startTestProxy(env);
      return proxy;
    },
    async closeProxy() {
      await proxy?.close(0);
      proxy = undefined;
    },
    async newContext(options) {
      context = await chromium.browser.newContext(options);
      return context;
    },
    async openPlayground({ env, context: contextOptions = PLAYGROUND_CONTEXT } = {}) {
      const started = await session.startProxy(env);
      const page = await (await session.newContext(contextOptions)).newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${started.url}/playground`);
      const panel = page.frameLocator('#plugin-body iframe');
      await panel.getByText('Balance:').waitFor();
      return { page, panel, errors };
    },
  };
  return session;
}
