// Which selected layers can receive a generated image, and what each one suggests (DESIGN.md §3, §9).
// Kept to a handful of property reads per node and no traversal, so selecting 500 layers stays cheap.
import type { Target, UnusableNode } from '../core/messages';
import { pickRatio, suggestTier } from '../core/pick';
import { fillImageHash, regionShapes } from './region';

/**
 * Layers whose own `fills` take an IMAGE paint and show it over their area
 * (https://developers.figma.com/docs/plugins/api/properties/nodes-fills):
 * - FRAME, COMPONENT: the usual targets; their fills are their background.
 * - INSTANCE: an instance's fills are overridable like any other property
 *   (https://developers.figma.com/docs/plugins/api/InstanceNode), so placing sets an override and the main
 *   component stays untouched.
 * - RECTANGLE, ELLIPSE, POLYGON, STAR, VECTOR, BOOLEAN_OPERATION: shapes; the image fills their outline,
 *   which is what dropping an image on a shape does in Figma.
 * Left out on purpose: TEXT (an image fill paints the glyphs, not a picture), LINE (no area), SECTION and
 * COMPONENT_SET (organising containers: the frames inside are the targets), GROUP and SLICE (no fills).
 */
export const IMAGE_TARGET_TYPES: ReadonlySet<string> = new Set([
  'FRAME',
  'COMPONENT',
  'INSTANCE',
  'RECTANGLE',
  'ELLIPSE',
  'POLYGON',
  'STAR',
  'VECTOR',
  'BOOLEAN_OPERATION',
]);

const UNUSABLE_REASONS: Readonly<Record<string, string>> = {
  TEXT: 'Text layers cannot show a generated image. Select a frame or shape instead.',
  GROUP: 'Groups have no fill of their own. Select a frame or shape inside the group.',
  SECTION: 'Sections organise frames. Select a frame inside the section.',
  COMPONENT_SET: 'A component set holds variants. Select one variant instead.',
  LINE: 'Lines have no area to fill. Select a frame or shape instead.',
  SLICE: 'Slices mark export areas and have no fill. Select a frame or shape instead.',
};

export function unusableReason(type: string): string {
  return UNUSABLE_REASONS[type] ?? `${type.toLowerCase()} layers cannot take an image fill. Select a frame or shape.`;
}

/** Where a target was, so a target deleted while its job ran can get a new frame in its place. */
export interface LastKnownPlace {
  name: string;
  x: number;
  y: number;
  width: number;
  height: number;
  rotation: number;
  parentId: string | null;
  /** Its index among the parent's children when the parent lays them out (auto-layout), else null. */
  index: number | null;
}

/**
 * A frame or component whose children auto-layout places: their x/y are computed and their order is their
 * place (https://developers.figma.com/docs/plugins/api/properties/nodes-layoutmode).
 */
export function laysOutChildren(node: BaseNode): node is FrameNode | ComponentNode {
  return (node.type === 'FRAME' || node.type === 'COMPONENT') && node.layoutMode !== 'NONE';
}

/** Up to this many selected layers are looked at for an image fill and shapes drawn over it. */
export const MAX_INSPECTED_FOR_EDITS = 32;

export interface DescribedSelection {
  targets: Target[];
  /** Targets whose fill shows an image (their size is read asynchronously, see main.ts). */
  withImage: Set<string>;
  unusable: UnusableNode[];
  places: Map<string, LastKnownPlace>;
}

export function describeSelection(selection: readonly SceneNode[], density: number): DescribedSelection {
  const targets: Target[] = [];
  const unusable: UnusableNode[] = [];
  const places = new Map<string, LastKnownPlace>();
  const withImage = new Set<string>();
  // Edits and expansions are offered for a few frames at a time: a large selection is not read for them.
  const inspectImages = selection.length <= MAX_INSPECTED_FOR_EDITS;
  for (const node of selection) {
    const { id, type, name } = node;
    if (!IMAGE_TARGET_TYPES.has(type)) {
      unusable.push({ id, name, type, reason: unusableReason(type) });
      continue;
    }
    const { width, height } = node;
    try {
      const { ratio, cropFraction } = pickRatio(width, height);
      const imageHash = inspectImages ? fillImageHash(node) : undefined;
      if (imageHash) withImage.add(id);
      const region = imageHash ? regionShapes(node).map((shape) => shape.id) : [];
      targets.push({
        id,
        name,
        width,
        height,
        ratio,
        cropFraction,
        suggestedTier: suggestTier(width, height, ratio, density),
        ...(region.length > 0 ? { regionShapeIds: region } : {}),
      });
      const parent = node.parent;
      places.set(id, {
        name,
        x: node.x,
        y: node.y,
        width,
        height,
        rotation: 'rotation' in node ? node.rotation : 0,
        parentId: parent ? parent.id : null,
        index: parent && laysOutChildren(parent) ? parent.children.indexOf(node) : null,
      });
    } catch {
      unusable.push({ id, name, type, reason: 'This layer has no area. Give it a width and height first.' });
    }
  }
  return { targets, withImage, unusable, places };
}
