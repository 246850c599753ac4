// The plugin's sandbox: a dedicated Worker (no DOM, like Figma's sandbox) that holds the document — the
// Figma stand-in — and runs build/main.js, unchanged, once per plugin launch. The page draws what this
// reports and forwards the user's clicks and the panel's messages.
// https://developers.figma.com/docs/plugins/how-plugins-run
import { createFigma, type FakeFigma, type FakeNode, type Paint } from './figma';
import { type NodeView, PageToSandbox, type SandboxToPage, type Snapshot } from './protocol';
import { buildScene } from './scene';

const host = globalThis as unknown as {
  postMessage(message: SandboxToPage): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
};
const toPage = (message: SandboxToPage) => host.postMessage(message);

// Figma's sandbox "does not expose browser APIs": the plugin gets `figma`, `__html__`, console and timers.
// These worker globals are shadowed (undefined) inside the plugin's code. `globalThis` itself stays the
// worker's (zod keeps its registry there), so a plugin that went looking through it could still find them.
const HIDDEN_GLOBALS = [
  'self',
  'window',
  'document',
  'fetch',
  'XMLHttpRequest',
  'WebSocket',
  'EventSource',
  'importScripts',
  'postMessage',
  'onmessage',
  'addEventListener',
  'location',
  'navigator',
  'indexedDB',
  'caches',
  'Worker',
  'URL',
  'TextEncoder',
  'TextDecoder',
  'Blob',
  'FileReader',
] as const;

type Listener = (...args: unknown[]) => unknown;
// The worker's own timers (numbers in browsers; the Node typings in this tsconfig would say Timeout).
const hostTimers = globalThis as unknown as {
  setTimeout(fn: () => void, ms?: number): number;
  clearTimeout(id: number): void;
};
type TimerId = number;

interface Run {
  id: number;
  command: string;
  closed: boolean;
  listeners: Array<[string, Listener]>;
  uiListeners: Listener[];
  timers: Set<TimerId>;
}

let fake: FakeFigma | undefined;
let mainJs = '';
let html = '';
let runCounter = 0;
let run: Run | undefined;
const sentImages = new Set<string>();
let lastSnapshot = '';

host.addEventListener('message', (event) => {
  const parsed = PageToSandbox.safeParse(event.data);
  if (!parsed.success) {
    console.warn('playground sandbox: ignored a page message', parsed.error.issues[0]?.message);
    return;
  }
  const message = parsed.data;
  if (message.kind === 'boot') return boot(message.mainJs, message.html, message.storage);
  if (!fake) return;
  switch (message.kind) {
    case 'run':
      return startRun(message.command, message.nodeId);
    case 'close':
      return closeRun();
    case 'undo':
      fake.figma.triggerUndo();
      return report();
    case 'select':
      fake.select(message.ids.map((id) => nodeById(id)).filter((n): n is FakeNode => n !== undefined));
      return report();
    case 'draw': {
      const parent = nodeById(message.parentId);
      if (!parent) return;
      // Figma's shape tools draw a grey (#D9D9D9) shape into the frame under the pointer; here at 40% opacity,
      // as designers often set a mask shape, so the image under it stays visible.
      const drawn = fake.node(message.shape, message.width, message.height, {
        name: message.shape === 'ELLIPSE' ? 'Ellipse' : 'Rectangle',
        parent,
        x: message.x,
        y: message.y,
      });
      drawn.fills = [{ type: 'SOLID', color: { r: 0xd9 / 255, g: 0xd9 / 255, b: 0xd9 / 255 }, opacity: 0.4 } as Paint];
      fake.select([parent, drawn]);
      return report();
    }
    case 'viewport':
      fake.figma.viewport.center = message.center;
      fake.figma.viewport.zoom = message.zoom;
      return;
    case 'panel':
      // A message from a panel whose run has ended goes nowhere, as in Figma once the plugin has closed.
      if (run && !run.closed && message.run === run.id) fake.sendRawFromPanel(message.pluginMessage);
      // Notifications and errors the message causes are not document changes: report after it is handled.
      hostTimers.setTimeout(scheduleReport, 0);
      return;
  }
});

