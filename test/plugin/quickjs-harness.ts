// Runs the BUILT sandbox bundle (build/main.js), unchanged, inside QuickJS compiled to WebAssembly, the kind
// of engine Figma runs plugin code in ("a JavaScript VM written in C compiled to WebAssembly",
// https://www.figma.com/blog/how-we-built-the-figma-plugin-system/). The Figma stand-in stays on the host;
// the guest sees it through proxies: host objects with behaviour (nodes, `figma`, its `ui`, functions) are
// passed by reference, plain data (messages, storage values, paints) is copied, Uint8Array and Date
// included. Host promises become guest promises, and guest callbacks (onmessage, timers, figma.on) are
// called from the host. The guest's only globals are Figma's: `figma`, `__html__`, console and timers.
import { getQuickJS, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime } from 'quickjs-emscripten';
import type { MainToPanelName, MainToPanelPayload, PanelToMainName, PanelToMainPayload } from '../../core/messages';
import { type CreateFigmaOptions, createFigma, hostClone } from '../../stand-in/figma';
import { builtMain } from './harness';

/** Guest-side helpers: reference proxies (one per host object, so identity holds) and type probes. */
const GUEST_HELPERS = `(function (host) {
  var REF = Symbol('host reference');
  var cache = new Map();
  function ref(id, callable) {
    var hit = cache.get(id);
    if (hit) return hit;
    var proxy = new Proxy(callable ? function () {} : {}, {
      get: function (_, key) {
        if (key === REF) return id;
        if (typeof key === 'symbol') return undefined;
        return host.get(id, key);
      },
      set: function (_, key, value) { host.set(id, String(key), value); return true; },
      has: function (_, key) { return typeof key === 'string' && host.has(id, key); },
      apply: function (_, self, args) { return host.call(id, self, args); },
    });
    cache.set(id, proxy);
    return proxy;
  }
  function kind(x) {
    if (x === null) return 'null';
    var t = typeof x;
    if (t !== 'object' && t !== 'function') return t;
    if (typeof x[REF] === 'number') return 'ref';
    if (t === 'function') return 'function';
    if (x instanceof Uint8Array) return 'u8';
    if (x instanceof Date) return 'date';
    if (x instanceof Promise) return 'promise';
    if (Array.isArray(x)) return 'array';
    return 'object';
  }
  return {
    ref: ref,
    kind: kind,
    refId: function (x) { return x[REF]; },
    keys: function (x) { return Object.keys(x); },
    u8: function (buffer) { return new Uint8Array(buffer); },
    u8buffer: function (x) { return x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength); },
    date: function (ms) { return new Date(ms); },
    time: function (d) { return d.getTime(); },
    message: function (e) { return e && e.stack ? String(e.message) + '\\n' + e.stack : String(e); },
  };
})`;

/** A plain data object: copied, not referenced. Objects with methods or accessors are referenced. */
function isPlainData(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const descriptor of Object.values(Object.getOwnPropertyDescriptors(value))) {
    if (descriptor.get || descriptor.set || typeof descriptor.value === 'function') return false;
  }
  return true;
}

class Bridge {
  readonly objects: unknown[] = [];
  readonly ids = new Map<unknown, number>();
  readonly helpers: Record<string, QuickJSHandle> = {};
  /** Guest errors thrown into the host (uncaught in callbacks) and refusals the guest met. */
  readonly guestErrors: string[] = [];

  constructor(
    readonly vm: QuickJSContext,
    readonly runtime: QuickJSRuntime,
  ) {
    const host = vm.newObject();
    const fn = (name: string, impl: (...args: QuickJSHandle[]) => QuickJSHandle | undefined) => {
      const handle = vm.newFunction(name, (...args) => {
        try {
          return impl(...args);
        } catch (error) {
          return { error: vm.newError(error instanceof Error ? error.message : String(error)) };
        }
      });
      vm.setProp(host, name, handle);
      handle.dispose();
    };
    fn('get', (id, key) => this.toGuest(Reflect.get(this.object(id) as object, vm.getString(key))));
    fn('set', (id, key, value) => {
      const target = this.object(id) as Record<string, unknown>;
      target[vm.getString(key)] = this.fromGuest(value);
      return undefined;
    });
    fn('has', (id, key) => (vm.getString(key) in (this.object(id) as object) ? vm.true : vm.false));
    fn('call', (id, self, args) => {
      const target = this.object(id) as (...a: unknown[]) => unknown;
      const list = this.fromGuest(args) as unknown[];
      return this.toGuest(Reflect.apply(target, this.fromGuest(self), list));
    });
    const make = vm.unwrapResult(vm.evalCode(GUEST_HELPERS, 'helpers.js'));
    const made = vm.unwrapResult(vm.callFunction(make, vm.undefined, host));
    for (const name of ['ref', 'kind', 'refId', 'keys', 'u8', 'u8buffer', 'date', 'time', 'message']) {
      this.helpers[name] = vm.getProp(made, name);
    }
    make.dispose();
    made.dispose();
    host.dispose();
  }

