// Frames as reference images: each exported on its own, in order, within the panel's long-edge limit
// (DESIGN.md §9). One message per image, since a single message with 16 images can exhaust the sandbox's
// memory and exportAsync blocks Figma's main thread between them.

import { readImageSize } from '../core/image-header';
import type { PanelToMainPayload } from '../core/messages';
import { describeError, send } from './bridge';

/**
 * SCALE 1 for a frame already within `maxEdge` (never upscale), otherwise pin its long edge with a WIDTH or
 * HEIGHT constraint: https://developers.figma.com/docs/plugins/api/ExportSettings. The sizes are those of the
 * exported image, i.e. the node's absolute bounds: a rotated frame's turned rectangle, not its width × height.
 */
export function exportConstraint(width: number, height: number, maxEdge: number): ExportSettingsConstraints {
  if (Math.max(width, height) <= maxEdge) return { type: 'SCALE', value: 1 };
  return width >= height ? { type: 'WIDTH', value: maxEdge } : { type: 'HEIGHT', value: maxEdge };
}

/** The size of what exportAsync with useAbsoluteBounds renders: the node's absolute bounding box. */
export function exportedBounds(node: SceneNode): { width: number; height: number } {
  // https://developers.figma.com/docs/plugins/api/properties/nodes-absoluteboundingbox — null only for nodes
  // with no geometry, which export nothing anyway.
  const box = node.absoluteBoundingBox;
  return box ? { width: box.width, height: box.height } : { width: node.width, height: node.height };
}

/** Always ends with REFERENCES_EXPORTED, with `error` set when the request as a whole failed. */
export async function exportReferences(request: PanelToMainPayload<'EXPORT_REFERENCES'>): Promise<void> {
  const { requestId, nodeIds } = request;
  const exported: string[] = [];
  const missing: string[] = [];
  try {
    await exportEach(request, exported, missing);
  } catch (error) {
    const left = nodeIds.filter((id) => !exported.includes(id) && !missing.includes(id));
    send('REFERENCES_EXPORTED', {
      requestId,
      nodeIds: exported,
      missing: [...missing, ...left],
      error: `Figma could not export the references (${describeError(error)}). Try Generate again.`,
    });
    return;
  }
  send('REFERENCES_EXPORTED', { requestId, nodeIds: exported, missing });
}

async function exportEach(
  request: PanelToMainPayload<'EXPORT_REFERENCES'>,
  exported: string[],
  missing: string[],
): Promise<void> {
  const { requestId, nodeIds, maxEdge } = request;
  for (const [index, nodeId] of nodeIds.entries()) {
    // getNodeById throws under "documentAccess": "dynamic-page"; the async lookup resolves null for a
    // deleted node: https://developers.figma.com/docs/plugins/migrating-to-dynamic-loading
    const node = await figma.getNodeByIdAsync(nodeId);
    if (!node || node.removed || node.type === 'DOCUMENT' || node.type === 'PAGE' || !('exportAsync' in node)) {
      missing.push(nodeId);
      continue;
    }
    try {
      const scene = node as SceneNode;
      const bounds = exportedBounds(scene);
      // useAbsoluteBounds: the export is the frame's own rectangle, not its visible or render bounds.
      // https://developers.figma.com/docs/plugins/api/properties/nodes-exportasync
      const exportedBytes = await scene.exportAsync({
        format: 'PNG',
        useAbsoluteBounds: true,
        constraint: exportConstraint(bounds.width, bounds.height, maxEdge),
      });
      // Figma hands back a plain Uint8Array over an ArrayBuffer; the typings only say ArrayBufferLike.
      const bytes = exportedBytes as Uint8Array<ArrayBuffer>;
      const size = readImageSize(bytes);
      if (!size || size.width < 1 || size.height < 1) throw new Error('the export is not a readable PNG');
      send('REFERENCE_EXPORTED', {
        requestId,
        index,
        total: nodeIds.length,
        image: { nodeId, name: scene.name, mime: 'image/png', width: size.width, height: size.height, bytes },
      });
      exported.push(nodeId);
    } catch (error) {
      console.warn(`Framefill: could not export ${nodeId}: ${describeError(error)}`);
      missing.push(nodeId);
    }
  }
}
