// The playground page: a canvas of frames (drawn from the sandbox worker's document), the plugin window
// with build/ui.html in a sandboxed iframe, and the bridge between them that Figma would be.

import workerSource from 'playground:sandbox-worker';
import themeCss from '@create-figma-plugin/ui/css/theme.css';
import { SettingsSchema } from '../core/messages';
import { type NodeView, type PageToSandbox, SandboxToPage, type Snapshot } from './protocol';
import { boundsOf, draw, fitView, toDocument, toScreen, type View } from './renderer';

/** The manifest's relaunchButtons names, by command (build.mjs writes the same list into manifest.json). */
const RELAUNCH_NAMES: Record<string, string> = { regenerate: 'Regenerate' };
/** src/storage.ts keeps the panel's settings under this clientStorage key. */
const SETTINGS_KEY = 'framefill.settings';

const canvasArea = element('canvas-area', HTMLDivElement);
const canvas = element('canvas', HTMLCanvasElement);
const overlay = element('frames', HTMLElement);
const pluginWindow = element('plugin-window', HTMLElement);
const pluginTitle = element('plugin-title', HTMLElement);
const pluginBody = element('plugin-body', HTMLDivElement);
const toast = element('toast', HTMLDivElement);
const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;

let snapshot: Snapshot = { nodes: [], selection: [] };
let view: View | undefined;
/** The view follows the content (and the canvas's size) until the user pans, zooms or a scroll moves it. */
let autoFit = true;
const images = new Map<string, ImageBitmap>();
const imageBytes = new Map<string, Uint8Array>();
let iframe: HTMLIFrameElement | undefined;
let currentRun = -1;
let toastTimer: ReturnType<typeof setTimeout> | undefined;