function boot(code: string, page: string, storage: Record<string, unknown>): void {
  mainJs = code;
  html = page;
  fake = createFigma({ storage });
  buildScene(fake);
  // The canvas follows the document as Figma's `documentchange` batches report it, and the selection as
  // `selectionchange` does (https://developers.figma.com/docs/plugins/api/properties/figma-on).
  fake.watchChanges(scheduleReport);
  fake.figma.on('selectionchange', scheduleReport);
  report();
}

let reportScheduled = false;
/** One report per turn of the event loop, however many changes arrived in it. */
function scheduleReport(): void {
  if (reportScheduled) return;
  reportScheduled = true;
  hostTimers.setTimeout(() => {
    reportScheduled = false;
    report();
  }, 0);
}

function nodeById(id: string): FakeNode | undefined {
  const walk = (node: FakeNode): FakeNode | undefined => {
    if (node.id === id) return node;
    for (const child of hasChildren(node) ? node.children : []) {
      const hit = walk(child);
      if (hit) return hit;
    }
    return undefined;
  };
  return fake ? walk(fake.page) : undefined;
}

function hasChildren(node: FakeNode): boolean {
  return ['PAGE', 'FRAME', 'GROUP', 'SECTION', 'COMPONENT', 'COMPONENT_SET', 'INSTANCE', 'BOOLEAN_OPERATION'].includes(
    node.type,
  );
}

/** Launches the plugin: Figma selects the relaunching node and sets figma.command before main.js runs. */
function startRun(command: string, nodeId?: string): void {
  if (!fake) return;
  closeRun();
  if (nodeId) {
    const node = nodeById(nodeId);
    if (node) fake.select([node]);
  }
  const current: Run = {
    id: ++runCounter,
    command,
    closed: false,
    listeners: [],
    uiListeners: [],
    timers: new Set(),
  };
  run = current;
  fake.ui.panelReady = false;
  fake.uiMessages.splice(0);
  const figma = sandboxFigma(fake, current);
  const timers = {
    setTimeout: (fn: () => void, ms?: number) => {
      const id = hostTimers.setTimeout(() => {
        current.timers.delete(id);
        if (!current.closed) fn();
      }, ms);
      current.timers.add(id);
      return id;
    },
    clearTimeout: (id: TimerId) => {
      current.timers.delete(id);
      hostTimers.clearTimeout(id);
    },
  };
  try {
    // The plugin's code, with Figma's globals as parameters and the worker's others shadowed.
    const plugin = new Function(
      'figma',
      '__html__',
      'console',
      'setTimeout',
      'clearTimeout',
      ...HIDDEN_GLOBALS,
      mainJs,
    );
    plugin(figma, html, console, timers.setTimeout, timers.clearTimeout);
  } catch (error) {
    toPage({ kind: 'plugin-error', message: `The plugin threw while starting: ${String(error)}` });
    closeRun();
  }
  report();
}

/**
 * Ends the current run: `close` fires ("either from a call to figma.closePlugin() or the user closing the
 * plugin via the UI", https://developers.figma.com/docs/plugins/api/properties/figma-on), then its event
 * handlers and timers go, as when Figma terminates the plugin.
 */
function closeRun(): void {
  const current = run;
  if (!fake || !current || current.closed) return;
  fake.figma.closePlugin();
  current.closed = true;
  for (const [event, fn] of current.listeners) fake.figma.off(event, fn);
  for (const fn of current.uiListeners) fake.figma.ui.off('message', fn);
  fake.figma.ui.onmessage = undefined;
  for (const id of current.timers) hostTimers.clearTimeout(id);
  fake.ui.closed = true;
  toPage({ kind: 'closed', run: current.id });
}

/**
 * The stand-in's `figma`, seen through one run: `command` is this run's, event handlers are remembered so
 * closing the plugin removes them, and what the UI does is reported to the page. Everything else is the
 * stand-in's own object and behaviour.
 */
