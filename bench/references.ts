// §4 Reference bytes: each playground frame exported at the default maxEdge (2048) the way the plugin asks Figma
// (SCALE 1 within it, else the long edge pinned), as PNG and re-encoded as JPEG / WebP, with the visual cost.
// Two contents per frame: the playground's own flat shapes, and photo-like pixels (a frame holding a photo or an
// earlier generation — what "use target as reference" sends). Encoders: sharp (libvips: libpng, libjpeg-turbo,
// libwebp) as a stand-in for Figma's PNG export; and the path the panel adopted, measured for real: ui/reencode.ts
// bundled into Chromium, re-encoding PNGs over 1.5 MB with the browser's canvas JPEG encoder at 0.9.
import path from 'node:path';
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import { REFERENCE_JPEG_QUALITY, REFERENCE_REENCODE_MIN_BYTES } from '../core/limits';
import { SCENE } from '../playground/scene';
import { launchChromium } from '../test/e2e/helpers/chromium';
import { ROOT } from '../test/helpers/proxy';
import type { ReencodeResult } from '../ui/reencode';
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
  /** Filled in once every frame has been through Chromium. */
  panel?: PanelResult;
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

/** What the panel sent for one frame: the bytes and mime ui/reencode.ts chose in Chromium, and how long it took. */
export interface PanelResult {
  mime: string;
  bytes: number;
  keptBecause?: string;
  ms: number;
  psnr: number;
  ssim: number;
}

/** ui/reencode.ts as a script for the page: the very function the panel runs, bundled by esbuild. */
async function reencodeScript(): Promise<string> {
  const built = await esbuild.build({
    entryPoints: [path.join(ROOT, 'ui/reencode.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'framefillReencode',
    target: 'chrome110',
    write: false,
    logLevel: 'warning',
  });
  return built.outputFiles[0]!.text;
}

/** Runs the panel's re-encode in Chromium over each PNG, one at a time (as the panel does). */
async function reencodeInChromium(pngs: readonly Buffer[]): Promise<{ result: ReencodeResult; ms: number }[]> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.addScriptTag({ content: await reencodeScript() });
    const out: { result: ReencodeResult; ms: number }[] = [];
    for (const png of pngs) {
      const answer = await page.evaluate(async (b64) => {
        const text = atob(b64);
        const bytes = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
        // The bundle's global; typed here because it exists only inside the page.
        const api = (window as unknown as { framefillReencode: typeof import('../ui/reencode') }).framefillReencode;
        const started = performance.now();
        const result = await api.smallerReference(bytes);
        const ms = performance.now() - started;
        let chars = '';
        for (let i = 0; i < result.bytes.length; i += 0x8000) {
          chars += String.fromCharCode(...result.bytes.subarray(i, i + 0x8000));
        }
        return { mime: result.mime, keptBecause: result.keptBecause, b64: btoa(chars), ms };
      }, png.toString('base64'));
      out.push({
        result: {
          mime: answer.mime,
          keptBecause: answer.keptBecause,
          bytes: new Uint8Array(Buffer.from(answer.b64, 'base64')),
        },
        ms: answer.ms,
      });
    }
    return out;
  } finally {
    await browser.close();
  }
}

export async function measureReferences(): Promise<{ rows: Row[]; frames: FrameResult[] }> {
  const frames: FrameResult[] = [];
  const sources: RawImage[] = [];
  const pngs: Buffer[] = [];
  for (const [index, spec] of SCENE.entries()) {
    const { width, height } = exportSize(spec.width, spec.height);
    for (const content of ['flat', 'photo'] as const) {
      const source =
        content === 'flat' ? await flatFrame(spec, width, height) : await photoLike(width, height, 100 + index);
      const result: FrameResult = { frame: spec.name, content, width, height, formats: {} };
      for (const f of FORMATS) {
        const bytes = await encode(source, f.format, f.quality);
        if (f.format === 'png') pngs.push(bytes);
        const decoded = f.format === 'png' ? source : await decodeRgb(bytes);
        result.formats[f.name] = { bytes: bytes.length, psnr: psnr(source, decoded), ssim: ssim(source, decoded) };
      }
      frames.push(result);
      sources.push(source);
    }
  }
  const sent = await reencodeInChromium(pngs);
  for (const [i, frame] of frames.entries()) {
    const { result, ms } = sent[i]!;
    const decoded = result.mime === 'image/png' ? sources[i]! : await decodeRgb(result.bytes);
    frame.panel = {
      mime: result.mime,
      bytes: result.bytes.length,
      ...(result.keptBecause ? { keptBecause: result.keptBecause } : {}),
      ms: +ms.toFixed(1),
      psnr: psnr(sources[i]!, decoded),
      ssim: ssim(sources[i]!, decoded),
    };
  }

  const rows: Row[] = [];
  for (const content of ['photo', 'flat'] as const) {
    const group = frames.filter((f) => f.content === content);
    const label = content === 'photo' ? 'photo-like' : 'flat (playground)';
    const photo = content === 'photo';
    // What the panel actually uploads: the target applies here; the rows below are the alternatives.
    const panel = group.map((g) => g.panel!);
    const jpegs = panel.filter((p) => p.mime === 'image/jpeg');
    const sizes = summarize(panel.map((p) => p.bytes / MB));
    rows.push({
      section: '4',
      metric: `${label} reference as the panel sends it (Chromium JPEG ${REFERENCE_JPEG_QUALITY} over ${REFERENCE_REENCODE_MIN_BYTES / MB} MB; ${jpegs.length}/${panel.length} re-encoded)`,
      unit: 'MB',
      summary: sizes,
      ...(photo ? { target: 'median ≤ 1.5 MB', pass: sizes.median <= 1.5 } : {}),
    });
    if (jpegs.length > 0) {
      rows.push(
        {
          section: '4',
          metric: `  ${content}, panel's JPEG: PSNR vs PNG`,
          unit: 'dB',
          summary: summarize(jpegs.map((p) => p.psnr)),
        },
        {
          section: '4',
          metric: `  ${content}, panel's JPEG: SSIM vs PNG`,
          unit: 'SSIM',
          summary: summarize(jpegs.map((p) => p.ssim)),
        },
        {
          section: '4',
          metric: `  ${content}, panel's re-encode time in Chromium (per frame)`,
          unit: 'ms',
          summary: summarize(jpegs.map((p) => p.ms)),
        },
      );
    }
    for (const f of FORMATS) {
      rows.push({
        section: '4',
        metric: `${label} reference, sharp ${f.name} (per frame)`,
        unit: 'MB',
        summary: summarize(group.map((g) => g.formats[f.name]!.bytes / MB)),
      });
      if (f.format !== 'png') {
        rows.push(
          {
            section: '4',
            metric: `  ${content}, sharp ${f.name}: PSNR vs PNG`,
            unit: 'dB',
            summary: summarize(group.map((g) => g.formats[f.name]!.psnr)),
          },
          {
            section: '4',
            metric: `  ${content}, sharp ${f.name}: SSIM vs PNG`,
            unit: 'SSIM',
            summary: summarize(group.map((g) => g.formats[f.name]!.ssim)),
          },
        );
      }
    }
  }
  return { rows, frames };
}
