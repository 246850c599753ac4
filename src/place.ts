// Places a generated image: into the target's fills, or into a new frame when there is no target or the
// target was deleted meanwhile (DESIGN.md §9). Every failure is answered with PLACE_FAILED and a sentence
// saying what to do; the panel keeps the bytes, so a paid image is never dropped.

import { readImageSize } from '../core/image-header';
import { FIGMA_MAX_IMAGE_EDGE } from '../core/limits';
import { notifyText, type PanelToMainPayload, type PlaceFailureCode, type Provenance } from '../core/messages';
import { describeError, send } from './bridge';
import { encodeProvenance, PROVENANCE_KEY } from './provenance';
import { IMAGE_TARGET_TYPES, type LastKnownPlace, laysOutChildren } from './selection';

export interface PlaceContext {
  density: number;
  places: ReadonlyMap<string, LastKnownPlace>;
}

class PlaceFailure {
  constructor(
    readonly code: PlaceFailureCode,
    readonly message: string,
  ) {}
}

const KEPT = 'The image is kept in the panel.';
const GAP = 40;

/** A frame name from the start of the prompt: one line, short enough for the layers panel. */
export function frameNameFrom(prompt: string): string {
  const line = prompt.replace(/\s+/g, ' ').trim();
  const chars = Array.from(line);
  if (chars.length === 0) return 'Framefill image';
  return chars.length <= 40 ? line : `${chars.slice(0, 39).join('').trimEnd()}…`;
}

/** Up to three lines under the Regenerate button; Figma throws past 1000 characters. */
export function relaunchDescription(provenance: Provenance): string {
  const prompt = Array.from(provenance.prompt.replace(/\s+/g, ' ').trim());
  const start = prompt.length <= 60 ? prompt.join('') : `${prompt.slice(0, 59).join('')}…`;
  return `${provenance.aspectRatio} · ${provenance.resolution} · “${start}”`;
}

function isLocked(node: SceneNode): boolean {
  // `locked` is per node; a layer is locked when it or any ancestor is, and Figma lets plugins write to
  // locked layers anyway (https://developers.figma.com/docs/plugins/api/properties/nodes-locked): refusing
  // is our choice, to respect a designer who locked the layer on purpose.
  for (let n: BaseNode | null = node; n && n.type !== 'PAGE' && n.type !== 'DOCUMENT'; n = n.parent) {
    if ((n as SceneNode).locked) return true;
  }
  return false;
}

function createImage(bytes: Uint8Array): Image {
  const size = readImageSize(bytes);
  if (!size || size.format === 'webp') {
    throw new PlaceFailure('invalid_image', `The image could not be read as PNG, JPEG or GIF. ${KEPT} Try again.`);
  }
  if (size.width > FIGMA_MAX_IMAGE_EDGE || size.height > FIGMA_MAX_IMAGE_EDGE) {
    throw new PlaceFailure(
      'image_too_large',
      `The image is ${size.width}×${size.height} px, and Figma accepts at most ${FIGMA_MAX_IMAGE_EDGE} px per edge. ${KEPT} Generate it at a smaller resolution or save it from the panel.`,
    );
  }
  try {
    // PNG, JPEG or GIF up to 4096 px per edge; anything else throws:
    // https://developers.figma.com/docs/plugins/api/properties/figma-createimage
    return figma.createImage(bytes);
  } catch (error) {
    const reason = describeError(error);
    if (/too large/i.test(reason)) {
      throw new PlaceFailure(
        'image_too_large',
        `Figma refused the image as too large. ${KEPT} Try a smaller resolution.`,
      );
    }
    throw new PlaceFailure('invalid_image', `Figma could not read the image (${reason}). ${KEPT} Try again.`);
  }
}

function selectionBounds(): Rect | undefined {
  let left = Number.POSITIVE_INFINITY;
  let top = Number.POSITIVE_INFINITY;
  let right = Number.NEGATIVE_INFINITY;
  let bottom = Number.NEGATIVE_INFINITY;
  for (const node of figma.currentPage.selection) {
    const b = node.absoluteBoundingBox;
    if (!b) continue;
    left = Math.min(left, b.x);
    top = Math.min(top, b.y);
    right = Math.max(right, b.x + b.width);
    bottom = Math.max(bottom, b.y + b.height);
  }
  return left <= right ? { x: left, y: top, width: right - left, height: bottom - top } : undefined;
}