function sandboxFigma(fake: FakeFigma, current: Run): unknown {
  const real = fake.figma;
  const ui = {
    get onmessage() {
      return real.ui.onmessage;
    },
    set onmessage(fn) {
      real.ui.onmessage = fn;
    },
    postMessage(message: unknown) {
      real.ui.postMessage(message);
      // The stand-in delivers on a zero-delay timer; this one runs after it, so the message is there.
      setTimeout(() => forwardToPanel(current), 0);
    },
    on(event: string, fn: Listener) {
      current.uiListeners.push(fn);
      real.ui.on(event, fn);
    },
    once(event: string, fn: Listener) {
      current.uiListeners.push(fn);
      real.ui.once(event, fn);
    },
    off(event: string, fn: Listener) {
      real.ui.off(event, fn);
    },
    resize(width: number, height: number) {
      real.ui.resize(width, height);
      const size = fake.ui.size ?? { width, height };
      toPage({ kind: 'resize-ui', run: current.id, ...size });
    },
    show: () => real.ui.show(),
    hide: () => real.ui.hide(),
    close: () => closeRun(),
  };
  return Object.create(real, {
    command: { value: current.command, enumerable: true },
    ui: { value: ui, enumerable: true },
    on: {
      value(event: string, fn: Listener) {
        current.listeners.push([event, fn]);
        real.on(event, fn);
      },
    },
    once: {
      value(event: string, fn: Listener) {
        current.listeners.push([event, fn]);
        real.once(event, fn);
      },
    },
    showUI: {
      value(page: string, options?: Record<string, unknown>) {
        real.showUI(page, options);
        const size = fake.ui.size ?? { width: 300, height: 200 };
        toPage({
          kind: 'show-ui',
          run: current.id,
          html: page,
          ...size,
          title: typeof options?.title === 'string' ? options.title : 'Plugin',
          visible: options?.visible !== false,
        });
      },
    },
    closePlugin: {
      value(message?: string) {
        if (message) real.notify(message);
        closeRun();
      },
    },
    notify: {
      value(message: string, options?: { error?: boolean; timeout?: number }) {
        const handler = real.notify(message, options);
        scheduleReport();
        return handler;
      },
    },
    viewport: {
      value: Object.create(real.viewport, {
        scrollAndZoomIntoView: {
          value(nodes: readonly FakeNode[]) {
            real.viewport.scrollAndZoomIntoView(nodes);
            scheduleReport();
          },
        },
      }),
    },
  });
}

function forwardToPanel(current: Run): void {
  if (!fake || current.closed || run !== current) return;
  for (const message of fake.uiMessages.splice(0)) {
    toPage({ kind: 'to-panel', run: current.id, pluginMessage: message });
  }
}

function view(node: FakeNode): NodeView {
  const fillable = 'fills' in node && node.type !== 'GROUP' && node.type !== 'SLICE';
  const pluginData: Record<string, string> = {};
  for (const key of node.getPluginDataKeys()) pluginData[key] = node.getPluginData(key);
  return {
    id: node.id,
    type: node.type,
    name: node.name,
    x: node.x,
    y: node.y,
    width: node.width,
    height: node.height,
    visible: node.visible,
    fills: fillable ? (JSON.parse(JSON.stringify(node.fills)) as NodeView['fills']) : [],
    relaunch: node.getRelaunchData(),
    pluginData,
    characters: node.type === 'TEXT' ? node.characters : '',
    children: hasChildren(node) ? node.children.map(view) : [],
  };
}

/** Sends the document when it changed, the bytes of images the page has not seen, notifications and scrolls. */
function report(): void {
  if (!fake) return;
  const snapshot: Snapshot = {
    nodes: fake.page.children.map(view),
    selection: fake.page.selection.map((n) => n.id),
  };
  const text = JSON.stringify(snapshot);
  if (text !== lastSnapshot) {
    lastSnapshot = text;
    sendNewImages(snapshot.nodes);
    toPage({ kind: 'snapshot', snapshot });
  }
  for (const note of fake.notifications.splice(0)) toPage({ kind: 'notify', message: note.shown, error: note.error });
  for (const ids of fake.figma.viewport.scrolledTo.splice(0)) toPage({ kind: 'scroll-into-view', ids });
  for (const error of fake.uncaughtErrors.splice(0)) toPage({ kind: 'plugin-error', message: String(error) });
}

function sendNewImages(nodes: readonly NodeView[]): void {
  for (const node of nodes) {
    for (const paint of node.fills) {
      if (paint.type !== 'IMAGE' || !paint.imageHash || sentImages.has(paint.imageHash)) continue;
      const hash = paint.imageHash;
      sentImages.add(hash);
      void fake?.figma
        .getImageByHash(hash)
        ?.getBytesAsync()
        .then((bytes) => toPage({ kind: 'image', hash, bytes }));
    }
    sendNewImages(node.children);
  }
}
