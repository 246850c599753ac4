// An edit's mask, rasterised in the panel (the plugin sandbox has no canvas): the union of the region's shapes,
// transparent where the model may paint and opaque elsewhere, at the image's own pixel size — the mask OpenAI
// documents (a PNG with alpha, the first image's size: core/limits.ts MASK_MAX_BYTES). The frame shows its image
// with scaleMode FILL: scaled to cover the frame and centred
// (https://developers.figma.com/docs/plugins/api/Paint#scalemode), so frame coordinates map to image pixels by
// that scale and offset.
import type { RegionShape } from '../core/messages';

export interface Size {
  width: number;
  height: number;
}

/** The 2D affine (canvas order a, b, c, d, e, f) taking frame coordinates to the image's pixels under FILL. */
export function frameToImage(frame: Size, image: Size): [number, number, number, number, number, number] {
  const scale = Math.max(frame.width / image.width, frame.height / image.height);
  const offsetX = (frame.width - image.width * scale) / 2;
  const offsetY = (frame.height - image.height * scale) / 2;
  return [1 / scale, 0, 0, 1 / scale, -offsetX / scale, -offsetY / scale];
}

/** The mask as PNG bytes. Throws where the browser has no canvas to draw it with. */
export async function renderMask(
  image: Size,
  frame: Size,
  shapes: readonly RegionShape[],
): Promise<Uint8Array<ArrayBuffer>> {
  const canvas = new OffscreenCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas to draw the mask');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, image.width, image.height);
  ctx.globalCompositeOperation = 'destination-out';
  ctx.fillStyle = '#000000';
  for (const shape of shapes) {
    const [[m00, m01, m02], [m10, m11, m12]] = shape.transform;
    ctx.setTransform(...frameToImage(frame, image));
    // Figma's transform maps x' = m00·x + m01·y + m02, y' = m10·x + m11·y + m12.
    ctx.transform(m00, m10, m01, m11, m02, m12);
    for (const path of shape.paths)
      ctx.fill(new Path2D(path.data), path.windingRule === 'EVENODD' ? 'evenodd' : 'nonzero');
  }
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  return new Uint8Array(await blob.arrayBuffer());
}
