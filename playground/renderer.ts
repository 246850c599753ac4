// Draws the document on a <canvas> the way Figma paints it: frames clip their children, fills stack bottom
// to top, and an IMAGE paint with scaleMode FILL covers the node and crops the overflow equally from both
// sides (CSS object-fit: cover). https://developers.figma.com/docs/plugins/api/Paint#imagepaint
import type { NodeView, PaintView } from './protocol';

/** What the canvas shows: the document point at its centre, the zoom, and its size in CSS pixels. */
export interface View {
  cx: number;
  cy: number;
  zoom: number;
  width: number;
  height: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The part of an image a FILL paint shows in a node: scaled to cover, centred, the overflow cropped. */
export function fillSourceRect(imageWidth: number, imageHeight: number, nodeWidth: number, nodeHeight: number): Rect {
  const scale = Math.max(nodeWidth / imageWidth, nodeHeight / imageHeight);
  const width = nodeWidth / scale;
  const height = nodeHeight / scale;
  return { x: (imageWidth - width) / 2, y: (imageHeight - height) / 2, width, height };
}

/** Where a FIT paint draws the whole image inside a node: scaled to fit, centred. */
export function fitDestRect(imageWidth: number, imageHeight: number, nodeWidth: number, nodeHeight: number): Rect {
  const scale = Math.min(nodeWidth / imageWidth, nodeHeight / imageHeight);
  const width = imageWidth * scale;
  const height = imageHeight * scale;
  return { x: (nodeWidth - width) / 2, y: (nodeHeight - height) / 2, width, height };
}

export function toScreen(view: View, rect: Rect): Rect {
  return {
    x: (rect.x - view.cx) * view.zoom + view.width / 2,
    y: (rect.y - view.cy) * view.zoom + view.height / 2,
    width: rect.width * view.zoom,
    height: rect.height * view.zoom,
  };
}

export function toDocument(view: View, x: number, y: number): { x: number; y: number } {
  return { x: (x - view.width / 2) / view.zoom + view.cx, y: (y - view.height / 2) / view.zoom + view.cy };
}

export function boundsOf(nodes: readonly Rect[]): Rect | undefined {
  if (nodes.length === 0) return undefined;
  const left = Math.min(...nodes.map((n) => n.x));
  const top = Math.min(...nodes.map((n) => n.y));
  const right = Math.max(...nodes.map((n) => n.x + n.width));
  const bottom = Math.max(...nodes.map((n) => n.y + n.height));
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/** Like Figma's Shift-1: the rectangle fills the canvas with a margin for the frame names. */
export function fitView(bounds: Rect, width: number, height: number, margin = 48): View {
  const zoom = Math.min((width - 2 * margin) / bounds.width, (height - 2 * margin) / bounds.height, 1);
  return {
    cx: bounds.x + bounds.width / 2,
    cy: bounds.y + bounds.height / 2,
    zoom: Math.max(zoom, 0.01),
    width,
    height,
  };
}

export const CANVAS_BACKGROUND = '#e9e9e9';
const SELECTION_BLUE = '#0d99ff';

export interface DrawInput {
  nodes: readonly NodeView[];
  selection: ReadonlySet<string>;
  view: View;
  images: ReadonlyMap<string, ImageBitmap>;
  devicePixelRatio: number;
}

export function draw(ctx: CanvasRenderingContext2D, input: DrawInput): void {
  const { view, devicePixelRatio: dpr } = input;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = CANVAS_BACKGROUND;
  ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  const z = view.zoom * dpr;
  ctx.setTransform(
    z,
    0,
    0,
    z,
    dpr * (view.width / 2 - view.cx * view.zoom),
    dpr * (view.height / 2 - view.cy * view.zoom),
  );
  for (const node of input.nodes) drawNode(ctx, node, 0, 0, input.images);
  ctx.lineWidth = 2 / view.zoom;
  ctx.strokeStyle = SELECTION_BLUE;
  for (const node of input.nodes) {
    if (input.selection.has(node.id)) ctx.strokeRect(node.x, node.y, node.width, node.height);
  }
}

function drawNode(
  ctx: CanvasRenderingContext2D,
  node: NodeView,
  parentX: number,
  parentY: number,
  images: ReadonlyMap<string, ImageBitmap>,
): void {
  if (!node.visible) return;
  const x = parentX + node.x;
  const y = parentY + node.y;
  ctx.save();
  const path = new Path2D();
  if (node.type === 'ELLIPSE')
    path.ellipse(x + node.width / 2, y + node.height / 2, node.width / 2, node.height / 2, 0, 0, 2 * Math.PI);
  else path.rect(x, y, node.width, node.height);
  ctx.clip(path);
  for (const paint of node.fills) drawPaint(ctx, paint, { x, y, width: node.width, height: node.height }, images);
  // Frames clip their content (clipsContent is on for frames made in Figma and by createFrame).
  const isFrame = node.type === 'FRAME' || node.type === 'COMPONENT' || node.type === 'INSTANCE';
  if (!isFrame) ctx.restore();
  // Groups do not define a coordinate system: their children are placed in the group's parent's space.
  const origin = node.type === 'GROUP' || node.type === 'BOOLEAN_OPERATION' ? { x: parentX, y: parentY } : { x, y };
  for (const child of node.children) drawNode(ctx, child, origin.x, origin.y, images);
  if (isFrame) ctx.restore();
}

function drawPaint(
  ctx: CanvasRenderingContext2D,
  paint: PaintView,
  box: Rect,
  images: ReadonlyMap<string, ImageBitmap>,
): void {
  if (paint.visible === false) return;
  ctx.globalAlpha = paint.opacity ?? 1;
  if (paint.type === 'SOLID') {
    const { r, g, b } = paint.color;
    ctx.fillStyle = `rgb(${Math.round(r * 255)} ${Math.round(g * 255)} ${Math.round(b * 255)})`;
    ctx.fillRect(box.x, box.y, box.width, box.height);
  } else {
    const bitmap = paint.imageHash ? images.get(paint.imageHash) : undefined;
    if (!bitmap) {
      // Figma shows a placeholder while an image loads.
      ctx.fillStyle = '#d0d0d0';
      ctx.fillRect(box.x, box.y, box.width, box.height);
    } else if (paint.scaleMode === 'FIT') {
      const dest = fitDestRect(bitmap.width, bitmap.height, box.width, box.height);
      ctx.drawImage(bitmap, box.x + dest.x, box.y + dest.y, dest.width, dest.height);
    } else {
      // FILL (CROP and TILE, which Framefill never sets, are drawn as FILL too).
      const src = fillSourceRect(bitmap.width, bitmap.height, box.width, box.height);
      ctx.drawImage(bitmap, src.x, src.y, src.width, src.height, box.x, box.y, box.width, box.height);
    }
  }
  ctx.globalAlpha = 1;
}