/** A frame of the image's ratio (image pixels ÷ density) beside the selection, or at the viewport centre. */
function newFrameForImage(name: string, width: number, height: number, density: number): FrameNode {
  const w = Math.max(1, Math.round(width / density));
  const h = Math.max(1, Math.round(height / density));
  const beside = selectionBounds();
  // figma.createFrame appends to the current page: https://developers.figma.com/docs/plugins/api/properties/figma-createframe
  const frame = figma.createFrame();
  frame.name = name;
  frame.resize(w, h);
  // https://developers.figma.com/docs/plugins/api/figma-viewport
  const { x, y } = figma.viewport.center;
  const wanted = beside
    ? { x: Math.round(beside.x + beside.width + GAP), y: Math.round(beside.y), width: w, height: h }
    : { x: Math.round(x - w / 2), y: Math.round(y - h / 2), width: w, height: h };
  const spot = clearOfNeighbours(wanted, frame);
  frame.x = spot.x;
  frame.y = spot.y;
  return frame;
}

/**
 * The first place at or right of `rect`, on its row, that keeps GAP from every other top-level layer of the page:
 * a new frame must not land on or against the frames around it.
 */
function clearOfNeighbours(rect: Rect, self: SceneNode): Rect {
  const others = figma.currentPage.children.filter((node) => node !== self && node.visible);
  const spot = { ...rect };
  for (let tries = 0; tries < others.length + 1; tries++) {
    const blocking = others.find((node) => {
      const b = node.absoluteBoundingBox;
      return (
        b !== null &&
        spot.x < b.x + b.width + GAP &&
        b.x < spot.x + spot.width + GAP &&
        spot.y < b.y + b.height + GAP &&
        b.y < spot.y + spot.height + GAP
      );
    });
    const box = blocking?.absoluteBoundingBox;
    if (!box) return spot;
    spot.x = Math.round(box.x + box.width + GAP);
  }
  return spot;
}

function pageOf(node: BaseNode): PageNode | null {
  let n: BaseNode | null = node;
  while (n && n.type !== 'PAGE') n = n.parent;
  return n;
}

/**
 * Whether a new frame may go into this old parent: it still exists, is on the page the designer is looking
 * at (a frame on another page could not be selected or scrolled to: a page's selection holds only its own
 * nodes, https://developers.figma.com/docs/plugins/api/PageNode#selection), and is neither an instance nor
 * inside one (Figma refuses to insert there: https://developers.figma.com/docs/plugins/api/InstanceNode).
 */
function usableParent(parent: BaseNode | null): (BaseNode & ChildrenMixin) | undefined {
  if (!parent || parent.removed || parent.type === 'DOCUMENT' || !('appendChild' in parent)) return undefined;
  if (pageOf(parent) !== figma.currentPage) return undefined;
  for (let n: BaseNode | null = parent; n && n.type !== 'PAGE'; n = n.parent) {
    if (n.type === 'INSTANCE') return undefined;
  }
  return parent as BaseNode & ChildrenMixin;
}

/**
 * A frame where a deleted target was: in its old parent when that parent can take it, at the target's old
 * index in an auto-layout parent (which ignores x/y), with the target's rotation. `undefined` when the
 * parent cannot take it: the caller places beside the selection on the current page instead.
 */
async function newFrameWhere(place: LastKnownPlace): Promise<FrameNode | undefined> {
  const parent = usableParent(place.parentId ? await figma.getNodeByIdAsync(place.parentId) : null);
  if (!parent) return undefined;
  const frame = figma.createFrame();
  frame.name = place.name;
  frame.resize(Math.max(0.01, place.width), Math.max(0.01, place.height));
  if (laysOutChildren(parent) && place.index !== null) {
    parent.insertChild(Math.min(place.index, parent.children.length), frame);
  } else if (parent.type !== 'PAGE') {
    parent.appendChild(frame);
  }
  // Rotation turns about the top-left corner and leaves x/y as they are, so set it before the position.
  // https://developers.figma.com/docs/plugins/api/properties/nodes-rotation
  if (place.rotation) frame.rotation = place.rotation;
  frame.x = place.x;
  frame.y = place.y;
  return frame;
}

function onCurrentPage(node: SceneNode): boolean {
  return pageOf(node) === figma.currentPage;
}

interface Destination {
  node: SceneNode & MinimalFillsMixin;
  createdFrame: boolean;
}

async function destinationFor(
  request: PanelToMainPayload<'PLACE_IMAGE'>,
  size: { width: number; height: number },
  context: PlaceContext,
): Promise<Destination> {
  const name = frameNameFrom(request.provenance.prompt);
  if (request.targetId === null) {
    return { node: newFrameForImage(name, size.width, size.height, context.density), createdFrame: true };
  }
  const node = await figma.getNodeByIdAsync(request.targetId);
  if (!node || node.removed) {
    const place = context.places.get(request.targetId);
    const frame =
      (place ? await newFrameWhere(place) : undefined) ??
      newFrameForImage(place?.name ?? name, size.width, size.height, context.density);
    return { node: frame, createdFrame: true };
  }
  if (!IMAGE_TARGET_TYPES.has(node.type) || !('fills' in node)) {
    throw new PlaceFailure(
      'place_failed',
      `“${node.name}” cannot take an image fill. ${KEPT} Select a frame or shape and place it again.`,
    );
  }
  const scene = node as SceneNode & MinimalFillsMixin;
  if (isLocked(scene)) {
    throw new PlaceFailure(
      'target_locked',
      `“${scene.name}” is locked. ${KEPT} Unlock the layer and place it again, or place it in a new frame.`,
    );
  }
  return { node: scene, createdFrame: false };
}

