// The node tree of the Figma stand-in: document → pages → frames, shapes, instances and text. Each behaviour
// follows Figma's plugin docs or typings (cited beside it); what Figma does not document is kept strict so a
// plugin that relies on it fails here first. Never imports src/ or ui/: the playground ships this.
import { formatPath, parsePath, subpathAreas, transformPath } from './geometry';
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

/** https://developers.figma.com/docs/plugins/api/VectorPath — `NONE` marks an open path, which has no fill. */
export interface VectorPath {
  readonly windingRule: 'NONZERO' | 'EVENODD' | 'NONE';
  readonly data: string;
}

/** https://developers.figma.com/docs/plugins/api/BooleanOperationNode#booleanoperation */
export type BooleanOperation = 'UNION' | 'INTERSECT' | 'SUBTRACT' | 'EXCLUDE';
const BOOLEAN_OPERATIONS: ReadonlySet<string> = new Set(['UNION', 'INTERSECT', 'SUBTRACT', 'EXCLUDE']);
const WINDING_RULES: ReadonlySet<string> = new Set(['NONZERO', 'EVENODD', 'NONE']);

export interface ExportSettings {
  format?: string;
  constraint?: { type: string; value: number };
  useAbsoluteBounds?: boolean;
  contentsOnly?: boolean;
}

/** One entry of a `documentchange` event: https://developers.figma.com/docs/plugins/api/DocumentChange */
export type NodeChange =
  | { type: 'CREATE'; id: string }
  | { type: 'DELETE'; id: string }
  | { type: 'PROPERTY_CHANGE'; id: string; properties: string[] };

/** What every node shares with the stand-in's bookkeeping. */
export interface World {
  changed(change: NodeChange): void;
  /** Records how to revert a change, in the open undo step (see commitUndo/triggerUndo in index.ts). */
  journal(undo: () => void): void;
  reads: number;
  nextId(): string;
  nodes: Map<string, FakeNode>;
  hasImage(hash: string): boolean;
  pluginId: string;
  relaunchCommands: ReadonlySet<string>;
  exports: Array<{ nodeId: string; settings: ExportSettings | undefined; width: number; height: number }>;
  onSelectionSet(page: FakePage): void;
  /** Each page's `nodechange` callbacks (index.ts delivers every page the changes of its own nodes). */
  pageListeners: Map<FakePage, Array<{ fn: (event: unknown) => void; once: boolean }>>;
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

// Frames, components and instances can lay out their children: https://developers.figma.com/docs/plugins/api/properties/nodes-layoutmode
const AUTO_LAYOUT_CAPABLE: ReadonlySet<NodeType> = new Set<NodeType>(['FRAME', 'COMPONENT', 'INSTANCE']);
export type LayoutMode = 'NONE' | 'HORIZONTAL' | 'VERTICAL';

/**
 * Figma refuses to put a node into an instance or anything inside one: an instance's layers follow its main
 * component and only overrides change them (https://developers.figma.com/docs/plugins/api/InstanceNode). The
 * message is the one community plugins report meeting; the plugin docs do not print it.
 */
export const INSIDE_INSTANCE_ERROR = 'Cannot move node. New parent is an instance or is inside of an instance';

const byteLength = (text: string) => new TextEncoder().encode(text).length;
/** Rounds away the float noise of cos/sin (cos 90° is 6e-17), so a 90° turn swaps edges exactly. */
const tidy = (v: number) => Math.round(v * 1e6) / 1e6;
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
  #rotation = 0;
  #layoutMode: LayoutMode = 'NONE';
  #itemSpacing = 0;
  #vectorPaths: readonly VectorPath[] = Object.freeze([]);
  #booleanOperation: BooleanOperation = 'UNION';
  characters = '';

  /** `id` is given for an instance's sub-layers, whose ids Figma builds as `I<instance id>;<layer id>`. */
  constructor(
    protected readonly world: World,
    type: NodeType,
    name: string,
    id?: string,
  ) {
    this.id = id ?? world.nextId();
    this.#type = type;
    this.#name = name;
    world.nodes.set(this.id, this);
    if (FILLABLE.has(type)) {
      // Figma's createFrame() starts with a white fill; shapes with a grey one.
      const grey = type === 'FRAME' || type === 'COMPONENT' ? 1 : 0.85;
      this.#fills = freezeDeep([{ type: 'SOLID', color: { r: grey, g: grey, b: grey } } as Paint]);
    }
  }