const sandbox = new Worker(URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' })));
const toSandbox = (message: PageToSandbox) => sandbox.postMessage(message);

sandbox.addEventListener('message', (event) => {
  const parsed = SandboxToPage.safeParse(event.data);
  if (!parsed.success) {
    console.warn('playground: ignored a sandbox message', parsed.error.issues[0]?.message);
    return;
  }
  const message = parsed.data;
  switch (message.kind) {
    case 'snapshot':
      snapshot = message.snapshot;
      if (!view) zoomToFit(snapshot.nodes);
      return render();
    case 'image':
      imageBytes.set(message.hash, message.bytes);
      void createImageBitmap(new Blob([message.bytes as Uint8Array<ArrayBuffer>])).then((bitmap) => {
        images.set(message.hash, bitmap);
        render();
      });
      return;
    case 'show-ui':
      return openPluginWindow(message);
    case 'resize-ui':
      if (message.run === currentRun && iframe) sizeIframe(message.width, message.height);
      return;
    case 'closed':
      if (message.run === currentRun) closePluginWindow();
      return;
    case 'to-panel':
      // Figma wraps what main posts: the panel's window receives {pluginMessage}.
      // https://developers.figma.com/docs/plugins/creating-ui
      if (message.run === currentRun) iframe?.contentWindow?.postMessage({ pluginMessage: message.pluginMessage }, '*');
      return;
    case 'notify':
      return showToast(message.message, message.error);
    case 'scroll-into-view': {
      const rects = message.ids.map(absoluteRect).filter((r): r is NonNullable<typeof r> => r !== undefined);
      const bounds = boundsOf(rects);
      if (bounds) {
        autoFit = false;
        setView(fitView(bounds, canvasArea.clientWidth, canvasArea.clientHeight, 96));
      }
      return;
    }
    case 'plugin-error':
      console.error(`plugin: ${message.message}`);
      return showToast(message.message, true);
  }
});

// The panel posts parent.postMessage({pluginMessage}, '*'); Figma hands main only the pluginMessage.
window.addEventListener('message', (event) => {
  if (!iframe || event.source !== iframe.contentWindow) return;
  const data: unknown = event.data;
  if (typeof data !== 'object' || data === null || !('pluginMessage' in data)) return;
  toSandbox({ kind: 'panel', run: currentRun, pluginMessage: (data as { pluginMessage: unknown }).pluginMessage });
});

function openPluginWindow(ui: Extract<SandboxToPage, { kind: 'show-ui' }>): void {
  closePluginWindow();
  currentRun = ui.run;
  pluginTitle.textContent = ui.title;
  const frame = document.createElement('iframe');
  // allow-scripts without allow-same-origin: the panel's origin is "null", as in Figma, so the proxy's
  // CORS rule for null origins is exercised for real. https://developers.figma.com/docs/plugins/making-network-requests
  // allow-downloads: plugins download files from their iframe with <a download> in Figma (public plugins do
  // it, e.g. export tools), which Chromium blocks in a sandboxed frame without this flag; Figma's docs do not
  // list its iframe's flags, so only what the panel uses is granted.
  frame.setAttribute('sandbox', 'allow-scripts allow-downloads');
  frame.title = `${ui.title} plugin`;
  frame.srcdoc = themedPanel(ui.html, theme);
  iframe = frame;
  sizeIframe(ui.width, ui.height);
  pluginBody.replaceChildren(frame);
  pluginWindow.hidden = !ui.visible;
}

// ---- Figma's theme: the page follows the system's light or dark preference until the toggle is used ----

type Theme = 'light' | 'dark';
const systemDark = window.matchMedia('(prefers-color-scheme: dark)');
let theme: Theme = systemDark.matches ? 'dark' : 'light';
let themeChosen = false;
const themeToggle = element('theme-toggle', HTMLButtonElement);

/** Figma's colour variables for a theme, as `themeColors: true` injects them (create-figma-plugin's copy). */
function themeVariables(name: Theme): string {
  const start = themeCss.indexOf(`:root .figma-${name} {`);
  if (start < 0) return '';
  const end = themeCss.indexOf('}', start);
  return `:root {${themeCss.slice(themeCss.indexOf('{', start) + 1, end)}}`;
}

/**
 * Lets the page change the panel's theme while it runs, as Figma does when the user switches theme: the
 * class on <html> and the variables change in place (https://developers.figma.com/docs/plugins/css-variables/).
 */
const THEME_LISTENER = `window.addEventListener('message', function (event) {
  var theme = event.source === parent && event.data && event.data.figmaTheme;
  if (!theme) return;
  document.documentElement.classList.remove('figma-light', 'figma-dark');
  document.documentElement.classList.add('figma-' + theme.name);
  document.getElementById('figma-style').textContent = theme.css;
});`;

/** build/ui.html as Figma shows it with themeColors: the theme class on <html>, the variables in <head>. */
function themedPanel(html: string, name: Theme): string {
  return html
    .replace(/<html([^>]*)>/, `<html$1 class="figma-${name}">`)
    .replace(
      '<head>',
      () => `<head>\n<style id="figma-style">${themeVariables(name)}</style>\n<script>${THEME_LISTENER}</script>`,
    );
}

function applyTheme(next: Theme): void {
  theme = next;
  document.documentElement.dataset.theme = next;
  themeToggle.setAttribute('aria-pressed', String(next === 'dark'));
  themeToggle.textContent = next === 'dark' ? 'Dark theme' : 'Light theme';
  iframe?.contentWindow?.postMessage({ figmaTheme: { name: next, css: themeVariables(next) } }, '*');
  render();
}

themeToggle.addEventListener('click', () => {
  themeChosen = true;
  applyTheme(theme === 'dark' ? 'light' : 'dark');
});
systemDark.addEventListener('change', (event) => {
  if (!themeChosen) applyTheme(event.matches ? 'dark' : 'light');
});

function sizeIframe(width: number, height: number): void {
  if (!iframe) return;
  iframe.style.width = `${width}px`;
  iframe.style.height = `${height}px`;
}

function closePluginWindow(): void {
  iframe?.remove();
  iframe = undefined;
  pluginWindow.hidden = true;
}

function showToast(message: string, error: boolean): void {
  toast.textContent = message;
  toast.classList.toggle('error', error);
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    toast.hidden = true;
  }, 5000);
}

// ---- the canvas: drawing, frames as buttons, selection ----

function absoluteRect(id: string): { x: number; y: number; width: number; height: number } | undefined {
  const walk = (nodes: readonly NodeView[], ox: number, oy: number): ReturnType<typeof absoluteRect> => {
    for (const node of nodes) {
      const x = ox + node.x;
      const y = oy + node.y;
      if (node.id === id) return { x, y, width: node.width, height: node.height };
      const origin = node.type === 'GROUP' || node.type === 'BOOLEAN_OPERATION' ? [ox, oy] : [x, y];
      const hit = walk(node.children, origin[0] as number, origin[1] as number);
      if (hit) return hit;
    }
    return undefined;
  };
  return walk(snapshot.nodes, 0, 0);
}

function zoomToFit(nodes: readonly NodeView[]): void {
  const bounds = boundsOf(nodes);
  if (bounds) setView(fitView(bounds, canvasArea.clientWidth, canvasArea.clientHeight));
}

function setView(next: View): void {
  view = next;
  toSandbox({ kind: 'viewport', center: { x: next.cx, y: next.cy }, zoom: next.zoom });
  render();
}

