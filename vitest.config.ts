import { createLogger } from 'vite';
import { defineConfig, type Plugin } from 'vitest/config';

// @create-figma-plugin/ui imports global CSS as `!path.css` (its own build convention); build.mjs maps
// it for esbuild, this maps it for the tests.
const figmaGlobalCss: Plugin = {
  name: 'figma-global-css',
  enforce: 'pre',
  async resolveId(source, importer, options) {
    if (!source.startsWith('!')) return null;
    return this.resolve(source.slice(1), importer, { ...options, skipSelf: true });
  },
};

// create-figma-plugin ships source maps that name missing sources; Vite warns once per file (hundreds).
const logger = createLogger();
const warn = logger.warn.bind(logger);
logger.warn = (message, options) => {
  if (!message.includes('points to missing source files')) warn(message, options);
};

export default defineConfig({
  customLogger: logger,
  plugins: [figmaGlobalCss],
  // Vite 8 transforms with oxc (esbuild options are ignored): JSX for Preact's automatic runtime.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  define: { __FRAMEFILL_DEFAULT_PROXY_URL__: JSON.stringify('http://localhost:8787') },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // create-figma-plugin's components import `!x.css` and CSS modules: run them through Vite, not Node.
    server: { deps: { inline: [/@create-figma-plugin/] } },
  },
});
