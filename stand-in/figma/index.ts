// A stand-in for the parts of Figma's plugin API that Framefill's main thread uses, with handles for tests
// to play the user and the panel. Runs in Node and in browsers (no Node APIs): the playground ships it, so it
// never imports src/ or ui/. One createFigma() is one open file; files on one machine share clientStorage.
import { type Clone, hostClone } from './clone';
import { readImageHeader, sniffFormat } from './image-size';
import { FakeNode, type LayoutMode, type NodeChange, type Paint, type SceneType, type World } from './nodes';

export { type Clone, hostClone, SANDBOX_CLONE_SOURCE } from './clone';
export { readImageHeader } from './image-size';
export type { LayoutMode, NodeChange, NodeType, Paint, SceneType } from './nodes';
export { FakeNode, INSIDE_INSTANCE_ERROR } from './nodes';
export { encodeSolidPng } from './png';

export interface CreateFigmaOptions {
  /** `figma.command`: '' for a normal run, a relaunch button's command when run from one. */
  command?: string;
  /** The manifest's `documentAccess`; Framefill's manifest says 'dynamic-page'. */
  documentAccess?: 'dynamic-page' | undefined;
  pluginId?: string;
  /** The manifest's relaunchButtons commands. */
  relaunchCommands?: readonly string[];
  /** Copies a value into the plugin's realm (see clone.ts). Defaults to the host-realm copy. */
  cloneIntoSandbox?: Clone;
  /** Initial clientStorage contents, as the plugin stored them earlier. */
  storage?: Record<string, unknown>;
  /**
   * Another file's clientStorage on the same machine: "clientStorage is per plugin, per user, per machine"
   * and not per file (https://developers.figma.com/docs/plugins/api/figma-clientStorage), so two files share it.
   */
  sharedStorage?: Map<string, unknown>;
  pages?: number;
}

export interface FakeImage {
  readonly hash: string;
  getBytesAsync(): Promise<Uint8Array>;
  getSizeAsync(): Promise<{ width: number; height: number }>;
}

export interface Notification {
  message: string;
  shown: string;
  error: boolean;
}

type Listener = (...args: unknown[]) => unknown;

/** The 5 MB per plugin of https://developers.figma.com/docs/plugins/api/figma-clientStorage (raised in update 109). */
export const CLIENT_STORAGE_QUOTA = 5 * 1024 * 1024;

function storageSize(key: string, value: unknown): number {
  // "adding the size of the key to the size of the value converted to JSON", Uint8Array counting its length.
  const walk = (v: unknown): number => {
    if (v && typeof v === 'object' && Object.prototype.toString.call(v) === '[object Uint8Array]')
      return (v as Uint8Array).length;
    if (Array.isArray(v)) return 2 + v.reduce((n: number, x) => n + walk(x) + 1, 0);
    if (v && typeof v === 'object')
      return 2 + Object.entries(v).reduce((n, [k, x]) => n + k.length + 3 + walk(x) + 1, 0);
    return JSON.stringify(v ?? null).length;
  };
  return key.length + walk(value);
}

/** FNV-1a over the bytes, twice with different seeds: stable, content-derived, 16 hex digits. */
function contentHash(bytes: ArrayLike<number>): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    const v = bytes[i] as number;
    a = Math.imul(a ^ v, 0x01000193) >>> 0;
    b = Math.imul(b ^ v, 0x85ebca6b) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

function isUint8Array(value: unknown): value is Uint8Array {
  return Object.prototype.toString.call(value) === '[object Uint8Array]';
}