  #change(...properties: string[]): void {
    if (!this.#removed && this.page()) this.world.changed({ type: 'PROPERTY_CHANGE', id: this.id, properties });
  }

  /** The parent lays this node out (auto-layout): its x/y are computed. */
  #laidOut(): boolean {
    const parent = this.#parent;
    return parent !== null && parent.#layoutMode !== 'NONE';
  }

  /**
   * Position relative to the parent. In an auto-layout parent it is computed from the order of the children
   * ("This value is automatically computed in children of auto-layout frames", typings of `x`/`y`): the
   * stand-in stacks them along the axis with `itemSpacing` and no padding.
   */
  #position(): { x: number; y: number } {
    const parent = this.#parent;
    if (!parent || parent.#layoutMode === 'NONE') return { x: this.#x, y: this.#y };
    let along = 0;
    for (const sibling of parent.#children) {
      if (sibling === this) break;
      const box = sibling.#rotatedSize();
      along += (parent.#layoutMode === 'HORIZONTAL' ? box.width : box.height) + parent.#itemSpacing;
    }
    return parent.#layoutMode === 'HORIZONTAL' ? { x: along, y: 0 } : { x: 0, y: along };
  }

  /** The axis-aligned box of the node turned by its rotation about its top-left corner (its x/y). */
  #rotatedBox(): { left: number; top: number; width: number; height: number } {
    // rotation = atan2(-m10, m00): m00 = cos, m01 = sin, m10 = -sin, m11 = cos (typings of `rotation`).
    const radians = (this.#rotation * Math.PI) / 180;
    const c = Math.cos(radians);
    const s = Math.sin(radians);
    const w = this.#width;
    const h = this.#height;
    const xs = [0, c * w, s * h, c * w + s * h];
    const ys = [0, -s * w, c * h, -s * w + c * h];
    const left = tidy(Math.min(...xs));
    const top = tidy(Math.min(...ys));
    return { left, top, width: tidy(Math.max(...xs)) - left, height: tidy(Math.max(...ys)) - top };
  }

  #rotatedSize(): { width: number; height: number } {
    const { width, height } = this.#rotatedBox();
    return { width, height };
  }

  /** The node or an ancestor is an instance: https://developers.figma.com/docs/plugins/api/InstanceNode */
  #inInstance(): boolean {
    for (let n: FakeNode | null = this; n; n = n.#parent) if (n.#type === 'INSTANCE') return true;
    return false;
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
    this.#change('name');
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
    return this.#position().x;
  }

  /** "Setting this property for these auto-layout children will no-op" (typings of `x`). */
  set x(value: number) {
    this.#alive();
    if (this.#laidOut()) return;
    this.#x = value;
    this.#change('x');
  }

  get y(): number {
    this.#read();
    this.#alive();
    return this.#position().y;
  }

  set y(value: number) {
    this.#alive();
    if (this.#laidOut()) return;
    this.#y = value;
    this.#change('y');
  }

  /**
   * Degrees, -180…180, about the node's top-left corner: setting it changes only the rotation part of
   * `relativeTransform`, so x/y stay (https://developers.figma.com/docs/plugins/api/properties/nodes-rotation).
   */
  get rotation(): number {
    this.#read();
    this.#alive();
    return this.#rotation;
  }

  set rotation(value: number) {
    this.#alive();
    this.#has('scene');
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError('rotation must be a finite number');
    const wrapped = ((((value + 180) % 360) + 360) % 360) - 180;
    this.#rotation = wrapped === -180 && value > 0 ? 180 : wrapped;
    this.#change('rotation');
  }

  /** https://developers.figma.com/docs/plugins/api/properties/nodes-layoutmode — frames, components, instances. */
  get layoutMode(): LayoutMode {
    this.#read();
    this.#alive();
    if (!AUTO_LAYOUT_CAPABLE.has(this.#type)) throw new TypeError(`${this.#type} nodes have no layoutMode property`);
    return this.#layoutMode;
  }

  set layoutMode(value: LayoutMode) {
    this.#alive();
    if (!AUTO_LAYOUT_CAPABLE.has(this.#type)) throw new TypeError(`${this.#type} nodes have no layoutMode property`);
    if (!['NONE', 'HORIZONTAL', 'VERTICAL'].includes(value)) throw new Error(`Invalid layoutMode ${String(value)}`);
    this.#layoutMode = value;
    this.#change('layoutMode');
  }

  get itemSpacing(): number {
    this.#read();
    this.#alive();
    return this.#itemSpacing;
  }

  set itemSpacing(value: number) {
    this.#alive();
    this.#itemSpacing = value;
    this.#change('itemSpacing');
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
    this.#change('width', 'height');
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
    this.#change('locked');
  }

  get visible(): boolean {
    this.#read();
    return this.#visible;
  }

  set visible(value: boolean) {
    this.#visible = Boolean(value);
    this.#change('visible');
  }

  /**
   * https://developers.figma.com/docs/plugins/api/properties/nodes-absoluteboundingbox — the axis-aligned box
   * around the node as drawn, so a rotated node's box is its turned rectangle's. Ancestors add their offsets
   * (not their rotations: the stand-in does not compose nested rotations).
   */
  get absoluteBoundingBox(): { x: number; y: number; width: number; height: number } {
    this.#read();
    this.#alive();
    const own = this.#position();
    const box = this.#rotatedBox();
    let x = own.x + box.left;
    let y = own.y + box.top;
    for (let p = this.#parent; p; p = p.#parent) {
      if (COORDINATE_PARENTS.has(p.#type)) {
        const at = p.#position();
        x += at.x;
        y += at.y;
      }
    }
    return { x, y, width: box.width, height: box.height };
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
    const before = this.#fills;
    this.#fills = freezeDeep(copy);
    this.#change('fills');
    this.world.journal(() => {
      this.#fills = before;
      this.#change('fills');
    });
  }

  /**
   * https://developers.figma.com/docs/plugins/api/properties/nodes-fillgeometry — "An array of paths representing
   * the object fills relative to the node", as VectorPath data (https://developers.figma.com/docs/plugins/api/VectorPath:
   * Figma writes M, L, C and Z). Modelled for rectangles (no corner radius here), ellipses (four cubic Béziers, as
   * Figma draws them), vectors (their `vectorPaths` less the open ones: "An open path won't have a fill") and
   * boolean UNIONs of those; anything else throws rather than pretend.
   */
  get fillGeometry(): ReadonlyArray<{ windingRule: 'NONZERO' | 'EVENODD'; data: string }> {
    this.#read();
    this.#alive();
    const w = this.#width;
    const h = this.#height;
    if (this.#type === 'RECTANGLE')
      return [{ windingRule: 'NONZERO', data: `M 0 0 L ${w} 0 L ${w} ${h} L 0 ${h} L 0 0 Z` }];
    if (this.#type === 'ELLIPSE') {
      const k = 0.5522847498;
      const [rx, ry] = [w / 2, h / 2];
      const c = (x: number, y: number) => `${x} ${y}`;
      const data = [
        `M ${c(w, ry)}`,
        `C ${c(w, ry + k * ry)} ${c(rx + k * rx, h)} ${c(rx, h)}`,
        `C ${c(rx - k * rx, h)} ${c(0, ry + k * ry)} ${c(0, ry)}`,
        `C ${c(0, ry - k * ry)} ${c(rx - k * rx, 0)} ${c(rx, 0)}`,
        `C ${c(rx + k * rx, 0)} ${c(w, ry - k * ry)} ${c(w, ry)}`,
        'Z',
      ].join(' ');
      return [{ windingRule: 'NONZERO', data }];
    }
    if (this.#type === 'VECTOR') {
      return Object.freeze(
        this.#vectorPaths.flatMap((path) =>
          path.windingRule === 'NONE' ? [] : [Object.freeze({ windingRule: path.windingRule, data: path.data })],
        ),
      );
    }
    if (this.#type === 'BOOLEAN_OPERATION') return this.#unionGeometry();
    throw new Error(
      `The stand-in models fillGeometry for RECTANGLE, ELLIPSE, VECTOR and BOOLEAN_OPERATION only, not ${this.#type}`,
    );
  }

  /**
   * A boolean group's fill is computed from its visible children (https://developers.figma.com/docs/plugins/api/BooleanOperationNode),
   * which sit in the group's parent's space (groups and boolean operations have no coordinate system of their own,
   * see COORDINATE_PARENTS). Figma returns the computed outline; the stand-in returns the children's outlines placed
   * in the node's space under NONZERO, which fills exactly their union as long as every outline turns the same way
   * and has no holes. So it models UNION only, and throws for the other operations, even-odd children and
   * outlines that turn the other way, instead of drawing a wrong area.
   */
  #unionGeometry(): ReadonlyArray<{ windingRule: 'NONZERO'; data: string }> {
    if (this.#booleanOperation !== 'UNION') {
      throw new Error(`The stand-in computes fillGeometry for boolean UNIONs only, not ${this.#booleanOperation}`);
    }
    const origin = this.#position();
    const parts: string[] = [];
    for (const child of this.#children) {
      if (!child.#visible) continue;
      const at = child.#position();
      const theta = (child.#rotation * Math.PI) / 180;
      const [cos, sin] = [Math.cos(theta), Math.sin(theta)];
      for (const path of child.fillGeometry) {
        if (path.windingRule !== 'NONZERO') {
          throw new Error(`The stand-in does not unite ${path.windingRule} outlines (of “${child.#name}”)`);
        }
        // The child's relativeTransform (rotation about its top-left corner, then its position), moved into this node's space.
        const placed = transformPath(parsePath(path.data), [cos, -sin, sin, cos, at.x - origin.x, at.y - origin.y]);
        if (subpathAreas(placed).some((area) => area < 0)) {
          throw new Error(`The stand-in unites clockwise outlines only; “${child.#name}” turns the other way`);
        }
        parts.push(formatPath(placed));
      }
    }
    return parts.length === 0
      ? []
      : Object.freeze([Object.freeze({ windingRule: 'NONZERO' as const, data: parts.join(' ') })]);
  }

  /**
   * https://developers.figma.com/docs/plugins/api/VectorNode#vectorpaths — vectors only. Setting it checks every
   * path's winding rule and data as VectorPath documents them (and throws otherwise); Q is stored as C, as Figma
   * converts quadratic splines internally.
   */
  get vectorPaths(): readonly VectorPath[] {
    this.#read();
    this.#alive();
    if (this.#type !== 'VECTOR') throw new TypeError(`${this.#type} nodes have no vectorPaths property`);
    return this.#vectorPaths;
  }

  set vectorPaths(value: readonly VectorPath[]) {
    this.#alive();
    if (this.#type !== 'VECTOR') throw new TypeError(`${this.#type} nodes have no vectorPaths property`);
    if (!Array.isArray(value)) throw new TypeError('vectorPaths must be an array of VectorPath');
    const paths = (value as unknown[]).map((raw) => {
      const path = raw as Partial<VectorPath> | null;
      if (!path || typeof path !== 'object') throw new TypeError('A VectorPath must be an object');
      if (!WINDING_RULES.has(String(path.windingRule))) {
        throw new Error(`Invalid windingRule ${String(path.windingRule)}: use NONZERO, EVENODD or NONE`);
      }
      return {
        windingRule: path.windingRule as VectorPath['windingRule'],
        data: formatPath(parsePath(path.data as string)),
      };
    });
    const before = this.#vectorPaths;
    this.#vectorPaths = freezeDeep(paths);
    this.#change('vectorPaths');
    this.world.journal(() => {
      this.#vectorPaths = before;
      this.#change('vectorPaths');
    });
  }

  /** https://developers.figma.com/docs/plugins/api/BooleanOperationNode#booleanoperation — UNION by default. */
  get booleanOperation(): BooleanOperation {
    this.#read();
    this.#alive();
    if (this.#type !== 'BOOLEAN_OPERATION')
      throw new TypeError(`${this.#type} nodes have no booleanOperation property`);
    return this.#booleanOperation;
  }

  set booleanOperation(value: BooleanOperation) {
    this.#alive();
    if (this.#type !== 'BOOLEAN_OPERATION')
      throw new TypeError(`${this.#type} nodes have no booleanOperation property`);
    if (!BOOLEAN_OPERATIONS.has(value)) throw new Error(`Invalid booleanOperation ${String(value)}`);
    this.#booleanOperation = value;
    this.#change('booleanOperation');
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

  /**
   * https://developers.figma.com/docs/plugins/api/properties/nodes-insertchild — in an auto-layout parent the
   * index is the child's place in the flow. Never into an instance or inside one, and an instance's own
   * sub-layers cannot be moved out (INSIDE_INSTANCE_ERROR).
   */
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
    if (this.#inInstance()) throw new Error(INSIDE_INSTANCE_ERROR);
    for (let n = child.#parent; n; n = n.#parent) {
      if (n.#type === 'INSTANCE') throw new Error('Cannot move node. The node is inside of an instance');
    }
    const created = child.#parent === null;
    child.#detach();
    this.#children.splice(Math.max(0, Math.min(index, this.#children.length)), 0, child);
    child.#parent = this;
    // Pages are the document's own structure (PageNode changes are not DocumentChange entries here).
    if (created) {
      if (child.#type !== 'PAGE' && child.page()) this.world.changed({ type: 'CREATE', id: child.id });
    } else child.#change('parent');
  }

  /** Test set-up only: builds an instance's sub-layers, which the API itself refuses to insert. */
  appendSublayerUnchecked(child: FakeNode): void {
    if (!this.#inInstance()) throw new Error('appendSublayerUnchecked is for building instances');
    this.#children.push(child);
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
    if (page) this.world.changed({ type: 'DELETE', id: this.id });
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

  /**
   * What a change event names once this node is gone (https://developers.figma.com/docs/plugins/api/RemovedNode);
   * nothing while it is alive. No property read counted: a stand-in helper, not Figma API.
   */
  removedView(): { removed: true; id: string; type: NodeType } | undefined {
    return this.#removed ? { removed: true, id: this.id, type: this.#type } : undefined;
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

  /**
   * https://developers.figma.com/docs/plugins/api/PageNode#on — a page's one event, `nodechange`: "emitted when a
   * node on the page is added, removed, or updated", batched and never synchronously, like `documentchange`. Other
   * nodes have no `on`.
   */
  on(type: string, callback: (event: unknown) => void): void {
    this.#listen(type, callback, false);
  }

  once(type: string, callback: (event: unknown) => void): void {
    this.#listen(type, callback, true);
  }

  off(type: string, callback: (event: unknown) => void): void {
    this.#pageEvent(type);
    const list = this.world.pageListeners.get(this) ?? [];
    this.world.pageListeners.set(
      this,
      list.filter((l) => l.fn !== callback),
    );
  }

  #listen(type: string, callback: (event: unknown) => void, once: boolean): void {
    this.#pageEvent(type);
    if (typeof callback !== 'function') throw new TypeError('The callback must be a function');
    this.world.pageListeners.set(this, [...(this.world.pageListeners.get(this) ?? []), { fn: callback, once }]);
  }

  #pageEvent(type: string): void {
    if (this.#type !== 'PAGE') throw new TypeError(`${this.#type} nodes have no events (only pages have nodechange)`);
    if (type !== 'nodechange') throw new Error(`Pages have no '${type}' event: the one they emit is 'nodechange'`);
  }

  /**
   * https://developers.figma.com/docs/plugins/api/PageNode#selection — only this page's live nodes (others
   * throw), without duplicates, and "never … both a node and one of its descendents": a descendant of
   * another selected node is left out, as only directly selected nodes are listed (typings of `selection`).
   */
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
    const direct = unique.filter((node) => {
      for (let p = node.#parent; p; p = p.#parent) if (unique.includes(p)) return false;
      return true;
    });
    this.#selection = Object.freeze(direct);
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
    const before = this.#pluginData.get(key);
    if (value === '') this.#pluginData.delete(key);
    else this.#pluginData.set(key, value);
    this.#change('pluginData');
    this.world.journal(() => {
      if (before === undefined) this.#pluginData.delete(key);
      else this.#pluginData.set(key, before);
      this.#change('pluginData');
    });
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
    this.#change('relaunchData');
  }

  getRelaunchData(): Record<string, string> {
    this.#alive();
    return { ...this.#relaunchData };
  }

  /**
   * https://developers.figma.com/docs/plugins/api/properties/nodes-exportasync and
   * https://developers.figma.com/docs/plugins/api/ExportSettings — no settings means PNG at 1x; the
   * constraint is SCALE (×value), WIDTH or HEIGHT (that edge of the exported image becomes value, the other
   * follows the ratio). The image covers the node's bounds as drawn (`useAbsoluteBounds` or not: without
   * effects, strokes or clipped content both are the turned rectangle), so a rotated node exports its
   * absoluteBoundingBox. The pixels are the node's top visible solid fill (an image fill renders mid-grey).
   */
  async exportAsync(settings?: ExportSettings): Promise<Uint8Array> {
    this.#alive();
    this.#has('scene');
    const format = settings?.format ?? 'PNG';
    if (format !== 'PNG') throw new Error(`The stand-in exports PNG only (asked for ${format})`);
    const { width: w, height: h } = this.#rotatedSize();
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