  private object(idHandle: QuickJSHandle): unknown {
    return this.objects[this.vm.getNumber(idHandle)];
  }

  private helper(name: string, ...args: QuickJSHandle[]): QuickJSHandle {
    return this.vm.unwrapResult(this.vm.callFunction(this.helpers[name] as QuickJSHandle, this.vm.undefined, ...args));
  }

  private refOf(value: unknown): QuickJSHandle {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.objects.push(value) - 1;
      this.ids.set(value, id);
    }
    const idHandle = this.vm.newNumber(id);
    const result = this.helper('ref', idHandle, typeof value === 'function' ? this.vm.true : this.vm.false);
    idHandle.dispose();
    return result;
  }

  toGuest(value: unknown): QuickJSHandle {
    const { vm } = this;
    if (value === undefined) return vm.undefined;
    if (value === null) return vm.null;
    switch (typeof value) {
      case 'boolean':
        return value ? vm.true : vm.false;
      case 'number':
        return vm.newNumber(value);
      case 'string':
        return vm.newString(value);
      case 'symbol':
      case 'bigint':
        return vm.undefined;
      case 'function':
        return this.refOf(value);
    }
    const tag = Object.prototype.toString.call(value);
    if (tag === '[object Uint8Array]') {
      const bytes = value as Uint8Array;
      const buffer = vm.newArrayBuffer(bytes.slice().buffer);
      const result = this.helper('u8', buffer);
      buffer.dispose();
      return result;
    }
    if (tag === '[object Date]') {
      const ms = vm.newNumber((value as Date).getTime());
      const result = this.helper('date', ms);
      ms.dispose();
      return result;
    }
    if (typeof (value as { then?: unknown }).then === 'function') {
      const deferred = vm.newPromise();
      (value as Promise<unknown>).then(
        (resolved) => {
          const handle = this.toGuest(resolved);
          deferred.resolve(handle);
          handle.dispose();
          this.drain();
        },
        (error: unknown) => {
          const handle = vm.newError(error instanceof Error ? error.message : String(error));
          deferred.reject(handle);
          handle.dispose();
          this.drain();
        },
      );
      return deferred.handle;
    }
    if (Array.isArray(value)) {
      const array = vm.newArray();
      value.forEach((item, i) => {
        const handle = this.toGuest(item);
        vm.setProp(array, i, handle);
        handle.dispose();
      });
      return array;
    }
    if (!isPlainData(value as object)) return this.refOf(value);
    const object = vm.newObject();
    for (const [key, item] of Object.entries(value as object)) {
      const handle = this.toGuest(item);
      vm.setProp(object, key, handle);
      handle.dispose();
    }
    return object;
  }

  fromGuest(handle: QuickJSHandle): unknown {
    const { vm } = this;
    const kindHandle = this.helper('kind', handle);
    const kind = vm.getString(kindHandle);
    kindHandle.dispose();
    switch (kind) {
      case 'undefined':
      case 'symbol':
        return undefined;
      case 'null':
        return null;
      case 'boolean':
      case 'number':
      case 'string':
        return vm.dump(handle);
      case 'ref': {
        const id = this.helper('refId', handle);
        const value = this.objects[vm.getNumber(id)];
        id.dispose();
        return value;
      }
      case 'u8': {
        const buffer = this.helper('u8buffer', handle);
        const view = vm.getArrayBuffer(buffer);
        const copy = view.value.slice();
        view.dispose();
        buffer.dispose();
        return copy;
      }
      case 'date': {
        const ms = this.helper('time', handle);
        const date = new Date(vm.getNumber(ms));
        ms.dispose();
        return date;
      }
      case 'function': {
        const fn = handle.dup();
        return (...args: unknown[]) => this.callGuest(fn, args);
      }
      case 'promise':
        // The host never awaits the plugin's own promises (an async onmessage handler, say).
        return undefined;
      case 'array': {
        // The `length` property itself: the library's getLength answered 0 for some arrays after a few contexts.
        const lengthHandle = vm.getProp(handle, 'length');
        const length = vm.getNumber(lengthHandle);
        lengthHandle.dispose();
        const out: unknown[] = [];
        for (let i = 0; i < length; i++) {
          const item = vm.getProp(handle, i);
          out.push(this.fromGuest(item));
          item.dispose();
        }
        return out;
      }
      default: {
        const keysHandle = this.helper('keys', handle);
        const keys = this.fromGuest(keysHandle) as string[];
        keysHandle.dispose();
        const out: Record<string, unknown> = {};
        for (const key of keys) {
          const item = vm.getProp(handle, key);
          out[key] = this.fromGuest(item);
          item.dispose();
        }
        return out;
      }
    }
  }

  callGuest(fn: QuickJSHandle, args: readonly unknown[]): unknown {
    const handles = args.map((arg) => this.toGuest(arg));
    const result = this.vm.callFunction(fn, this.vm.undefined, ...handles);
    for (const h of handles) h.dispose();
    if (result.error) {
      const message = this.describe(result.error);
      result.error.dispose();
      this.guestErrors.push(message);
      this.drain();
      throw new Error(`plugin code threw: ${message}`);
    }
    const value = this.fromGuest(result.value);
    result.value.dispose();
    this.drain();
    return value;
  }

  describe(error: QuickJSHandle): string {
    const text = this.helper('message', error);
    const message = this.vm.getString(text);
    text.dispose();
    return message;
  }

  /** Runs the guest's pending promise jobs, as its event loop would after each host event. */
  drain(): void {
    const result = this.runtime.executePendingJobs();
    if (result.error) {
      this.guestErrors.push(this.describe(result.error));
      result.error.dispose();
    }
  }

  /** Evaluates the bundle as Figma would a plugin's main.js; returns QuickJS's refusal if it has one. */
  run(code: string, filename: string): string | undefined {
    const result = this.vm.evalCode(code, filename);
    if (result.error) {
      const message = this.describe(result.error);
      result.error.dispose();
      return message;
    }
    result.value.dispose();
    this.drain();
    return undefined;
  }
}