export function createFigma(options: CreateFigmaOptions = {}) {
  const intoSandbox: Clone = options.cloneIntoSandbox ?? hostClone;
  const documentAccess = 'documentAccess' in options ? options.documentAccess : 'dynamic-page';
  let idCounter = 0;
  const images = new Map<string, { bytes: Uint8Array; width: number; height: number }>();
  const listeners = new Map<string, Array<{ fn: Listener; once: boolean }>>();
  const pendingTimers = new Set<Promise<void>>();
  let clone = intoSandbox;
  let command = options.command ?? '';

  const emit = (event: string, ...args: unknown[]) => {
    const list = listeners.get(event) ?? [];
    listeners.set(
      event,
      list.filter((l) => !l.once),
    );
    for (const l of list) runGuarded(() => l.fn(...args));
  };

  // Figma delivers events and messages asynchronously, never inside the call that caused them.
  const later = (fn: () => void) => {
    const p = new Promise<void>((resolve) =>
      setTimeout(() => {
        runGuarded(fn);
        resolve();
      }, 0),
    );
    pendingTimers.add(p);
    void p.then(() => pendingTimers.delete(p));
  };

  const uncaughtErrors: unknown[] = [];
  function runGuarded(fn: () => unknown): void {
    try {
      const result = fn();
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, (error) => uncaughtErrors.push(error));
      }
    } catch (error) {
      uncaughtErrors.push(error);
    }
  }

  // documentchange: "Figma will not call the 'documentchange' callback synchronously and will instead batch
  // the updates" (https://developers.figma.com/docs/plugins/api/properties/figma-on). Host-side watchers (the
  // playground's canvas) get the same batches.
  // Each change remembers its page when it happened (a deleted node has none afterwards): PageNode's `nodechange`
  // gets the changes of its own nodes, in the same batches.
  let batch: Array<{ change: NodeChange; page: FakeNode | null }> = [];
  const changeWatchers = new Set<(changes: readonly NodeChange[]) => void>();
  const deliverChanges = () => {
    const entries = batch;
    batch = [];
    if (entries.length === 0) return;
    const changes = entries.map((entry) => entry.change);
    for (const watch of changeWatchers) runGuarded(() => watch(changes));
    if (listeners.get('documentchange')?.length) {
      emit('documentchange', {
        documentChanges: changes.map((c) => ({ ...c, origin: 'LOCAL' as const })),
      });
    }
    for (const [page, list] of world.pageListeners) {
      const mine = entries.filter((entry) => entry.page === page);
      if (mine.length === 0 || list.length === 0) continue;
      world.pageListeners.set(
        page,
        list.filter((l) => !l.once),
      );
      // https://developers.figma.com/docs/plugins/api/NodeChange — each change names its node, "a RemovedNode"
      // when it has been removed since.
      const nodeChanges = mine.map(({ change }) => {
        const node = world.nodes.get(change.id)!;
        return { ...change, origin: 'LOCAL' as const, node: node.removedView() ?? node };
      });
      for (const l of list) runGuarded(() => l.fn({ nodeChanges }));
    }
  };

  // Undo history as Figma documents it for plugins (https://developers.figma.com/docs/plugins/api/properties/figma-commitundo):
  // "By default, plugin actions are not committed to undo history. Call figma.commitUndo() so that triggered undos
  // can revert a subset of plugin actions" — the actions since the last commit form one step. Only fills and plugin
  // data are journaled (what placing and swapping an image change); other changes are not undoable here.
  let openStep: Array<() => void> = [];
  const undoSteps: Array<Array<() => void>> = [];
  /** Runs `work` without recording undo: the document's set-up by a test is not a plugin action. */
  const unjournaled = (work: () => void) => {
    const journal = world.journal;
    world.journal = () => undefined;
    try {
      work();
    } finally {
      world.journal = journal;
    }
  };
  const world: World = {
    changed: (change) => {
      if (batch.length === 0) later(deliverChanges);
      batch.push({ change, page: world.nodes.get(change.id)?.page() ?? null });
    },
    journal: (undo) => {
      openStep.push(undo);
    },
    reads: 0,
    nextId: () => `${Math.floor(idCounter / 1000) + 1}:${(idCounter++ % 1000) + 1}`,
    nodes: new Map(),
    hasImage: (hash) => images.has(hash),
    pluginId: options.pluginId ?? 'framefill-gpt-image',
    relaunchCommands: new Set(options.relaunchCommands ?? ['regenerate']),
    exports: [],
    onSelectionSet: (page) => {
      if (page === currentPage) later(() => emit('selectionchange'));
    },
    pageListeners: new Map(),
  };

  const root = new FakeNode(world, 'DOCUMENT', 'Document');
  const pages: FakeNode[] = [];
  for (let i = 0; i < Math.max(1, options.pages ?? 1); i++) {
    const page = new FakeNode(world, 'PAGE', `Page ${i + 1}`);
    root.appendChild(page);
    pages.push(page);
  }
  let currentPage = pages[0] as FakeNode;

  // ---- clientStorage: async, Figma's copy in and out, 5 MB quota, shared by every file on the machine ----
  const storage = options.sharedStorage ?? new Map<string, unknown>();
  for (const [key, value] of Object.entries(options.storage ?? {})) storage.set(key, hostClone(value, true));
  const clientStorage = {
    async getAsync(key: string): Promise<unknown> {
      const value = storage.get(String(key));
      return value === undefined ? undefined : clone(value);
    },
    async setAsync(key: string, value: unknown): Promise<void> {
      const copy = hostClone(value, true);
      let total = storageSize(String(key), copy);
      for (const [k, v] of storage) if (k !== key) total += storageSize(k, v);
      if (total > CLIENT_STORAGE_QUOTA) throw new Error('clientStorage quota of 5 MB exceeded');
      storage.set(String(key), copy);
    },
    async deleteAsync(key: string): Promise<void> {
      storage.delete(String(key));
    },
    async keysAsync(): Promise<string[]> {
      return [...storage.keys()];
    },
  };

  // ---- UI: showUI options, postMessage both ways with structured clone ----
  const ui = {
    shown: false,
    closed: false,
    html: undefined as string | undefined,
    options: undefined as Record<string, unknown> | undefined,
    size: undefined as { width: number; height: number } | undefined,
    panelReady: false,
    droppedBeforeReady: 0,
  };
  const uiMessages: unknown[] = [];
  const waiters: Array<() => void> = [];
  const messageListeners: Array<{ fn: Listener; once: boolean }> = [];

  const figmaUi = {
    onmessage: undefined as ((message: unknown, props: { origin: string }) => unknown) | undefined,
    /**
     * https://developers.figma.com/docs/plugins/api/properties/figma-ui-postmessage — the message is copied
     * like the browser's postMessage (functions refuse to clone). Figma does not document delivery to an
     * iframe that has not loaded yet, so the stand-in drops such messages: the panel asks with PANEL_READY.
     */
    postMessage(message: unknown): void {
      if (!ui.shown || ui.closed) throw new Error('Cannot post a message: no UI is showing (call figma.showUI first)');
      const copy = hostClone(message);
      if (!ui.panelReady) {
        ui.droppedBeforeReady++;
        return;
      }
      later(() => {
        uiMessages.push(copy);
        for (const w of waiters.splice(0)) w();
      });
    },
    on(event: string, fn: Listener) {
      if (event === 'message') messageListeners.push({ fn, once: false });
    },
    once(event: string, fn: Listener) {
      if (event === 'message') messageListeners.push({ fn, once: true });
    },
    off(event: string, fn: Listener) {
      const i = messageListeners.findIndex((l) => l.fn === fn);
      if (event === 'message' && i >= 0) messageListeners.splice(i, 1);
    },
    /** https://developers.figma.com/docs/plugins/api/figma-ui — "The minimum size is 70x0". */
    resize(width: number, height: number) {
      ui.size = { width: Math.max(70, width), height: Math.max(0, height) };
    },
    show() {},
    hide() {},
    close() {
      ui.closed = true;
    },
  };

  // ---- notify, commitUndo, viewport ----
  const notifications: Notification[] = [];
  let undoCommits = 0;
  const viewport = {
    center: { x: 0, y: 0 },
    zoom: 1,
    scrolledTo: [] as string[][],
    get bounds() {
      return { x: this.center.x - 720 / this.zoom, y: this.center.y - 450 / this.zoom, width: 1440, height: 900 };
    },
    /** https://developers.figma.com/docs/plugins/api/figma-viewport — like Shift-1 on the given nodes. */
    scrollAndZoomIntoView(nodes: readonly FakeNode[]) {
      const boxes = nodes.map((n) => n.absoluteBoundingBox);
      if (boxes.length === 0) return;
      const left = Math.min(...boxes.map((b) => b.x));
      const top = Math.min(...boxes.map((b) => b.y));
      const right = Math.max(...boxes.map((b) => b.x + b.width));
      const bottom = Math.max(...boxes.map((b) => b.y + b.height));
      this.center = { x: (left + right) / 2, y: (top + bottom) / 2 };
      this.scrolledTo.push(nodes.map((n) => n.id));
    },
  };

  const figma = {
    apiVersion: '1.0.0',
    editorType: 'figma',
    mode: 'default',
    /** Set to a relaunch button's command when run from one: https://developers.figma.com/docs/plugins/api/properties/nodes-setrelaunchdata */
    get command() {
      return command;
    },
    mixed: Symbol('figma.mixed'),
    root,
    get currentPage() {
      return currentPage;
    },
    ui: figmaUi,
    clientStorage,
    viewport,

    /** https://developers.figma.com/docs/plugins/creating-ui — the options are recorded for tests. */
    showUI(html: string, showOptions?: Record<string, unknown>) {
      if (typeof html !== 'string') throw new TypeError('showUI expects an HTML string');
      ui.shown = true;
      ui.closed = false;
      ui.html = html;
      ui.options = { ...showOptions };
      ui.size = { width: Number(showOptions?.width ?? 300), height: Number(showOptions?.height ?? 200) };
    },

    /** https://developers.figma.com/docs/plugins/api/properties/figma-on */
    on(event: string, fn: Listener) {
      listeners.set(event, [...(listeners.get(event) ?? []), { fn, once: false }]);
    },
    once(event: string, fn: Listener) {
      listeners.set(event, [...(listeners.get(event) ?? []), { fn, once: true }]);
    },
    off(event: string, fn: Listener) {
      listeners.set(
        event,
        (listeners.get(event) ?? []).filter((l) => l.fn !== fn),
      );
    },

    /**
     * https://developers.figma.com/docs/plugins/migrating-to-dynamic-loading — under
     * `"documentAccess": "dynamic-page"` the synchronous lookup throws; the async one resolves to null
     * for a node that is no longer in the document (https://developers.figma.com/docs/plugins/api/properties/nodes-id).
     */
    getNodeById(id: string) {
      if (documentAccess === 'dynamic-page') {
        throw new Error(
          'Cannot call getNodeById with documentAccess: dynamic-page. Use figma.getNodeByIdAsync instead.',
        );
      }
      const node = world.nodes.get(id);
      return node && !node.removed ? node : null;
    },
    async getNodeByIdAsync(id: string) {
      const node = world.nodes.get(String(id));
      return node && !node.removed ? node : null;
    },

    /** https://developers.figma.com/docs/plugins/api/properties/figma-createframe — 100×100 on the current page. */
    createFrame() {
      const frame = new FakeNode(world, 'FRAME', 'Frame');
      currentPage.appendChild(frame);
      return frame;
    },
    createRectangle() {
      const rect = new FakeNode(world, 'RECTANGLE', 'Rectangle');
      currentPage.appendChild(rect);
      return rect;
    },

    /**
     * https://developers.figma.com/docs/plugins/api/properties/figma-createimage — PNG, JPEG or GIF only,
     * at most 4096 px on each edge, "invalid images will throw"; the hash identifies the content
     * (https://developers.figma.com/docs/plugins/api/Image).
     */
    createImage(data: Uint8Array): FakeImage {
      if (!isUint8Array(data)) throw new TypeError('createImage expects a Uint8Array');
      if (!sniffFormat(data)) throw new Error('Image type is unsupported');
      const header = readImageHeader(data);
      if (!header) throw new Error('Image type is unsupported');
      if (header.width < 1 || header.height < 1) throw new Error('Image is too small');
      if (header.width > 4096 || header.height > 4096) throw new Error('Image is too large');
      const bytes = new Uint8Array(data.length);
      bytes.set(data);
      const hash = contentHash(bytes);
      images.set(hash, { bytes, width: header.width, height: header.height });
      return imageHandle(hash);
    },
    getImageByHash(hash: string): FakeImage | null {
      return images.has(hash) ? imageHandle(hash) : null;
    },

    /** https://developers.figma.com/docs/plugins/api/properties/figma-notify — "limited to 100 characters". */
    notify(message: string, notifyOptions?: { error?: boolean; timeout?: number }) {
      const text = String(message);
      const chars = Array.from(text);
      notifications.push({
        message: text,
        shown: chars.length > 100 ? chars.slice(0, 100).join('') : text,
        error: Boolean(notifyOptions?.error),
      });
      return { cancel() {} };
    },

    /** https://developers.figma.com/docs/plugins/api/properties/figma-commitundo — "This does not trigger an undo." */
    commitUndo() {
      undoCommits++;
      if (openStep.length > 0) undoSteps.push(openStep);
      openStep = [];
    },

    /**
     * https://developers.figma.com/docs/plugins/updates/2021/03/22/version-1-update-21 — "triggerUndo to trigger an
     * undo action. This reverts to the last state in undo history." Actions not committed yet are what it reverts;
     * with none, the last committed step goes (as the designer's ⌘Z would).
     */
    triggerUndo() {
      const step = openStep.length > 0 ? openStep : (undoSteps.pop() ?? []);
      openStep = [];
      // Reverting journals nothing: the changes below restore state, they are not new actions.
      unjournaled(() => {
        for (const undo of [...step].reverse()) undo();
      });
    },

    closePlugin() {
      ui.closed = true;
      emit('close');
    },
  };

  function imageHandle(hash: string): FakeImage {
    const image = images.get(hash) as { bytes: Uint8Array; width: number; height: number };
    return Object.freeze({
      hash,
      getBytesAsync: async () => clone(image.bytes) as Uint8Array,
      getSizeAsync: async () => ({ width: image.width, height: image.height }),
    });
  }

  // ---- Test handles: the user on the canvas, and the panel ----
  interface NodeOptions {
    name?: string;
    x?: number;
    y?: number;
    parent?: FakeNode;
    fill?: { r: number; g: number; b: number };
    locked?: boolean;
    rotation?: number;
    layoutMode?: LayoutMode;
    itemSpacing?: number;
  }

  function shape(node: FakeNode, width: number, height: number, o: NodeOptions): FakeNode {
    if (width > 0 && height > 0) node.resize(width, height);
    else node.setSizeUnchecked(width, height);
    node.x = o.x ?? 0;
    node.y = o.y ?? 0;
    if (o.rotation) node.rotation = o.rotation;
    if (o.layoutMode) node.layoutMode = o.layoutMode;
    if (o.itemSpacing) node.itemSpacing = o.itemSpacing;
    if (o.fill) unjournaled(() => (node.fills = [{ type: 'SOLID', color: o.fill } as Paint]));
    if (o.locked) node.locked = true;
    return node;
  }

  function defaultName(type: SceneType, width: number, height: number): string {
    return `${type[0]}${type.slice(1).toLowerCase()} ${width}×${height}`;
  }

  function add(type: SceneType, width: number, height: number, o: NodeOptions = {}): FakeNode {
    const node = new FakeNode(world, type, o.name ?? defaultName(type, width, height));
    (o.parent ?? currentPage).appendChild(node);
    return shape(node, width, height, o);
  }

  interface SublayerSpec {
    type: SceneType;
    width: number;
    height: number;
    name?: string;
    x?: number;
    y?: number;
  }

  /**
   * An instance with its sub-layers, as if placed from a library. Sub-layer ids are
   * `I<instance id>;<main component layer id>`: the plugin docs only say ids are strings like `1:3`
   * (https://developers.figma.com/docs/plugins/api/properties/nodes-id); this form is what plugins meet in
   * real files (e.g. `I12740:17806;12740:17793`, https://github.com/gethopp/figma-mcp-bridge/pull/25).
   */
  function instance(width: number, height: number, sublayers: readonly SublayerSpec[], o: NodeOptions = {}): FakeNode {
    const node = add('INSTANCE', width, height, o);
    for (const spec of sublayers) {
      const layer = new FakeNode(
        world,
        spec.type,
        spec.name ?? defaultName(spec.type, spec.width, spec.height),
        `I${node.id};${world.nextId()}`,
      );
      node.appendSublayerUnchecked(layer);
      shape(layer, spec.width, spec.height, { x: spec.x ?? 0, y: spec.y ?? 0 });
    }
    return node;
  }

  function sendRawFromPanel(pluginMessage: unknown): void {
    // The panel posts `parent.postMessage({pluginMessage}, '*')`; Figma hands main the copied pluginMessage.
    // https://developers.figma.com/docs/plugins/creating-ui
    ui.panelReady = true;
    const copy = clone(hostClone(pluginMessage));
    later(() => {
      runGuarded(() => figmaUi.onmessage?.(copy, { origin: 'null' }));
      for (const l of messageListeners.splice(0)) {
        if (!l.once) messageListeners.push(l);
        runGuarded(() => l.fn(copy, { origin: 'null' }));
      }
    });
  }

  const messageName = (m: unknown) => (Array.isArray(m) ? String(m[0]) : undefined);

  return {
    figma,
    root,
    pages,
    get page() {
      return currentPage;
    },
    frame: (width: number, height: number, o?: NodeOptions) => add('FRAME', width, height, o),
    node: (type: SceneType, width: number, height: number, o?: NodeOptions) => add(type, width, height, o),
    instance,
    /** Host-side: called with each batch of document changes, as `documentchange` delivers them. */
    watchChanges(fn: (changes: readonly NodeChange[]) => void): () => void {
      changeWatchers.add(fn);
      return () => changeWatchers.delete(fn);
    },
    /**
     * The plugin is run again in this same file (the user closes it and opens it, or presses a relaunch
     * button): Figma starts a fresh sandbox, so handlers, the UI and its messages start over. `clone` copies
     * values into the new sandbox's realm.
     */
    rerun(run: { command?: string; cloneIntoSandbox?: Clone } = {}) {
      command = run.command ?? '';
      if (run.cloneIntoSandbox) clone = run.cloneIntoSandbox;
      listeners.clear();
      world.pageListeners.clear();
      messageListeners.splice(0);
      figmaUi.onmessage = undefined;
      uiMessages.splice(0);
      Object.assign(ui, { shown: false, closed: false, html: undefined, options: undefined, panelReady: false });
      ui.droppedBeforeReady = 0;
    },
    /** The user selects nodes on the canvas: selectionchange follows. */
    select(nodes: FakeNode[]) {
      currentPage.selection = nodes;
    },
    /** The user switches pages. */
    switchPage(page: FakeNode) {
      currentPage = page;
      later(() => emit('currentpagechange'));
      later(() => emit('selectionchange'));
    },
    sendFromPanel(name: string, payload: unknown) {
      sendRawFromPanel([name, payload]);
    },
    sendRawFromPanel,
    /** Everything main posted to the panel, as the panel received it (copied into the host realm). */
    uiMessages,
    messages(name: string): unknown[] {
      return uiMessages.filter((m) => messageName(m) === name).map((m) => (m as unknown[])[1]);
    },
    /** Resolves with the payload of the first `name` message posted at or after index `from`. */
    async waitForMessage<T = unknown>(name: string, from = 0): Promise<T> {
      for (let attempts = 0; attempts < 200; attempts++) {
        const hit = uiMessages.slice(from).find((m) => messageName(m) === name);
        if (hit) return (hit as unknown[])[1] as T;
        if (uncaughtErrors.length > 0) throw uncaughtErrors[0];
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      throw new Error(`No ${name} message; got ${uiMessages.map(messageName).join(', ') || 'none'}`);
    },
    /** Waits until every event and message already scheduled has been delivered. */
    async settle(): Promise<void> {
      for (let i = 0; i < 20 && pendingTimers.size > 0; i++) await Promise.all([...pendingTimers]);
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
    ui,
    notifications,
    get undoCommits() {
      return undoCommits;
    },
    /** Committed undo steps not undone yet. */
    get undoSteps() {
      return undoSteps.length;
    },
    /** Actions since the last commitUndo (what an undo reverts first). */
    get uncommittedActions() {
      return openStep.length;
    },
    /** Node property reads so far: a cost measure that needs no clock. */
    get propertyReads() {
      return world.reads;
    },
    exports: world.exports,
    storage,
    uncaughtErrors,
    imageCount: () => images.size,
  };
}

export type FakeFigma = ReturnType<typeof createFigma>;
