import { readFile } from 'node:fs/promises';
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

// create-figma-plugin's files name source maps whose sources it does not ship; once inlined (below), Vite
// would warn about each of them (hundreds of lines per run). Loading them without the map comment avoids that.
const figmaWithoutSourceMaps: Plugin = {
  name: 'figma-without-source-maps',
  enforce: 'pre',
  async load(id) {
    if (!id.includes('/node_modules/@create-figma-plugin/') || !id.endsWith('.js')) return null;
    const code = await readFile(id, 'utf8');
    return { code: code.replace(/^\/\/# sourceMappingURL=.*$/m, ''), map: null };
  },
};

export default defineConfig({
  plugins: [figmaGlobalCss, figmaWithoutSourceMaps],
  // Vite 8 transforms with oxc (esbuild options are ignored): JSX for Preact's automatic runtime.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  define: { __FRAMEFILL_DEFAULT_PROXY_URL__: JSON.stringify('http://localhost:8787') },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // A throwaway PostgreSQL for the store's tests on both engines (test/helpers/postgres.ts), then one temp folder
    // for the run (its cluster stays outside: the server's own user could not enter a folder private to this one).
    globalSetup: ['test/global-postgres.ts', 'test/global-tmp.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // expect.poll waits for what happens asynchronously (a swap placed, a stream ended); on a loaded CI machine that
    // can take longer than the default second. A poll that holds returns at once, so passing runs are not slower.
    expect: { poll: { timeout: 15_000 } },
    pool: 'forks',
    maxWorkers: 2,
    // create-figma-plugin's components import `!x.css` and CSS modules: run them through Vite, not Node.
    server: { deps: { inline: [/@create-figma-plugin/] } },
  },
});
