// `npm run build` produces the three artefacts, the panel is one self-contained file, and the sandbox
// bundle touches no DOM.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const built = (file: string) => path.join(root, 'build', file);

describe('the build', () => {
  beforeAll(() => {
    execFileSync(process.execPath, ['build.mjs', '--no-typecheck', '--quiet'], { cwd: root, stdio: 'inherit' });
  });

  it('writes build/main.js, build/ui.html and build/proxy.mjs', () => {
    for (const file of ['main.js', 'ui.html', 'proxy.mjs']) expect(statSync(built(file)).size).toBeGreaterThan(100);
  });

  it('inlines the panel: no external script, stylesheet or font', () => {
    const html = readFileSync(built('ui.html'), 'utf8');
    expect(html).toMatch(/<script>[\s\S]+<\/script>/);
    expect(html).toMatch(/<style>[\s\S]+<\/style>/);
    expect(html).not.toMatch(/<script[^>]+src=/i);
    expect(html).not.toMatch(/<link[^>]+rel=["']?stylesheet/i);
    expect(html).not.toMatch(/@import\s+url\(\s*['"]?https?:/i);
  });

  it('keeps the sandbox bundle free of DOM and network APIs, in ES2020 syntax', () => {
    const js = readFileSync(built('main.js'), 'utf8');
    for (const api of ['document.', 'window.', 'localStorage', 'XMLHttpRequest', 'fetch(', 'navigator.']) {
      expect(js, api).not.toContain(api);
    }
    expect(js).toContain('figma.showUI');
    // Parses as a classic script (Figma evaluates main.js as one, not as a module).
    expect(() => new Function(js)).not.toThrow();
  });

  it('bundles the proxy for Node with its dependencies left to node_modules', () => {
    const js = readFileSync(built('proxy.mjs'), 'utf8');
    expect(js).toMatch(/from ["']hono/);
  });

  it('imports in the built proxy only packages that are runtime dependencies (a server may omit dev ones)', () => {
    const js = readFileSync(built('proxy.mjs'), 'utf8');
    const { dependencies } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const specifiers = [...js.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([^"'.][^"']*)["']/g)].map(
      (match) => match[1]!,
    );
    const packages = new Set(
      specifiers
        .filter((specifier) => !specifier.startsWith('node:'))
        .map((specifier) =>
          specifier
            .split('/')
            .slice(0, specifier.startsWith('@') ? 2 : 1)
            .join('/'),
        ),
    );
    expect(packages).toContain('openai');
    expect([...packages].filter((name) => !(name in dependencies))).toEqual([]);
  });

  it('fails loudly, with a non-zero exit, on a bundling error', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'framefill-build-'));
    copyFileSync(path.join(root, 'build.mjs'), path.join(dir, 'build.mjs'));
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    for (const [file, text] of [
      ['src/main.ts', "import { missing } from './nowhere';\nmissing();\n"],
      ['ui/main.tsx', 'export {};\n'],
      ['proxy/main.ts', 'export {};\n'],
    ] as const) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), text);
    }
    const run = spawnSync(process.execPath, ['build.mjs', '--no-typecheck'], { cwd: dir, encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/nowhere/);
    expect(run.stderr).toMatch(/bundling failed/);
  });
});
