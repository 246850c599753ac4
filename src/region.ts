// Region edits and expansions, as the main thread sees them: a frame's image fill, and the shapes drawn over it
// (its children) whose union is the area the model may repaint. The sandbox has no canvas, so the shapes travel
// to the panel as geometry (their `fillGeometry` placed by their transform) and the panel rasterises the mask.

import { readImageSize } from '../core/image-header';
import type { EditSource, FillImage, PanelToMainPayload, RegionShape } from '../core/messages';
import { MAX_REGION_SHAPES } from '../core/messages';
import { describeError, send } from './bridge';

/** Shapes that can mark a region (the list): their outline is the area to repaint. */
export const REGION_SHAPE_TYPES: ReadonlySet<string> = new Set(['RECTANGLE', 'ELLIPSE', 'VECTOR', 'BOOLEAN_OPERATION']);

/** The top visible IMAGE paint of a node's fills, if any (https://developers.figma.com/docs/plugins/api/Paint). */
export function fillImagePaint(node: SceneNode): ImagePaint | undefined {
  if (!('fills' in node)) return undefined;
  const fills = node.fills;
  if (!Array.isArray(fills)) return undefined;
  for (let i = fills.length - 1; i >= 0; i--) {
    const paint = fills[i];
    if (paint && paint.visible !== false && paint.type === 'IMAGE' && paint.imageHash) return paint;
  }
  return undefined;
}

export function fillImageHash(node: SceneNode): string | undefined {
  return fillImagePaint(node)?.imageHash ?? undefined;
}

const SCALE_MODE_NAMES: Readonly<Record<ImagePaint['scaleMode'], string>> = {
  FILL: 'Fill',
  FIT: 'Fit',
  CROP: 'Crop',
  TILE: 'Tile',
};

/**
 * Why the frame's image cannot be edited or expanded as shown, if it cannot. Both follow where Figma put the image
 * (https://developers.figma.com/docs/plugins/api/Paint#scalemode): FILL scales it to cover the frame and centres
 * it, so an edit's mask maps frame to image by that scale (ui/mask.ts) and an expansion centres the image on its
 * new canvas, which keeps the part the designer saw in the middle (proxy/edits.ts). FIT centres the whole image,
 * so an expansion keeps it where it was too. CROP places it by its own `imageTransform` and TILE repeats it:
 * neither maps that way, so they are refused before anything is sent or paid for.
 */
export function placementProblem(node: SceneNode, mode: 'edit' | 'expand'): string | undefined {
  const scaleMode = fillImagePaint(node)?.scaleMode ?? 'FILL';
  if (scaleMode === 'FILL' || (mode === 'expand' && scaleMode === 'FIT')) return undefined;
  const allowed = mode === 'edit' ? 'Fill' : 'Fill or Fit';
  return `“${node.name}” shows its image with ${SCALE_MODE_NAMES[scaleMode]}, but Framefill can ${mode} only an image shown with ${allowed}. Set the image fill to Fill and try again.`;
}

/** The visible shapes drawn over a frame's image: its direct children of a region type. */
export function regionShapes(node: SceneNode): SceneNode[] {
  if (!('children' in node) || fillImageHash(node) === undefined) return [];
  return (node.children as readonly SceneNode[])
    .filter((child) => child.visible && REGION_SHAPE_TYPES.has(child.type))
    .slice(0, MAX_REGION_SHAPES);
}

/** A fill image's pixel size, from Figma: https://developers.figma.com/docs/plugins/api/Image#getsizeasync */
export async function fillImageOf(node: SceneNode): Promise<FillImage | undefined> {
  const hash = fillImageHash(node);
  if (!hash) return undefined;
  // https://developers.figma.com/docs/plugins/api/properties/figma-getimagebyhash
  const image = figma.getImageByHash(hash);
  if (!image) return undefined;
  const { width, height } = await image.getSizeAsync();
  return { hash, width, height };
}

/**
 * A child's outline in its frame's space: `fillGeometry` (paths relative to the node,
 * https://developers.figma.com/docs/plugins/api/properties/nodes-fillgeometry) placed by the node's transform,
 * rebuilt from x, y and rotation (rotation is atan2(-m10, m00) of relativeTransform, about the top-left corner:
 * https://developers.figma.com/docs/plugins/api/properties/nodes-relativetransform).
 */
export function regionShape(node: SceneNode): RegionShape | undefined {
  const geometry = 'fillGeometry' in node ? (node.fillGeometry as VectorPaths) : [];
  const paths = geometry
    .filter((path) => path.data.length > 0)
    .map((path) => ({ windingRule: path.windingRule, data: path.data }));
  if (paths.length === 0) return undefined;
  const theta = (('rotation' in node ? node.rotation : 0) * Math.PI) / 180;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  return {
    id: node.id,
    name: node.name,
    transform: [
      [cos, sin, node.x],
      [-sin, cos, node.y],
    ],
    paths,
  };
}

/** Answers EXPORT_EDIT with the image to change and, for an edit, its region; always answers. */
export async function exportEdit(request: PanelToMainPayload<'EXPORT_EDIT'>): Promise<void> {
  const { requestId } = request;
  const fail = (error: string) => send('EDIT_EXPORTED', { requestId, shapes: [], error });
  try {
    const node = await figma.getNodeByIdAsync(request.targetId);
    if (!node || node.removed || node.type === 'DOCUMENT' || node.type === 'PAGE') {
      return fail('The frame to edit is no longer in the file. Select another one.');
    }
    const scene = node as SceneNode;
    // Regenerate starts from the image the edit first started from, while Figma still has it.
    const hash =
      (request.originalHash && figma.getImageByHash(request.originalHash) ? request.originalHash : undefined) ??
      fillImageHash(scene);
    const image = hash ? figma.getImageByHash(hash) : null;
    if (!hash || !image) return fail(`“${scene.name}” has no image to ${request.mode}. Generate one first.`);
    const problem = placementProblem(scene, request.mode);
    if (problem) return fail(problem);
    // The bytes as the image was placed, at its own size: https://developers.figma.com/docs/plugins/api/Image
    const bytes = (await image.getBytesAsync()) as Uint8Array<ArrayBuffer>;
    const size = readImageSize(bytes);
    if (!size || (size.format !== 'png' && size.format !== 'jpeg')) {
      return fail(`The image of “${scene.name}” is not a PNG or JPEG, so it cannot be edited here.`);
    }
    let shapes: RegionShape[] = [];
    if (request.mode === 'edit') {
      const children = regionShapes(scene);
      const wanted = request.shapeIds ? children.filter((c) => request.shapeIds?.includes(c.id)) : children;
      shapes = (wanted.length > 0 ? wanted : children)
        .map(regionShape)
        .filter((shape): shape is RegionShape => shape !== undefined);
      if (shapes.length === 0) {
        return fail(`Draw a shape over the image of “${scene.name}” to mark the area to edit.`);
      }
    }
    const source: EditSource = {
      hash,
      mime: size.format === 'png' ? 'image/png' : 'image/jpeg',
      width: size.width,
      height: size.height,
      bytes,
    };
    send('EDIT_EXPORTED', { requestId, image: source, frame: { width: scene.width, height: scene.height }, shapes });
  } catch (error) {
    fail(`Figma could not read the image to ${request.mode} (${describeError(error)}). Try again.`);
  }
}