export interface QuickJSLoadOptions extends Omit<CreateFigmaOptions, 'cloneIntoSandbox'> {
  setup?: (fake: ReturnType<typeof createFigma>) => void;
  file?: ReturnType<typeof createFigma>;
  /** The code to run; build/main.js by default. */
  code?: string;
  /** Guest code run first, e.g. to take away built-ins an older engine would not have. */
  prelude?: string;
}

/** Starts the plugin in a fresh QuickJS context with the stand-in bridged in; the panel is not opened. */
export async function loadPluginInQuickJS(options: QuickJSLoadOptions = {}) {
  const code = options.code ?? (await builtMain());
  const QuickJS = await getQuickJS();
  const runtime = QuickJS.newRuntime();
  const vm = runtime.newContext();
  const bridge = new Bridge(vm, runtime);
  const { setup, file, code: _code, prelude, ...figmaOptions } = options;
  // Values cross by the bridge's own copy, so the stand-in's copy stays on the host side.
  let fake: ReturnType<typeof createFigma>;
  if (file) {
    fake = file;
    fake.rerun({ command: figmaOptions.command ?? '', cloneIntoSandbox: hostClone });
  } else fake = createFigma({ ...figmaOptions, cloneIntoSandbox: hostClone });
  setup?.(fake);
  await fake.settle();

  const warnings: string[] = [];
  const sandboxConsole = {
    log: () => {},
    info: () => {},
    warn: (...args: unknown[]) => warnings.push(args.map(String).join(' ')),
    error: (...args: unknown[]) => warnings.push(args.map(String).join(' ')),
  };
  const globals: Record<string, unknown> = {
    figma: fake.figma,
    __html__: '<!doctype html><title>Framefill panel</title>',
    console: sandboxConsole,
    setTimeout: (fn: () => void, ms?: number) => setTimeout(fn, ms) as unknown as number,
    clearTimeout: (id: number) => clearTimeout(id),
  };
  for (const [name, value] of Object.entries(globals)) {
    const handle = bridge.toGuest(value);
    vm.setProp(vm.global, name, handle);
    handle.dispose();
  }
  const preludeRefused = prelude ? bridge.run(prelude, 'prelude.js') : undefined;
  if (preludeRefused) throw new Error(`the prelude failed: ${preludeRefused}`);
  const refused = bridge.run(code, 'build/main.js');

  async function request<R extends MainToPanelName>(
    name: PanelToMainName,
    payload: unknown,
    reply: R,
  ): Promise<MainToPanelPayload<R>> {
    const from = fake.uiMessages.length;
    fake.sendFromPanel(name, payload);
    return fake.waitForMessage<MainToPanelPayload<R>>(reply, from);
  }

  return {
    fake,
    figma: fake.figma,
    warnings,
    /** QuickJS's error when it refused to parse or run the bundle. */
    refused,
    guestErrors: bridge.guestErrors,
    send<N extends PanelToMainName>(name: N, payload: PanelToMainPayload<N>) {
      fake.sendFromPanel(name, payload);
    },
    request,
    async open() {
      const from = fake.uiMessages.length;
      fake.sendFromPanel('PANEL_READY', {});
      const storage = await fake.waitForMessage<MainToPanelPayload<'STORAGE_LOADED'>>('STORAGE_LOADED', from);
      const selection = await fake.waitForMessage<MainToPanelPayload<'SELECTION_CHANGED'>>('SELECTION_CHANGED', from);
      return { storage, selection };
    },
    async selectAndWait(nodes: Parameters<typeof fake.select>[0]) {
      const from = fake.uiMessages.length;
      fake.select(nodes);
      return fake.waitForMessage<MainToPanelPayload<'SELECTION_CHANGED'>>('SELECTION_CHANGED', from);
    },
  };
}
