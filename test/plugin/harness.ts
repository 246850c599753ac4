// Runs the BUILT sandbox bundle (build/main.js) against the Figma stand-in inside a node:vm context whose
// only globals are what Figma's sandbox offers: `figma`, `__html__`, console, timers and the ES built-ins
// (no DOM, no require, no URL or TextEncoder: the sandbox "does not expose browser APIs",
// https://developers.figma.com/docs/plugins/how-plugins-run). Tests drive it as the panel does.
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import vm from 'node:vm';
import type { MainToPanelName, MainToPanelPayload, PanelToMainName, PanelToMainPayload } from '../../core/messages';
import { type CreateFigmaOptions, createFigma, SANDBOX_CLONE_SOURCE } from '../../stand-in/figma';

const root = path.resolve(import.meta.dirname, '../..');
const bundlePath = path.join(root, 'build/main.js');
let bundle: Promise<string> | undefined;

/**
 * Builds once per test file. build.mjs bundles main.js first; when a later bundle (the panel, the proxy) is
 * mid-edit by someone else and fails, a main.js written by this very run is still the one under test.
 */
export function builtMain(): Promise<string> {
  bundle ??= (async () => {
    const started = Date.now();
    try {
      await promisify(execFile)(process.execPath, ['build.mjs', '--no-typecheck', '--quiet'], { cwd: root });
    } catch (error) {
      if ((statSync(bundlePath, { throwIfNoEntry: false })?.mtimeMs ?? 0) < started - 1000) throw error;
    }
    return readFileSync(bundlePath, 'utf8');
  })();
  return bundle;
}

export interface LoadOptions extends Omit<CreateFigmaOptions, 'cloneIntoSandbox'> {
  /** Lays out the canvas before the plugin starts (Figma runs plugins on an existing document). */
  setup?: (fake: ReturnType<typeof createFigma>) => void;
  /** Open the panel (PANEL_READY) right away; default true. */
  openPanel?: boolean;
  /** Run the plugin again in this already open file (a closed and reopened plugin), instead of a new one. */
  file?: ReturnType<typeof createFigma>;
}

export type Plugin = Awaited<ReturnType<typeof loadPlugin>>;

export async function loadPlugin(options: LoadOptions = {}) {
  const code = await builtMain();
  const warnings: string[] = [];
  const sandboxConsole = {
    log: () => {},
    info: () => {},
    error: (...args: unknown[]) => warnings.push(args.map(String).join(' ')),
    warn: (...args: unknown[]) => warnings.push(args.map(String).join(' ')),
  };
  const context = vm.createContext({ console: sandboxConsole, setTimeout, clearTimeout });
  const cloneIntoSandbox = vm.runInContext(SANDBOX_CLONE_SOURCE, context) as (value: unknown) => unknown;
  const { setup, openPanel = true, file, ...figmaOptions } = options;
  let fake: ReturnType<typeof createFigma>;
  if (file) {
    fake = file;
    fake.rerun({ command: figmaOptions.command ?? '', cloneIntoSandbox });
  } else fake = createFigma({ ...figmaOptions, cloneIntoSandbox });
  setup?.(fake);
  await fake.settle();
  context.figma = fake.figma;
  context.__html__ = '<!doctype html><title>Framefill panel</title>';
  vm.runInContext(code, context, { filename: 'build/main.js' });

  /** Posts a panel message and resolves with the first `reply` main posts afterwards. */
  async function request<R extends MainToPanelName>(
    name: PanelToMainName,
    payload: unknown,
    reply: R,
  ): Promise<MainToPanelPayload<R>> {
    const from = fake.uiMessages.length;
    fake.sendFromPanel(name, payload);
    return fake.waitForMessage<MainToPanelPayload<R>>(reply, from);
  }

  const plugin = {
    fake,
    figma: fake.figma,
    warnings,
    send<N extends PanelToMainName>(name: N, payload: PanelToMainPayload<N>) {
      fake.sendFromPanel(name, payload);
    },
    request,
    /** The panel opens: main answers STORAGE_LOADED, then SELECTION_CHANGED. */
    async open() {
      const from = fake.uiMessages.length;
      fake.sendFromPanel('PANEL_READY', {});
      const storage = await fake.waitForMessage<MainToPanelPayload<'STORAGE_LOADED'>>('STORAGE_LOADED', from);
      const selection = await fake.waitForMessage<MainToPanelPayload<'SELECTION_CHANGED'>>('SELECTION_CHANGED', from);
      return { storage, selection };
    },
    /** The user changes the selection; resolves with the SELECTION_CHANGED it causes. */
    async selectAndWait(nodes: Parameters<typeof fake.select>[0]) {
      const from = fake.uiMessages.length;
      fake.select(nodes);
      return fake.waitForMessage<MainToPanelPayload<'SELECTION_CHANGED'>>('SELECTION_CHANGED', from);
    },
  };
  const opened = openPanel ? await plugin.open() : undefined;
  return { ...plugin, opened };
}
