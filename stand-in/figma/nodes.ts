// The node tree of the Figma stand-in: document → pages → frames, shapes and text. Each behaviour follows
// Figma's plugin docs (cited beside it); what Figma does not document is kept strict so a plugin that
// relies on it fails here first.
import { encodeSolidPng, type Rgba } from './png';

export type NodeType =
  | 'DOCUMENT'
  | 'PAGE'
  | 'FRAME'
  | 'GROUP'
  | 'SECTION'
  | 'COMPONENT'
  | 'COMPONENT_SET'
  | 'INSTANCE'
  | 'BOOLEAN_OPERATION'
  | 'RECTANGLE'
  | 'ELLIPSE'
  | 'POLYGON'
  | 'STAR'
  | 'VECTOR'
  | 'LINE'
  | 'TEXT'
  | 'SLICE';

export type SceneType = Exclude<NodeType, 'DOCUMENT' | 'PAGE'>;

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

export interface SolidPaint {
  readonly type: 'SOLID';
  readonly color: Rgb;
  readonly opacity?: number;
  readonly visible?: boolean;
}

export interface ImagePaint {
  readonly type: 'IMAGE';
  readonly imageHash: string | null;
  readonly scaleMode: 'FILL' | 'FIT' | 'CROP' | 'TILE';
  readonly opacity?: number;
  readonly visible?: boolean;
}

export type Paint = SolidPaint | ImagePaint;

export interface ExportSettings {
  format?: string;
  constraint?: { type: string; value: number };
  useAbsoluteBounds?: boolean;
  contentsOnly?: boolean;
}

/** What every node shares with the stand-in's bookkeeping. */
export interface World {
  reads: number;
  nextId(): string;
  nodes: Map<string, FakeNode>;
  hasImage(hash: string): boolean;
  pluginId: string;
  relaunchCommands: ReadonlySet<string>;
  exports: Array<{ nodeId: string; settings: ExportSettings | undefined; width: number; height: number }>;
  onSelectionSet(page: FakePage): void;
}

// Types whose nodes have `fills` (MinimalFillsMixin): https://developers.figma.com/docs/plugins/api/properties/nodes-fills
// Groups and slices have none; pages have `backgrounds` instead.
const FILLABLE: ReadonlySet<NodeType> = new Set<NodeType>([
  'FRAME',
  'SECTION',
  'COMPONENT',
  'COMPONENT_SET',
  'INSTANCE',
  'BOOLEAN_OPERATION',
  'RECTANGLE',
  'ELLIPSE',
  'POLYGON',
  'STAR',
  'VECTOR',
  'LINE',
  'TEXT',
]);
const CONTAINERS: ReadonlySet<NodeType> = new Set<NodeType>([
  'DOCUMENT',
  'PAGE',
  'FRAME',
  'GROUP',
  'SECTION',
  'COMPONENT',
  'COMPONENT_SET',
  'INSTANCE',
  'BOOLEAN_OPERATION',
]);
// Children of groups and boolean operations are positioned in the group's parent's space (groups do not
// define a coordinate system), so only these ancestors offset absolute positions.
const COORDINATE_PARENTS: ReadonlySet<NodeType> = new Set<NodeType>([
  'FRAME',
  'SECTION',
  'COMPONENT',
  'COMPONENT_SET',
  'INSTANCE',
]);

const byteLength = (text: string) => new TextEncoder().encode(text).length;
const SCALE_MODES = new Set(['FILL', 'FIT', 'CROP', 'TILE']);

