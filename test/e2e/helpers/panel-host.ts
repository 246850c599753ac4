// A host page that plays Figma around the built panel: it loads build/ui.html into a sandboxed srcdoc
// iframe (origin `null`, like Figma's plugin iframe), applies Figma's theme the way Figma does (a class on
// <html> and the colour variables), and answers the panel's messages as the plugin main thread would.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { buildPlugin, launchChromium } from './chromium';

const ROOT = path.resolve(import.meta.dirname, '../../..');

/** Figma's own colour variables for a theme, as Figma injects them with `themeColors: true`. */
function themeVariables(theme: 'light' | 'dark'): string {
  const css = readFileSync(path.join(ROOT, 'node_modules/@create-figma-plugin/ui/lib/css/theme.css'), 'utf8');
  const start = css.indexOf(`:root .figma-${theme} {`);
  const end = css.indexOf('}', start);
  return `:root {${css.slice(css.indexOf('{', start) + 1, end)}}`;
}

/**
 * build/ui.html, read whole: other test files may rebuild it at the same moment (vitest runs files in
 * parallel), so a read that catches a half-written file is retried.
 */
function builtPanel(): string {
  for (let attempt = 0; ; attempt++) {
    const html = readFileSync(path.join(ROOT, 'build/ui.html'), 'utf8');
    if (html.trimEnd().endsWith('</html>') || attempt >= 20) return html;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

/** build/ui.html as Figma would show it: theme class on <html>, variables injected. */
export function panelHtml(theme: 'light' | 'dark'): string {
  return builtPanel()
    .replace('<html lang="en">', `<html lang="en" class="figma-${theme}">`)
    .replace('<head>', `<head>\n<style id="figma-style">${themeVariables(theme)}</style>`);
}

// Runs in the host page. `window.host` is driven from the test through page.evaluate.
const HOST_SCRIPT = `
const host = {
  storage: { settings: null, tray: [], pendingJobs: [], relaunch: null },
  selection: { targets: [], unusable: [], selectionCount: 0 },
  nodes: {},
  received: [],
  placed: [],
  /** Target ids whose placement fails, as a locked or deleted node would in Figma. */
  failTargets: [],
  frame: null,
  theme: 'light',
  /** The plugin window's size: Figma opens Framefill at 360×640 (src/main.ts); RESIZE changes it. */
  size: { width: 360, height: 640 },
  open() {
    this.close();
    const frame = document.createElement('iframe');
    // No allow-same-origin: the panel's origin is null, as in Figma.
    frame.setAttribute('sandbox', 'allow-scripts allow-downloads');
    frame.setAttribute('title', 'Framefill');
    frame.style.cssText = 'width: ' + this.size.width + 'px; height: ' + this.size.height + 'px; border: 0; display: block';
    frame.srcdoc = window.panelHtml[this.theme];
    document.body.appendChild(frame);
    this.frame = frame;
  },
  close() {
    if (this.frame) this.frame.remove();
    this.frame = null;
  },
  post(name, payload) {
    this.frame?.contentWindow?.postMessage({ pluginMessage: [name, payload] }, '*');
  },
  select(targets, unusable = []) {
    this.selection = { targets, unusable, selectionCount: targets.length + unusable.length };
    this.post('SELECTION_CHANGED', this.selection);
  },
  names() {
    return this.received.map((m) => m[0]);
  },
};
window.host = host;

function bytesOf(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
function b64Of(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

window.addEventListener('message', (event) => {
  if (!host.frame || event.source !== host.frame.contentWindow) return;
  const message = event.data && event.data.pluginMessage;
  if (!Array.isArray(message)) return;
  const [name, payload] = message;
  host.received.push([name, name === 'PLACE_IMAGE' ? { ...payload, bytes: payload.bytes.length } : payload]);
  switch (name) {
    case 'RESIZE':
      host.size = { width: payload.width, height: payload.height };
      if (host.frame) {
        host.frame.style.width = payload.width + 'px';
        host.frame.style.height = payload.height + 'px';
      }
      break;
    case 'PANEL_READY':
      host.post('STORAGE_LOADED', host.storage);
      host.post('SELECTION_CHANGED', host.selection);
      break;
    case 'SAVE_STORAGE':
      for (const key of ['settings', 'tray', 'pendingJobs']) if (payload[key]) host.storage[key] = payload[key];
      break;
    case 'EXPORT_REFERENCES': {
      // One message per image, then the closing message, as the main thread does.
      const found = payload.nodeIds.filter((id) => host.nodes[id]);
      found.forEach((id, index) => {
        const node = host.nodes[id];
        host.post('REFERENCE_EXPORTED', {
          requestId: payload.requestId,
          index,
          total: found.length,
          image: { nodeId: id, name: node.name, mime: 'image/png', width: node.width, height: node.height, bytes: bytesOf(node.b64) },
        });
      });
      host.post('REFERENCES_EXPORTED', {
        requestId: payload.requestId,
        nodeIds: found,
        missing: payload.nodeIds.filter((id) => !host.nodes[id]),
      });
      break;
    }
    case 'PLACE_IMAGE':
      if (host.failTargets.includes(payload.targetId)) {
        host.post('PLACE_FAILED', { requestId: payload.requestId, code: 'target_locked', message: 'The target is locked: unlock it, or place the image in a new frame.' });
        break;
      }
      host.placed.push({
        requestId: payload.requestId,
        targetId: payload.targetId,
        width: payload.width,
        height: payload.height,
        b64: b64Of(payload.bytes),
        provenance: payload.provenance,
      });
      host.post('IMAGE_PLACED', {
        requestId: payload.requestId,
        nodeId: payload.targetId ?? 'new:1',
        createdFrame: payload.targetId === null,
      });
      break;
  }
});
`;

export interface PanelHost {
  url: string;
  close(): Promise<void>;
}

/** Serves the host page on 127.0.0.1 (port 0). */
export async function startPanelHost(): Promise<PanelHost> {
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Figma stand-in</title>
<style>body { margin: 0; background: #888; }</style></head>
<body>
<script>window.panelHtml = ${JSON.stringify({ light: panelHtml('light'), dark: panelHtml('dark') }).replaceAll('</', '<\\/')};</script>
<script>${HOST_SCRIPT}</script>
</body></html>`;
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What the host page exposes as `window.host` (see HOST_SCRIPT). */
export interface HostApi {
  storage: { settings: unknown; tray: unknown[]; pendingJobs: { jobId: string }[]; relaunch: unknown };
  selection: unknown;
  nodes: Record<string, { name: string; width: number; height: number; b64: string }>;
  received: [string, unknown][];
  placed: {
    requestId: string;
    targetId: string | null;
    width: number;
    height: number;
    b64: string;
    provenance: { jobId: string; aspectRatio: string; resolution: string; referenceIds: string[]; prompt: string };
  }[];
  theme: 'light' | 'dark';
  size: { width: number; height: number };
  failTargets: string[];
  open(): void;
  close(): void;
  select(targets: unknown[], unusable?: unknown[]): void;
  names(): string[];
}

declare global {
  interface Window {
    /** The host page's stand-in for Figma's main thread (HOST_SCRIPT); used inside page.evaluate. */
    host: HostApi;
  }
}

/**
 * For a test file: builds the plugin, then serves the host page and launches Chromium once for all its tests
 * (closed after them). Read `browser` and `host` inside tests.
 */
export function usePanelHostInChromium(): { readonly browser: Browser; readonly host: PanelHost } {
  const shared = {} as { browser: Browser; host: PanelHost };
  beforeAll(async () => {
    buildPlugin();
    shared.host = await startPanelHost();
    shared.browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await shared.browser?.close();
    await shared.host?.close();
  });
  return shared;
}
