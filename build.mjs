// Builds the three runtimes (DESIGN.md §11): build/main.js (Figma's sandbox), build/ui.html (the panel,
// one self-contained file) and build/proxy.mjs (Node 20), plus the playground's assets, and writes
// manifest.json. `--watch` rebuilds on change; `--no-typecheck` skips tsc (npm test runs it first).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(root, 'build');
const args = new Set(process.argv.slice(2));
const watch = args.has('--watch');
const quiet = args.has('--quiet');
const proxyOnly = args.has('--proxy-only');
const typecheck = !args.has('--no-typecheck') && !watch && !proxyOnly;
const log = (line) => quiet || console.log(line);

const DEV_ORIGIN = 'http://localhost:8787';

/** A deployed proxy's origin (https://…) goes into the manifest and becomes the panel's default. */
export function proxyOriginFrom(value) {
  const origin = (value ?? '').trim().replace(/\/+$/, '');
  if (origin && !/^https:\/\/[a-z0-9.-]+(:\d+)?$/i.test(origin)) {
    throw new Error(
      `FRAMEFILL_PROXY_ORIGIN must be an https origin such as https://framefill.example.com (got "${origin}").`,
    );
  }
  return origin;
}
let proxyOrigin = '';

/**
 * The manifest's `id`. Figma assigns a plugin's id when it is first published, and plugin data written
 * under one id cannot be read under another (https://developers.figma.com/docs/plugins/manifest/,
 * https://developers.figma.com/docs/plugins/api/properties/nodes-setplugindata), so a publisher keeps
 * Figma's id in FRAMEFILL_PLUGIN_ID or package.json's `framefill.figmaPluginId`; builds without one get
 * the development id.
 */
export const DEVELOPMENT_PLUGIN_ID = 'framefill-gpt-image';
export function pluginIdFrom(env, packageJson) {
  const given = (env ?? '').trim() || String(packageJson?.framefill?.figmaPluginId ?? '').trim();
  if (!given) return DEVELOPMENT_PLUGIN_ID;
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(given)) {
    throw new Error(
      `FRAMEFILL_PLUGIN_ID (or package.json's framefill.figmaPluginId) must be the id Figma gave the plugin, letters and digits only (got "${given}").`,
    );
  }
  return given;
}
let pluginId = DEVELOPMENT_PLUGIN_ID;

/** The origins the built manifest lets the panel reach (Figma blocks the rest with a CSP error). */
export function allowedOrigins(proxyOrigin = '') {
  const { allowedDomains, devAllowedDomains } = manifest(proxyOrigin).networkAccess;
  return [...allowedDomains, ...devAllowedDomains].filter((domain) => domain !== 'none');
}

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

export function manifest(proxyOrigin = '', id = DEVELOPMENT_PLUGIN_ID) {
  return {
    name: 'Framefill',
    id,
    api: '1.0.0',
    main: 'build/main.js',
    ui: 'build/ui.html',
    editorType: ['figma'],
    documentAccess: 'dynamic-page',
    networkAccess: {
      allowedDomains: proxyOrigin ? [proxyOrigin] : ['none'],
      devAllowedDomains: [DEV_ORIGIN],
      reasoning: proxyOrigin
        ? `Framefill sends prompts and reference images to your team's Framefill proxy at ${proxyOrigin}, which calls OpenAI's image model.`
        : "Framefill talks to its companion proxy on localhost during development; the proxy calls OpenAI's image model.",
    },
    relaunchButtons: [{ command: 'regenerate', name: 'Regenerate' }],
  };
}

// @create-figma-plugin/ui imports `*.module.css` as CSS modules and `!x.css` as global CSS (its own
// build convention): map both onto esbuild's css loaders.
const figmaCssPlugin = {
  name: 'figma-css',
  setup(build) {
    build.onResolve({ filter: /^!/ }, async (a) => {
      const result = await build.resolve(a.path.slice(1), { kind: a.kind, resolveDir: a.resolveDir });
      return result.errors.length > 0 ? { errors: result.errors } : { path: result.path };
    });
  },
};

const common = {
  bundle: true,
  logLevel: 'silent',
  sourcemap: false,
  legalComments: 'none',
};

async function buildMain() {
  return esbuild.context({
    ...common,
    entryPoints: [path.join(root, 'src/main.ts')],
    outfile: path.join(out, 'main.js'),
    format: 'iife',
    // Figma runs main.js in a JavaScript VM compiled to WebAssembly (QuickJS). test/plugin/quickjs.test.ts
    // runs this bundle there unchanged, with every built-in newer than ES2020 taken away, and the es2022 and
    // esnext bundles too: QuickJS refuses none of them. es2020 costs ~140 bytes over esnext and keeps the
    // bundle within what an older QuickJS in Figma would parse (optional chaining and `??` are its newest).
    target: 'es2020',
    platform: 'neutral',
    // zod is most of the bundle; Figma parses main.js on every run, so keep it small.
    minify: true,
    mainFields: ['module', 'main'],
  });
}