function freezeDeep<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const key of Object.keys(value)) freezeDeep((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

export class FakeNode {
  readonly id: string;
  readonly #type: NodeType;
  #name: string;
  #parent: FakeNode | null = null;
  #removed = false;
  #x = 0;
  #y = 0;
  #width = 100;
  #height = 100;
  #locked = false;
  #visible = true;
  #fills: readonly Paint[] = Object.freeze([]);
  #children: FakeNode[] = [];
  #pluginData = new Map<string, string>();
  #relaunchData: Record<string, string> = {};
  #selection: readonly FakeNode[] = Object.freeze([]);
  characters = '';

  constructor(
    protected readonly world: World,
    type: NodeType,
    name: string,
  ) {
    this.id = world.nextId();
    this.#type = type;
    this.#name = name;
    world.nodes.set(this.id, this);
    if (FILLABLE.has(type)) {
      // Figma's createFrame() starts with a white fill; shapes with a grey one.
      const grey = type === 'FRAME' || type === 'COMPONENT' ? 1 : 0.85;
      this.#fills = freezeDeep([{ type: 'SOLID', color: { r: grey, g: grey, b: grey } } as Paint]);
    }
  }

  #read(): void {
    this.world.reads++;
  }

  /** Figma throws when a removed node is used: https://developers.figma.com/docs/plugins/api/properties/nodes-removed */
  #alive(): void {
    if (this.#removed) throw new Error(`The node with id "${this.id}" does not exist`);
  }

  #has(kind: 'fills' | 'children' | 'scene' | 'selection'): void {
    const ok =
      kind === 'fills'
        ? FILLABLE.has(this.#type)
        : kind === 'children'
          ? CONTAINERS.has(this.#type)
          : kind === 'selection'
            ? this.#type === 'PAGE'
            : this.#type !== 'PAGE' && this.#type !== 'DOCUMENT';
    if (!ok) throw new TypeError(`${this.#type} nodes have no ${kind === 'scene' ? 'such' : kind} property`);
  }

  get type(): NodeType {
    this.#read();
    return this.#type;
  }

  get name(): string {
    this.#read();
    this.#alive();
    return this.#name;
  }

  set name(value: string) {
    this.#alive();
    this.#name = String(value);
  }

  get removed(): boolean {
    this.#read();
    return this.#removed;
  }

  get parent(): FakeNode | null {
    this.#read();
    this.#alive();
    return this.#parent;
  }

  get x(): number {
    this.#read();
    this.#alive();
    return this.#x;
  }

  set x(value: number) {
    this.#alive();
    this.#x = value;
  }

  get y(): number {
    this.#read();
    this.#alive();
    return this.#y;
  }

  set y(value: number) {
    this.#alive();
    this.#y = value;
  }

  get width(): number {
    this.#read();
    this.#alive();
    return this.#width;
  }

  get height(): number {
    this.#read();
    this.#alive();
    return this.#height;
  }

  /** https://developers.figma.com/docs/plugins/api/properties/nodes-resize — sizes below 0.01 throw. */
  resize(width: number, height: number): void {
    this.#alive();
    if (!(width >= 0.01) || !(height >= 0.01)) throw new Error('Expected width and height to be >= 0.01');
    this.#width = width;
    this.#height = height;
  }

  /** Test set-up only: Figma's lines have height 0, which `resize` cannot produce. */
  setSizeUnchecked(width: number, height: number): void {
    this.#width = width;
    this.#height = height;
  }

  /**
   * https://developers.figma.com/docs/plugins/api/properties/nodes-locked — locking only stops the user
   * selecting and dragging; "does not affect a plugin's ability to write". A node is locked if it or any
   * ancestor is.
   */
  get locked(): boolean {
    this.#read();
    this.#alive();
    return this.#locked;
  }

  set locked(value: boolean) {
    this.#alive();
    this.#locked = Boolean(value);
  }

  get visible(): boolean {
    this.#read();
    return this.#visible;
  }

  set visible(value: boolean) {
    this.#visible = Boolean(value);
  }

  get absoluteBoundingBox(): { x: number; y: number; width: number; height: number } {
    this.#read();
    this.#alive();
    let x = this.#x;
    let y = this.#y;
    for (let p = this.#parent; p; p = p.#parent) {
      if (COORDINATE_PARENTS.has(p.#type)) {
        x += p.#x;
        y += p.#y;
      }
    }
    return { x, y, width: this.#width, height: this.#height };
  }

  /**
   * Paints are read-only: the getter hands out a frozen array of frozen paints, so `fills.push(…)` or
   * `fills[0].color.r = 1` fails, and a change means assigning a new array.
   * https://developers.figma.com/docs/plugins/editing-properties
   * https://developers.figma.com/docs/plugins/api/properties/nodes-fills
   */
  get fills(): readonly Paint[] {
    this.#read();
    this.#alive();
    this.#has('fills');
    return this.#fills;
  }

  set fills(value: readonly Paint[]) {
    this.#alive();
    this.#has('fills');
    if (!Array.isArray(value)) throw new TypeError('fills must be an array of paints');
    const copy = (value as unknown[]).map((paint) => validatePaint(paint, this.world));
    this.#fills = freezeDeep(copy);
  }

  get children(): readonly FakeNode[] {
    this.#read();
    this.#alive();
    this.#has('children');
    return Object.freeze(this.#children.slice());
  }

  appendChild(child: FakeNode): void {
    this.insertChild(this.#children.length, child);
  }

  insertChild(index: number, child: FakeNode): void {
    this.#alive();
    this.#has('children');
    child.#alive();
    if (child.#type === 'PAGE' ? this.#type !== 'DOCUMENT' : this.#type === 'DOCUMENT') {
      throw new Error(`Cannot insert a ${child.#type} into a ${this.#type}`);
    }
    for (let p: FakeNode | null = this; p; p = p.#parent) {
      if (p === child) throw new Error('Cannot insert a node into itself or its descendant');
    }
    child.#detach();
    this.#children.splice(Math.max(0, Math.min(index, this.#children.length)), 0, child);
    child.#parent = this;
  }

  #detach(): void {
    const parent = this.#parent;
    if (!parent) return;
    parent.#children = parent.#children.filter((c) => c !== this);
    this.#parent = null;
  }

  /** https://developers.figma.com/docs/plugins/api/properties/nodes-remove — the node and its subtree are gone. */
  remove(): void {
    this.#alive();
    if (this.#type === 'DOCUMENT') throw new Error('Cannot remove the document');
    const page = this.page();
    this.#detach();
    const mark = (n: FakeNode) => {
      n.#removed = true;
      for (const c of n.#children) mark(c);
    };
    mark(this);
    if (page) {
      const kept = page.#selection.filter((n) => !n.#removed);
      if (kept.length !== page.#selection.length) {
        page.#selection = Object.freeze(kept);
        this.world.onSelectionSet(page);
      }
    }
  }

  /** The page holding this node (no property read counted: a stand-in helper, not Figma API). */
  page(): FakePage | null {
    let n: FakeNode | null = this;
    while (n && n.#type !== 'PAGE') n = n.#parent;
    return n;
  }

  isLockedDeep(): boolean {
    for (let n: FakeNode | null = this; n && n.#type !== 'PAGE'; n = n.#parent) if (n.#locked) return true;
    return false;
  }

  /** https://developers.figma.com/docs/plugins/api/PageNode#selection — only this page's live nodes. */
  get selection(): readonly FakeNode[] {
    this.#read();
    this.#has('selection');
    return this.#selection;
  }

  set selection(nodes: readonly FakeNode[]) {
    this.#has('selection');
    if (!Array.isArray(nodes)) throw new TypeError('selection must be an array of nodes');
    const unique: FakeNode[] = [];
    for (const node of nodes as FakeNode[]) {
      if (!(node instanceof FakeNode) || node.#removed || node.page() !== this || node === this) {
        throw new Error('Selection can only contain live nodes on this page');
      }
      if (!unique.includes(node)) unique.push(node);
    }
    this.#selection = Object.freeze(unique);
    this.world.onSelectionSet(this);
  }

  /**
   * https://developers.figma.com/docs/plugins/api/properties/nodes-setplugindata — private to the plugin id;
   * "the total size of your entry (pluginId, key, value) cannot exceed 100 kB"; "" removes the key.
   */
  setPluginData(key: string, value: string): void {
    this.#alive();
    if (typeof key !== 'string' || typeof value !== 'string') throw new TypeError('key and value must be strings');
    const size = byteLength(this.world.pluginId) + byteLength(key) + byteLength(value);
    if (size > 100_000) throw new Error(`Plugin data entry is ${size} bytes; the limit is 100 kB`);
    if (value === '') this.#pluginData.delete(key);
    else this.#pluginData.set(key, value);
  }

  /** https://developers.figma.com/docs/plugins/api/properties/nodes-getplugindata — "" when unset. */
  getPluginData(key: string): string {
    this.#alive();
    return this.#pluginData.get(key) ?? '';
  }

  getPluginDataKeys(): string[] {
    this.#alive();
    return [...this.#pluginData.keys()];
  }

  /**
   * https://developers.figma.com/docs/plugins/api/properties/nodes-setrelaunchdata — each command must be one
   * of the manifest's `relaunchButtons`; a description over 1000 characters throws; `{}` clears.
   */
  setRelaunchData(data: Record<string, string>): void {
    this.#alive();
    const copy: Record<string, string> = {};
    for (const [command, description] of Object.entries(data)) {
      if (!this.world.relaunchCommands.has(command)) {
        throw new Error(`Relaunch command "${command}" is not in the manifest's relaunchButtons`);
      }
      if (typeof description !== 'string' || description.length > 1000) {
        throw new Error('Relaunch description must be a string of at most 1000 characters');
      }
      copy[command] = description;
    }
    this.#relaunchData = copy;
  }

  getRelaunchData(): Record<string, string> {
    this.#alive();
    return { ...this.#relaunchData };
  }

  /**
   * https://developers.figma.com/docs/plugins/api/properties/nodes-exportasync and
   * https://developers.figma.com/docs/plugins/api/ExportSettings — no settings means PNG at 1x; the
   * constraint is SCALE (×value), WIDTH or HEIGHT (that edge becomes value, the other follows the ratio).
   * Without rotation, effects or strokes, absolute and render bounds are the node's own rectangle. The
   * pixels are the node's top visible solid fill (an image fill renders mid-grey, no fill transparent).
   */
  async exportAsync(settings?: ExportSettings): Promise<Uint8Array> {
    this.#alive();
    this.#has('scene');
    const format = settings?.format ?? 'PNG';
    if (format !== 'PNG') throw new Error(`The stand-in exports PNG only (asked for ${format})`);
    const w = this.#width;
    const h = this.#height;
    if (!(w > 0) || !(h > 0)) throw new Error('Cannot export a node with no area');
    const constraint = settings?.constraint ?? { type: 'SCALE', value: 1 };
    if (!(constraint.value > 0) || !Number.isFinite(constraint.value))
      throw new Error('Invalid export constraint value');
    const scale =
      constraint.type === 'SCALE'
        ? constraint.value
        : constraint.type === 'WIDTH'
          ? constraint.value / w
          : constraint.type === 'HEIGHT'
            ? constraint.value / h
            : Number.NaN;
    if (Number.isNaN(scale)) throw new Error(`Unknown export constraint ${constraint.type}`);
    const width = Math.max(1, Math.round(w * scale));
    const height = Math.max(1, Math.round(h * scale));
    this.world.exports.push({ nodeId: this.id, settings, width, height });
    return encodeSolidPng(width, height, renderColour(this.#fills));
  }
}

export type FakePage = FakeNode;

function renderColour(fills: readonly Paint[]): Rgba {
  for (let i = fills.length - 1; i >= 0; i--) {
    const paint = fills[i] as Paint;
    if (paint.visible === false) continue;
    if (paint.type === 'SOLID') return { ...paint.color, a: paint.opacity ?? 1 };
    return { r: 0.5, g: 0.5, b: 0.5, a: paint.opacity ?? 1 };
  }
  return { r: 0, g: 0, b: 0, a: 0 };
}

/** https://developers.figma.com/docs/plugins/api/Paint — SOLID needs a colour; IMAGE a known hash and a scale mode. */
function validatePaint(raw: unknown, world: World): Paint {
  if (!raw || typeof raw !== 'object') throw new TypeError('A paint must be an object');
  const paint = raw as Record<string, unknown>;
  const common: { opacity?: number; visible?: boolean } = {};
  if (paint.opacity !== undefined) {
    if (typeof paint.opacity !== 'number' || paint.opacity < 0 || paint.opacity > 1)
      throw new Error('Paint opacity must be 0…1');
    common.opacity = paint.opacity;
  }
  if (paint.visible !== undefined) common.visible = Boolean(paint.visible);
  if (paint.type === 'SOLID') {
    const c = paint.color as Record<string, unknown> | undefined;
    if (!c || ![c.r, c.g, c.b].every((v) => typeof v === 'number' && v >= 0 && v <= 1))
      throw new Error('SOLID paint needs color {r, g, b} in 0…1');
    return { type: 'SOLID', color: { r: c.r as number, g: c.g as number, b: c.b as number }, ...common };
  }
  if (paint.type === 'IMAGE') {
    const hash = paint.imageHash;
    if (hash !== null && (typeof hash !== 'string' || !world.hasImage(hash)))
      throw new Error(`Unknown image hash ${String(hash)}: create the image with figma.createImage first`);
    const scaleMode = paint.scaleMode;
    if (typeof scaleMode !== 'string' || !SCALE_MODES.has(scaleMode))
      throw new Error('IMAGE paint needs scaleMode FILL, FIT, CROP or TILE');
    return {
      type: 'IMAGE',
      imageHash: hash as string | null,
      scaleMode: scaleMode as ImagePaint['scaleMode'],
      ...common,
    };
  }
  throw new Error(`The stand-in models SOLID and IMAGE paints only (got ${String(paint.type)})`);
}
