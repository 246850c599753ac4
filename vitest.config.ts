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

export default defineConfig({
  plugins: [figmaGlobalCss],
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  define: { __FRAMEFILL_DEFAULT_PROXY_URL__: JSON.stringify('http://localhost:8787') },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