/** Returns the id of the node that got the image, or `undefined` when PLACE_FAILED was answered. */
export async function placeImage(
  request: PanelToMainPayload<'PLACE_IMAGE'>,
  context: PlaceContext,
): Promise<string | undefined> {
  const { requestId } = request;
  let created: SceneNode | undefined;
  try {
    const image = createImage(request.bytes);
    const size = await image.getSizeAsync();
    const destination = await destinationFor(request, size, context);
    if (destination.createdFrame) created = destination.node;
    const { node } = destination;
    // Fills are immutable: assign a new array. https://developers.figma.com/docs/plugins/editing-properties
    node.fills = [{ type: 'IMAGE', imageHash: image.hash, scaleMode: 'FILL' }];
    node.setPluginData(PROVENANCE_KEY, encodeProvenance(request.provenance));
    // The manifest's relaunchButtons has `regenerate`; Figma then runs us with figma.command === 'regenerate'.
    // https://developers.figma.com/docs/plugins/api/properties/nodes-setrelaunchdata
    node.setRelaunchData({ regenerate: relaunchDescription(request.provenance) });
    // Selecting and scrolling only ever touch the page in view.
    if (destination.createdFrame && onCurrentPage(node)) {
      figma.currentPage.selection = [node];
      figma.viewport.scrollAndZoomIntoView([node]);
    }
    // One undo step undoes the whole placement: https://developers.figma.com/docs/plugins/api/properties/figma-commitundo
    figma.commitUndo();
    // https://developers.figma.com/docs/plugins/api/properties/figma-notify — Figma shows 100 characters.
    figma.notify(notifyText(`Placed “${node.name}” (${request.provenance.resolution})`));
    send('IMAGE_PLACED', { requestId, nodeId: node.id, createdFrame: destination.createdFrame });
    return node.id;
  } catch (error) {
    if (created && !created.removed) created.remove();
    const failure =
      error instanceof PlaceFailure
        ? error
        : new PlaceFailure('place_failed', `Figma refused the placement (${describeError(error)}). ${KEPT} Try again.`);
    send('PLACE_FAILED', { requestId, code: failure.code, message: failure.message });
    return undefined;
  }
}

/**
 * Another variation of a job into the node that shows its placed one: the image fill is replaced (its scale mode
 * kept) and the provenance says which variation it is. Committed as its own undo step, so one undo brings the
 * previous variation back (https://developers.figma.com/docs/plugins/api/properties/figma-commitundo: "Call
 * figma.commitUndo() so that triggered undos can revert a subset of plugin actions").
 */
export async function swapImage(request: PanelToMainPayload<'SWAP_IMAGE'>): Promise<void> {
  const { requestId } = request;
  try {
    const node = await figma.getNodeByIdAsync(request.nodeId);
    if (!node || node.removed || !('fills' in node)) {
      throw new PlaceFailure(
        'place_failed',
        `The layer that showed this job is gone. ${KEPT} Place the variation in a new frame or download it.`,
      );
    }
    const scene = node as SceneNode & MinimalFillsMixin;
    if (isLocked(scene)) {
      throw new PlaceFailure('target_locked', `“${scene.name}” is locked. ${KEPT} Unlock the layer and try again.`);
    }
    const image = createImage(request.bytes);
    const current = Array.isArray(scene.fills) ? (scene.fills as readonly Paint[]) : [];
    const previous = current.find((paint): paint is ImagePaint => paint.type === 'IMAGE');
    scene.fills = [{ type: 'IMAGE', imageHash: image.hash, scaleMode: previous?.scaleMode ?? 'FILL' }];
    scene.setPluginData(PROVENANCE_KEY, encodeProvenance(request.provenance));
    figma.commitUndo();
    const which = (request.provenance.variation ?? 0) + 1;
    figma.notify(notifyText(`Variation ${which} in “${scene.name}” — undo brings the previous one back`));
    send('IMAGE_PLACED', { requestId, nodeId: scene.id, createdFrame: false });
  } catch (error) {
    const failure =
      error instanceof PlaceFailure
        ? error
        : new PlaceFailure('place_failed', `Figma refused the swap (${describeError(error)}). ${KEPT} Try again.`);
    send('PLACE_FAILED', { requestId, code: failure.code, message: failure.message });
  }
}
