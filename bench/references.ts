// §4 Reference bytes: each playground frame exported at the default maxEdge (2048) the way the plugin asks Figma
// (SCALE 1 within it, else the long edge pinned), as PNG and re-encoded as JPEG / WebP, with the visual cost.
// Two contents per frame: the playground's own flat shapes, and photo-like pixels (a frame holding a photo or an
// earlier generation — what "use target as reference" sends). Encoders: sharp (libvips: libpng, libjpeg-turbo,
// libwebp) as a stand-in for Figma's PNG export and the browser's canvas encoders.
import sharp from 'sharp';
import { SCENE } from '../playground/scene';
import { decodeRgb, encode, photoLike, psnr, type RawImage, ssim } from './fixtures';
import type { Row } from './stats';
import { summarize } from './stats';

export const MAX_EDGE = 2048;
const MB = 1024 * 1024;

export const FORMATS = [
  { name: 'PNG', format: 'png', quality: 100 },
  { name: 'JPEG q90', format: 'jpeg', quality: 90 },
  { name: 'JPEG q85', format: 'jpeg', quality: 85 },
  { name: 'WebP q90', format: 'webp', quality: 90 },
  { name: 'WebP q85', format: 'webp', quality: 85 },
] as const;

export interface FrameResult {
  frame: string;
  content: 'flat' | 'photo';
  width: number;
  height: number;
  formats: Record<string, { bytes: number; psnr: number; ssim: number }>;
}

/** The export size src/references.ts asks Figma for: never upscaled, the long edge at most maxEdge. */
export function exportSize(width: number, height: number, maxEdge = MAX_EDGE): { width: number; height: number } {
  const scale = Math.min(1, maxEdge / Math.max(width, height));
  return { width: Math.round(width * scale), height: Math.round(height * scale) };
}

async function flatFrame(spec: (typeof SCENE)[number], width: number, height: number): Promise<RawImage> {
  const s = width / spec.width;
  const shapes = (spec.shapes ?? [])
    .map((shape) =>
      shape.type === 'ELLIPSE'
        ? `<ellipse cx="${(shape.x + shape.width / 2) * s}" cy="${(shape.y + shape.height / 2) * s}" rx="${(shape.width / 2) * s}" ry="${(shape.height / 2) * s}" fill="${shape.fill}"/>`
        : `<rect x="${shape.x * s}" y="${shape.y * s}" width="${shape.width * s}" height="${shape.height * s}" fill="${shape.fill}"/>`,
    )
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="${spec.fill}"/>${shapes}</svg>`;
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: 3 };
}

export async function measureReferences(): Promise<{ rows: Row[]; frames: FrameResult[] }> {
  const frames: FrameResult[] = [];
  for (const [index, spec] of SCENE.entries()) {
    const { width, height } = exportSize(spec.width, spec.height);
    for (const content of ['flat', 'photo'] as const) {
      const source =
        content === 'flat' ? await flatFrame(spec, width, height) : await photoLike(width, height, 100 + index);
      const result: FrameResult = { frame: spec.name, content, width, height, formats: {} };
      for (const f of FORMATS) {
        const bytes = await encode(source, f.format, f.quality);
        const decoded = f.format === 'png' ? source : await decodeRgb(bytes);
        result.formats[f.name] = { bytes: bytes.length, psnr: psnr(source, decoded), ssim: ssim(source, decoded) };
      }
      frames.push(result);
    }
  }
  const rows: Row[] = [];
  for (const content of ['photo', 'flat'] as const) {
    const group = frames.filter((f) => f.content === content);
    for (const f of FORMATS) {
      const sizes = summarize(group.map((g) => g.formats[f.name]!.bytes / MB));
      const photo = content === 'photo';
      rows.push({
        section: '4',
        metric: `${content === 'photo' ? 'photo-like' : 'flat (playground)'} reference, ${f.name} (per frame)`,
        unit: 'MB',
        summary: sizes,
        ...(photo ? { target: 'median ≤ 1.5 MB', pass: sizes.median <= 1.5 } : {}),
      });
      if (f.format !== 'png') {
        rows.push(
          {
            section: '4',
            metric: `  ${content}, ${f.name}: PSNR vs PNG`,
            unit: 'dB',
            summary: summarize(group.map((g) => g.formats[f.name]!.psnr)),
          },
          {
            section: '4',
            metric: `  ${content}, ${f.name}: SSIM vs PNG`,
            unit: 'SSIM',
            summary: summarize(group.map((g) => g.formats[f.name]!.ssim)),
          },
        );
      }
    }
  }
  return { rows, frames };
}