async function buildUi() {
  return esbuild.context({
    ...common,
    entryPoints: [path.join(root, 'ui/main.tsx')],
    outdir: path.join(out, 'ui-parts'),
    write: false,
    format: 'iife',
    target: 'es2020',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    loader: { '.module.css': 'local-css', '.css': 'css' },
    minify: true,
    define: {
      __FRAMEFILL_DEFAULT_PROXY_URL__: JSON.stringify(proxyOrigin || DEV_ORIGIN),
      __FRAMEFILL_ALLOWED_ORIGINS__: JSON.stringify(allowedOrigins(proxyOrigin)),
    },
    plugins: [figmaCssPlugin, inlineIntoHtml],
  });
}

// Figma loads the panel as one HTML string (`__html__`), so the JS and CSS are inlined.
const inlineIntoHtml = {
  name: 'inline-into-html',
  setup(build) {
    build.onEnd((result) => {
      if (result.errors.length > 0 || !result.outputFiles) return;
      const js = result.outputFiles.find((f) => f.path.endsWith('.js'))?.text ?? '';
      const css = result.outputFiles.find((f) => f.path.endsWith('.css'))?.text ?? '';
      const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Framefill</title>
<style>${css.replaceAll('</style', '<\\/style')}</style>
</head>
<body>
<div id="create-figma-plugin"></div>
<script>${js.replaceAll('</script', '<\\/script')}</script>
</body>
</html>
`;
      writeFileSync(path.join(out, 'ui.html'), html);
    });
  },
};

async function buildProxy() {
  return esbuild.context({
    ...common,
    entryPoints: [path.join(root, 'proxy/main.ts')],
    outfile: path.join(out, 'proxy.mjs'),
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
}

async function buildPlayground() {
  const entry = path.join(root, 'playground/main.ts');
  if (!existsSync(entry)) return undefined;
  // The sandbox worker is bundled on its own and inlined into playground.js as text (the page starts it
  // from a Blob URL), so the proxy serves just playground.html, playground.js, main.js and ui.html.
  const inlineSandboxWorker = {
    name: 'inline-sandbox-worker',
    setup(build) {
      build.onResolve({ filter: /^playground:sandbox-worker$/ }, () => ({
        path: 'sandbox-worker',
        namespace: 'worker',
      }));
      build.onLoad({ filter: /.*/, namespace: 'worker' }, async () => {
        const result = await esbuild.build({
          ...common,
          entryPoints: [path.join(root, 'playground/sandbox-worker.ts')],
          write: false,
          metafile: true,
          format: 'iife',
          target: 'es2022',
          platform: 'browser',
          minify: true,
        });
        return {
          contents: result.outputFiles[0].text,
          loader: 'text',
          watchFiles: Object.keys(result.metafile.inputs).map((input) => path.resolve(root, input)),
        };
      });
    },
  };
  // build/playground.html: the page with its styles inlined.
  const writePage = {
    name: 'playground-html',
    setup(build) {
      build.onEnd((result) => {
        if (result.errors.length > 0) return;
        const page = readFileSync(path.join(root, 'playground/index.html'), 'utf8');
        const css = readFileSync(path.join(root, 'playground/styles.css'), 'utf8');
        writeFileSync(
          path.join(out, 'playground.html'),
          page.replace('/*STYLES*/', () => css),
        );
      });
    },
  };
  return esbuild.context({
    ...common,
    entryPoints: [entry],
    outfile: path.join(out, 'playground.js'),
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    // Figma's theme variables, read as text: the playground injects them into the panel as Figma does.
    loader: { '.css': 'text' },
    plugins: [inlineSandboxWorker, writePage],
  });
}

function runTypecheck() {
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  for (const project of ['proxy/tsconfig.json', 'src/tsconfig.json', 'ui/tsconfig.json']) {
    try {
      execFileSync(process.execPath, [tsc, '-p', project, '--noEmit'], { cwd: root, stdio: 'inherit' });
    } catch {
      fail(`type errors in ${project} (see above)`);
    }
  }
}

async function main() {
  try {
    proxyOrigin = proxyOriginFrom(process.env.FRAMEFILL_PROXY_ORIGIN);
    const packageFile = path.join(root, 'package.json');
    const packageJson = existsSync(packageFile) ? JSON.parse(readFileSync(packageFile, 'utf8')) : {};
    pluginId = pluginIdFrom(process.env.FRAMEFILL_PLUGIN_ID, packageJson);
  } catch (error) {
    fail(error.message);
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(root, 'manifest.json'), `${JSON.stringify(manifest(proxyOrigin, pluginId), null, 2)}\n`);
  if (typecheck) runTypecheck();
  const contexts = (
    await Promise.all(proxyOnly ? [buildProxy()] : [buildMain(), buildUi(), buildProxy(), buildPlayground()])
  ).filter(Boolean);
  if (watch) {
    await Promise.all(contexts.map((c) => c.watch()));
    log('build: watching for changes…');
    return;
  }
  for (const context of contexts) {
    const result = await context.rebuild().catch((error) => error);
    await context.dispose();
    const errors = result.errors ?? [];
    if (errors.length > 0) {
      const text = await esbuild.formatMessages(errors, { kind: 'error', color: false });
      console.error(text.join('\n'));
      fail('bundling failed');
    }
  }
  log(
    `build: wrote ${proxyOnly ? 'build/proxy.mjs' : 'build/main.js, build/ui.html, build/proxy.mjs'}${proxyOrigin ? ` for ${proxyOrigin}` : ''}`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
