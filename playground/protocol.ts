// Messages between the playground page and its sandbox worker (the document and the running plugin).
// Both sides validate what arrives with these schemas; the plugin's own messages ride inside, untouched.
import { z } from 'zod';

const Rgb = z.object({ r: z.number(), g: z.number(), b: z.number() });

export const PaintSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('SOLID'), color: Rgb, opacity: z.number().optional(), visible: z.boolean().optional() }),
  z.object({
    type: z.literal('IMAGE'),
    imageHash: z.string().nullable(),
    scaleMode: z.enum(['FILL', 'FIT', 'CROP', 'TILE']),
    opacity: z.number().optional(),
    visible: z.boolean().optional(),
  }),
]);
export type PaintView = z.infer<typeof PaintSchema>;

/** A node as the page draws it: geometry relative to its parent, as in Figma. */
export interface NodeView {
  id: string;
  type: string;
  name: string;
  x: number;
  y: number;
  width: number;
  height: number;
  visible: boolean;
  fills: PaintView[];
  /** getRelaunchData(): command → description; shown as buttons on the canvas. */
  relaunch: Record<string, string>;
  /** This plugin's data on the node (Framefill's provenance under `framefill`). */
  pluginData: Record<string, string>;
  characters: string;
  children: NodeView[];
}

export const NodeViewSchema: z.ZodType<NodeView> = z.lazy(() =>
  z.object({
    id: z.string(),
    type: z.string(),
    name: z.string(),
    x: z.number(),
    y: z.number(),
    width: z.number(),
    height: z.number(),
    visible: z.boolean(),
    fills: z.array(PaintSchema),
    relaunch: z.record(z.string(), z.string()),
    pluginData: z.record(z.string(), z.string()),
    characters: z.string(),
    children: z.array(NodeViewSchema),
  }),
);

export const SnapshotSchema = z.object({
  nodes: z.array(NodeViewSchema),
  selection: z.array(z.string()),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;

const Point = z.object({ x: z.number(), y: z.number() });

export const PageToSandbox = z.discriminatedUnion('kind', [
  /** Starts the document; `mainJs` is build/main.js and `html` build/ui.html (the plugin's `__html__`). */
  z.object({
    kind: z.literal('boot'),
    mainJs: z.string(),
    html: z.string(),
    storage: z.record(z.string(), z.unknown()),
  }),
  /** Runs the plugin: '' from the plugins menu, a relaunch command from a node's button (that node selected first). */
  z.object({ kind: z.literal('run'), command: z.string(), nodeId: z.string().optional() }),
  /** The user closes the plugin window. */
  z.object({ kind: z.literal('close') }),
  /** The designer's ⌘Z / Ctrl+Z on the canvas: one step of the undo history. */
  z.object({ kind: z.literal('undo') }),
  z.object({ kind: z.literal('select'), ids: z.array(z.string()) }),
  /** The user draws a shape inside a frame (frame coordinates), as with Figma's ellipse or rectangle tool. */
  z.object({
    kind: z.literal('draw'),
    shape: z.enum(['ELLIPSE', 'RECTANGLE']),
    parentId: z.string(),
    x: z.number(),
    y: z.number(),
    width: z.number().positive(),
    height: z.number().positive(),
  }),
  z.object({ kind: z.literal('viewport'), center: Point, zoom: z.number().positive() }),
  /** What the panel posted as `{pluginMessage}`; `run` drops messages from a panel that has since closed. */
  z.object({ kind: z.literal('panel'), run: z.number().int(), pluginMessage: z.unknown() }),
]);
export type PageToSandbox = z.infer<typeof PageToSandbox>;

export const SandboxToPage = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('snapshot'), snapshot: SnapshotSchema }),
  z.object({
    kind: z.literal('image'),
    hash: z.string(),
    bytes: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'bytes must be a Uint8Array'),
  }),
  /** figma.showUI(html, options): the page opens the plugin window. */
  z.object({
    kind: z.literal('show-ui'),
    run: z.number().int(),
    html: z.string(),
    width: z.number(),
    height: z.number(),
    title: z.string(),
    visible: z.boolean(),
  }),
  z.object({ kind: z.literal('resize-ui'), run: z.number().int(), width: z.number(), height: z.number() }),
  z.object({ kind: z.literal('closed'), run: z.number().int() }),
  /** figma.ui.postMessage(msg) as the panel receives it. */
  z.object({ kind: z.literal('to-panel'), run: z.number().int(), pluginMessage: z.unknown() }),
  z.object({ kind: z.literal('notify'), message: z.string(), error: z.boolean() }),
  z.object({ kind: z.literal('scroll-into-view'), ids: z.array(z.string()) }),
  z.object({ kind: z.literal('plugin-error'), message: z.string() }),
]);
export type SandboxToPage = z.infer<typeof SandboxToPage>;
