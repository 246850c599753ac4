// The offline `draft` provider (DESIGN.md §8): an honest placeholder rendered with sharp at the exact output
// size — the references as a contact sheet, the start of the prompt, the ratio and size, and a visible
// "DRAFT — no model" mark. Deterministic for the same input; never pretends to be the model.
import { createHash } from 'node:crypto';
import sharp, { type OverlayOptions } from 'sharp';
import { AUTO_DRAFT_SIZE, formatSize, type PixelSize } from '../../core/formats';
import { MAX_DECODE_PIXELS } from '../images';
import type { GenerationRequest, PartialImage, Provider, ProviderResult } from './types';

export const DRAFT_MODEL = 'draft (no model)';
export const DRAFT_MARK = 'DRAFT — no model';
const PROMPT_PREVIEW_CHARS = 140;
const PREVIEW_EDGE = 256;

export interface DraftProviderOptions {
  /** How long a job takes, so progress can be seen (FRAMEFILL_DRAFT_DELAY_MS). */
  delayMs: number;
}

export function createDraftProvider(options: DraftProviderOptions): Provider {
  return {
    name: 'draft',
    model: DRAFT_MODEL,
    async generate(request, signal, onPartial) {
      const size = request.size === 'auto' ? AUTO_DRAFT_SIZE : request.size;
      const count = request.n ?? 1;
      const render = (variation: number) =>
        request.mask ? renderDraftEdit(request, size, variation) : renderDraft(request, size, variation);
      const image = await render(0);
      await sleep(options.delayMs / 2, signal);
      onPartial(await preview(image, 0));
      await sleep(options.delayMs / 2, signal);
      // Each variation is its own draft (another hue, its number written on it), as variations of a model differ.
      const drafts = [image];
      for (let variation = 1; variation < count; variation++) drafts.push(await render(variation));
      const images = await Promise.all(
        drafts.map((draft) =>
          request.outputFormat === 'png'
            ? sharp(draft).png({ compressionLevel: 6 }).toBuffer()
            : sharp(draft).jpeg({ quality: 90 }).toBuffer(),
        ),
      );
      signal.throwIfAborted();
      const [bytes] = images as [Buffer, ...Buffer[]];
      return { bytes, ...(count > 1 ? { images } : {}), usage: { draft: true } } satisfies ProviderResult;
    },
  };
}

/**
 * Renders the draft as lossless PNG bytes at `size`; `generate` then encodes the requested format. `variation`
 * (0 for the first) changes the hue and writes "Variation k of n" on it.
 */