/** "Story 1080×1920": the name a frame goes by for screen readers and tests. */
export function frameLabel(node: NodeView): string {
  return `${node.name} ${Math.round(node.width)}×${Math.round(node.height)}`;
}

function select(id: string, extend: boolean): void {
  const current = snapshot.selection;
  const ids = extend ? (current.includes(id) ? current.filter((x) => x !== id) : [...current, id]) : [id];
  toSandbox({ kind: 'select', ids });
}

function render(): void {
  if (!view) return;
  const dpr = window.devicePixelRatio || 1;
  const width = Math.round(view.width * dpr);
  const height = Math.round(view.height * dpr);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const selection = new Set(snapshot.selection);
  draw(ctx, { nodes: snapshot.nodes, selection, view, images, devicePixelRatio: dpr });
  renderOverlay(selection);
}

/** One focusable button per top-level node, over its rectangle; relaunch buttons beside the name. */
function renderOverlay(selection: ReadonlySet<string>): void {
  if (!view) return;
  const wanted = new Set<string>();
  let previous: Element | null = null;
  for (const node of snapshot.nodes) {
    const screen = toScreen(view, node);
    const label = frameLabel(node);
    const key = `frame:${node.id}`;
    wanted.add(key);
    const button = keyed(key, () => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'frame';
      b.dataset.nodeId = node.id;
      const name = document.createElement('span');
      name.className = 'frame-name';
      name.setAttribute('aria-hidden', 'true');
      b.append(name);
      b.addEventListener('click', (event) => {
        event.stopPropagation();
        select(node.id, event.shiftKey || event.metaKey || event.ctrlKey);
      });
      b.addEventListener('keydown', (event) => {
        if (event.key !== 'Enter' && event.key !== ' ') return;
        event.preventDefault();
        select(node.id, event.shiftKey);
      });
      return b;
    });
    button.setAttribute('aria-label', label);
    button.setAttribute('aria-pressed', String(selection.has(node.id)));
    const image = node.fills.find((p) => p.type === 'IMAGE' && p.visible !== false);
    const drawn = image?.type === 'IMAGE' && image.imageHash !== null && images.has(image.imageHash);
    if (drawn) button.dataset.fill = 'image';
    else delete button.dataset.fill;
    place(button, screen);
    (button.firstElementChild as HTMLElement).textContent = node.name;
    previous = insertAfter(button, previous);
    for (const [command, description] of Object.entries(node.relaunch)) {
      const relaunchKey = `relaunch:${node.id}:${command}`;
      wanted.add(relaunchKey);
      const relaunch = keyed(relaunchKey, () => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'relaunch';
        b.textContent = `↻ ${RELAUNCH_NAMES[command] ?? command}`;
        b.addEventListener('click', (event) => {
          event.stopPropagation();
          // Figma runs the plugin with figma.command set and that layer selected.
          // https://developers.figma.com/docs/plugins/api/properties/nodes-setrelaunchdata
          toSandbox({ kind: 'run', command, nodeId: node.id });
        });
        return b;
      });
      relaunch.setAttribute('aria-label', `${RELAUNCH_NAMES[command] ?? command} ${label}`);
      relaunch.title = description;
      relaunch.style.left = `${screen.x + screen.width}px`;
      relaunch.style.top = `${screen.y}px`;
      previous = insertAfter(relaunch, previous);
    }
  }
  for (const child of [...overlay.children]) {
    if (!wanted.has((child as HTMLElement).dataset.key ?? '')) child.remove();
  }
}

function keyed<T extends HTMLElement>(key: string, create: () => T): T {
  const found = overlay.querySelector<T>(`[data-key="${CSS.escape(key)}"]`);
  if (found) return found;
  const made = create();
  made.dataset.key = key;
  return made;
}

/** Keeps DOM order equal to layer order (Tab order) without re-creating, so focus stays put. */
function insertAfter(node: HTMLElement, previous: Element | null): HTMLElement {
  const expected = previous ? previous.nextElementSibling : overlay.firstElementChild;
  if (expected !== node) {
    if (previous) previous.after(node);
    else overlay.prepend(node);
  }
  return node;
}

function place(node: HTMLElement, rect: { x: number; y: number; width: number; height: number }): void {
  node.style.left = `${rect.x}px`;
  node.style.top = `${rect.y}px`;
  node.style.width = `${rect.width}px`;
  node.style.height = `${rect.height}px`;
}

