// Edit masks and pixel comparisons for the edit and expand tests: masks are RGBA PNGs, transparent (alpha 0)
// where the image may change, as OpenAI documents them.
import sharp from 'sharp';

export interface Ellipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

export function insideEllipse(e: Ellipse, x: number, y: number): boolean {
  const dx = (x + 0.5 - e.cx) / e.rx;
  const dy = (y + 0.5 - e.cy) / e.ry;
  return dx * dx + dy * dy <= 1;
}

/** A `width` × `height` RGBA PNG mask, transparent inside `ellipse`, opaque white elsewhere. */
export async function ellipseMask(width: number, height: number, ellipse: Ellipse): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 4, 255);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) if (insideEllipse(ellipse, x, y)) raw[(y * width + x) * 4 + 3] = 0;
  }
  return sharp(raw, { raw: { width, height, channels: 4 } })
    .png()
    .toBuffer();
}

/** Decoded RGB pixels. */
export async function rgb(bytes: Uint8Array): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** A photo-like PNG (gradients and a grid), so moved or repainted pixels show. */
export function busyPng(width: number, height: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1b4d89"/><stop offset="1" stop-color="#f2c14e"/></linearGradient>
  <pattern id="p" width="40" height="40" patternUnits="userSpaceOnUse"><circle cx="20" cy="20" r="9" fill="#ffffff55"/></pattern></defs>
  <rect width="100%" height="100%" fill="url(#g)"/><rect width="100%" height="100%" fill="url(#p)"/></svg>`;
  return sharp(Buffer.from(svg)).resize(width, height).png().toBuffer();
}

/** Every pixel where `a` and `b` differ by more than `tolerance` in any channel. */
export function differing(
  a: { data: Buffer; width: number; height: number },
  b: { data: Buffer },
  tolerance = 0,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < a.width * a.height; i++) {
    for (let c = 0; c < 3; c++) {
      if (Math.abs((a.data[i * 3 + c] ?? 0) - (b.data[i * 3 + c] ?? 0)) > tolerance) {
        out.push([i % a.width, Math.floor(i / a.width)]);
        break;
      }
    }
  }
  return out;
}

/** Whether (x, y) lies within `reach` pixels (square window) of a pixel for which `inside` holds. */
export function near(inside: (x: number, y: number) => boolean, x: number, y: number, reach: number): boolean {
  for (let dy = -reach; dy <= reach; dy++)
    for (let dx = -reach; dx <= reach; dx++) if (inside(x + dx, y + dy)) return true;
  return false;
}