export async function renderDraft(request: GenerationRequest, size: PixelSize, variation = 0): Promise<Buffer> {
  const { width, height } = size;
  const seed = createHash('sha256')
    // The job id too: a regenerated draft looks different, as a regenerated image would.
    .update(
      JSON.stringify([
        request.jobId,
        request.prompt,
        request.aspectRatio,
        request.resolution,
        ...(variation > 0 ? [variation] : []),
      ]),
    )
    .digest();
  const count = request.n ?? 1;
  const variationLabel = count > 1 ? ` · variation ${variation + 1} of ${count}` : '';
  const hue = (seed[0]! * 360) / 256;
  const unit = Math.min(width, height) / 20;
  const sheet = await contactSheet(request, size, unit);
  const prompt = [...request.prompt.trim()].slice(0, PROMPT_PREVIEW_CHARS).join('');
  const promptLines = wrap(prompt + (countChars(request.prompt.trim()) > PROMPT_PREVIEW_CHARS ? '…' : ''), 48).slice(
    0,
    4,
  );
  const textTop = sheet ? sheet.top + sheet.height + unit * 1.2 : height * 0.24;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
    <stop offset="0" stop-color="hsl(${hue.toFixed(1)},45%,82%)"/>
    <stop offset="1" stop-color="hsl(${((hue + 40) % 360).toFixed(1)},45%,62%)"/>
  </linearGradient></defs>
  <rect width="100%" height="100%" fill="url(#g)"/>
  <rect x="${unit * 0.6}" y="${unit * 0.6}" width="${unit * 12}" height="${unit * 1.8}" rx="${unit * 0.3}" fill="#d92d20"/>
  <text x="${unit * 1.1}" y="${unit * 1.85}" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="${unit * 1.05}" fill="#fff">${escapeXml(DRAFT_MARK)}</text>
  <!-- Again at the centre: a FILL placement crops the edges of the image, never its middle. -->
  <g opacity="0.9"><rect x="${width / 2 - unit * 6}" y="${height / 2 - unit * 0.9}" width="${unit * 12}" height="${unit * 1.8}" rx="${unit * 0.3}" fill="#d92d20"/>
  <text x="${width / 2}" y="${height / 2 + unit * 0.38}" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="${unit * 1.05}" fill="#fff">${escapeXml(DRAFT_MARK)}</text></g>
  <text x="${unit * 0.8}" y="${height - unit * 0.9}" font-family="DejaVu Sans, sans-serif" font-size="${unit * 0.8}" fill="#1d1d1f">${escapeXml(
    `${request.aspectRatio} · ${request.resolution} · ${formatSize(size)}${request.size === 'auto' ? ' (Auto)' : ''} · ${request.references.length} reference${request.references.length === 1 ? '' : 's'}${variationLabel}`,
  )}</text>
  ${promptLines
    .map(
      (line, i) =>
        `<text x="${unit * 0.8}" y="${textTop + i * unit * 1.05}" font-family="DejaVu Sans, sans-serif" font-size="${unit * 0.8}" fill="#1d1d1f">${escapeXml(line)}</text>`,
    )
    .join('\n  ')}
</svg>`;
  const layers: OverlayOptions[] = sheet ? sheet.tiles : [];
  return sharp(Buffer.from(svg)).resize(width, height).composite(layers).png({ compressionLevel: 1 }).toBuffer();
}

export const DRAFT_EDIT_MARK = 'DRAFT EDIT — no model';

/**
 * An edit or expansion as the draft does it, honestly: the first reference as it was, with only the masked area
 * repainted by a striped pattern, the mark and the start of the prompt — what a model would change, and where.
 */
export async function renderDraftEdit(request: GenerationRequest, size: PixelSize, variation = 0): Promise<Buffer> {
  const first = request.references[0];
  const mask = request.mask;
  if (!first || !mask) return renderDraft(request, size);
  const { width, height } = size;
  const unit = Math.min(width, height) / 20;
  const prompt = [...request.prompt.trim()].slice(0, 60).join('');
  // The job id too: a regenerated edit looks different, as a regenerated image would.
  const hue =
    (createHash('sha256')
      .update(JSON.stringify([request.jobId, request.prompt, ...(variation > 0 ? [variation] : [])]))
      .digest()[0]! *
      360) /
    256;
  const base = await sharp('file' in first ? first.file : first.bytes, { limitInputPixels: MAX_DECODE_PIXELS })
    .removeAlpha()
    .resize(width, height, { fit: 'fill' })
    .toBuffer();
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><pattern id="p" width="${unit * 1.5}" height="${unit * 1.5}" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
    <rect width="${unit * 1.5}" height="${unit * 1.5}" fill="hsl(${hue.toFixed(1)},70%,88%)"/><rect width="${unit * 0.75}" height="${unit * 1.5}" fill="#d92d20"/>
  </pattern></defs>
  <rect width="100%" height="100%" fill="url(#p)"/>
  <text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="${unit * 0.9}" fill="#fff" stroke="#1d1d1f" stroke-width="${unit * 0.08}">${escapeXml(DRAFT_EDIT_MARK)}</text>
  <text x="${width / 2}" y="${height / 2 + unit * 1.2}" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-size="${unit * 0.7}" fill="#fff" stroke="#1d1d1f" stroke-width="${unit * 0.06}">${escapeXml(prompt)}</text>
</svg>`;
  // Transparent in the mask = where the image may change = where the pattern shows.
  const paint = await sharp(mask.file, { limitInputPixels: MAX_DECODE_PIXELS })
    .resize(width, height, { fit: 'fill', kernel: 'nearest' })
    .ensureAlpha()
    .extractChannel(3)
    .negate()
    .raw()
    .toBuffer();
  const pattern = await sharp(Buffer.from(svg))
    .resize(width, height)
    .removeAlpha()
    .joinChannel(paint, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
  return sharp(base)
    .composite([{ input: pattern }])
    .png({ compressionLevel: 1 })
    .toBuffer();
}

/** The references side by side, each fitted in a cell, in their order. */
async function contactSheet(
  request: GenerationRequest,
  size: PixelSize,
  unit: number,
): Promise<{ tiles: OverlayOptions[]; top: number; height: number } | undefined> {
  const count = request.references.length;
  if (count === 0) return undefined;
  const columns = Math.min(count, 8);
  const rows = Math.ceil(count / columns);
  const gap = Math.round(unit * 0.3);
  const areaWidth = size.width - unit * 1.6;
  const cell = Math.floor(Math.min((areaWidth - gap * (columns - 1)) / columns, (size.height * 0.45) / rows));
  const top = Math.round(unit * 3);
  const tiles = await Promise.all(
    request.references.map(async (reference, i) => ({
      input: await sharp('file' in reference ? reference.file : reference.bytes, {
        limitInputPixels: MAX_DECODE_PIXELS,
      })
        .resize(cell, cell, { fit: 'contain', background: { r: 255, g: 255, b: 255, alpha: 0.6 } })
        .png()
        .toBuffer(),
      left: Math.round(unit * 0.8 + (i % columns) * (cell + gap)),
      top: top + Math.floor(i / columns) * (cell + gap),
    })),
  );
  return { tiles, top, height: rows * cell + (rows - 1) * gap };
}

async function preview(image: Buffer, index: number): Promise<PartialImage> {
  const { data, info } = await sharp(image)
    .resize(PREVIEW_EDGE, PREVIEW_EDGE, { fit: 'inside' })
    .blur(3)
    .jpeg({ quality: 60 })
    .toBuffer({ resolveWithObject: true });
  return { index, mime: 'image/jpeg', b64: data.toString('base64'), width: info.width, height: info.height };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function countChars(text: string): number {
  return [...text].length;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const chunked = [...word].length > width ? (word.match(new RegExp(`.{1,${width}}`, 'gu')) ?? [word]) : [word];
    for (const piece of chunked) {
      if (line && [...`${line} ${piece}`].length > width) {
        lines.push(line);
        line = piece;
      } else {
        line = line ? `${line} ${piece}` : piece;
      }
    }
  }
  if (line) lines.push(line);
  return lines;
}

function escapeXml(text: string): string {
  // Control characters other than tab/newline are invalid in XML and would make librsvg refuse the SVG.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const clean = text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '');
  return clean.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}