// Clicking the empty canvas clears the selection, as in Figma; so does Escape.
overlay.addEventListener('click', (event) => {
  if (event.target === overlay) toSandbox({ kind: 'select', ids: [] });
});
window.addEventListener('keydown', (event) => {
  if (event.target instanceof HTMLElement && event.target.closest('#plugin-window')) return;
  if (event.key === 'Escape') toSandbox({ kind: 'select', ids: [] });
  if (event.key.toLowerCase() === 'z' && (event.metaKey || event.ctrlKey) && !event.shiftKey) {
    event.preventDefault();
    toSandbox({ kind: 'undo' });
  }
  if (event.key === '!' && event.shiftKey) {
    autoFit = true;
    zoomToFit(snapshot.nodes);
  }
});

// Scroll pans, Ctrl/⌘-scroll (and pinch) zooms about the pointer, as on Figma's canvas.
canvasArea.addEventListener(
  'wheel',
  (event) => {
    if (!view) return;
    event.preventDefault();
    autoFit = false;
    if (event.ctrlKey || event.metaKey) {
      const box = canvasArea.getBoundingClientRect();
      const px = event.clientX - box.left;
      const py = event.clientY - box.top;
      const anchor = toDocument(view, px, py);
      const zoom = Math.min(4, Math.max(0.02, view.zoom * Math.exp(-event.deltaY * 0.01)));
      setView({
        ...view,
        zoom,
        cx: anchor.x - (px - view.width / 2) / zoom,
        cy: anchor.y - (py - view.height / 2) / zoom,
      });
    } else {
      setView({ ...view, cx: view.cx + event.deltaX / view.zoom, cy: view.cy + event.deltaY / view.zoom });
    }
  },
  { passive: false },
);

new ResizeObserver(() => {
  if (autoFit) zoomToFit(snapshot.nodes);
  else if (view) setView({ ...view, width: canvasArea.clientWidth, height: canvasArea.clientHeight });
}).observe(canvasArea);

element('zoom-to-fit', HTMLButtonElement).addEventListener('click', () => {
  autoFit = true;
  zoomToFit(snapshot.nodes);
});
element('run-plugin', HTMLButtonElement).addEventListener('click', () => toSandbox({ kind: 'run', command: '' }));
element('close-plugin', HTMLButtonElement).addEventListener('click', () => toSandbox({ kind: 'close' }));

function element<T extends HTMLElement>(id: string, type: { new (): T; prototype: T }): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`playground.html lacks #${id}`);
  return found;
}

// ---- start: the document, then the plugin, as when a designer opens a file and runs Framefill ----

async function start(): Promise<void> {
  const [mainJs, html] = await Promise.all(
    ['main.js', 'ui.html'].map(async (file) => {
      const response = await fetch(new URL(file, import.meta.url));
      if (!response.ok) throw new Error(`Could not load build/${file} (${response.status}): run npm run build.`);
      return response.text();
    }),
  );
  // The playground is served by the proxy, so the panel talks to this page's own origin, with the local token the
  // proxy wrote into the page: the designer pastes nothing on the first run.
  const origin = /^https?:/.test(location.protocol) ? location.origin : undefined;
  const token = localToken();
  const settings = SettingsSchema.parse({
    ...(origin ? { proxyUrl: origin } : {}),
    ...(token ? { token } : {}),
  });
  toSandbox({ kind: 'boot', mainJs: mainJs as string, html: html as string, storage: { [SETTINGS_KEY]: settings } });
  toSandbox({ kind: 'run', command: '' });
}

/** The proxy's local token from the page's meta tag; none when the page was opened without the proxy. */
function localToken(): string | undefined {
  const content = document.querySelector('meta[name="framefill-local-token"]')?.getAttribute('content') ?? '';
  return /^ffl_[A-Za-z0-9_-]+$/.test(content) ? content : undefined;
}

declare global {
  interface Window {
    /** For tests and the devtools console: the document as last drawn, and the bytes behind each image hash. */
    playground: {
      snapshot(): Snapshot;
      imageBytes(hash: string): Uint8Array | undefined;
      frameRect(label: string): DOMRect | undefined;
      /** Draws a shape into a frame (frame coordinates) and selects both, as Figma's shape tools would. */
      draw(shape: 'ELLIPSE' | 'RECTANGLE', parentId: string, x: number, y: number, width: number, height: number): void;
    };
  }
}

window.playground = {
  snapshot: () => snapshot,
  imageBytes: (hash) => imageBytes.get(hash),
  draw: (shape, parentId, x, y, width, height) => toSandbox({ kind: 'draw', shape, parentId, x, y, width, height }),
  frameRect(label) {
    const button = [...overlay.querySelectorAll('button.frame')].find((b) => b.getAttribute('aria-label') === label);
    return button?.getBoundingClientRect();
  },
};

applyTheme(theme);
start().catch((error: unknown) => showToast(String(error instanceof Error ? error.message : error), true));
