// An edit or an expansion, made ready for any provider: the image to change becomes the first reference as a PNG
// (OpenAI wants the image and its mask in the same format: spec, CreateImageEditRequest.mask, and the image
// generation guide, https://developers.openai.com/api/docs/guides/image-generation), with its mask beside it. An
// expansion's canvas and mask are built here: the image fitted and centred in the target size, the rest masked.
import path from 'node:path';
import sharp from 'sharp';
import { type GenerationMode, MASK_FEATHER_PX } from '../core/limits';
import { FramefillError } from './errors';
import { MAX_DECODE_PIXELS } from './images';
import type { MaskInput, SpooledReference } from './providers/types';
import type { Submission } from './submissions';

/** What the runner keeps of an edit: the mask for the provider, the image whose pixels the result keeps. */
export interface EditInput extends MaskInput {
  mode: Exclude<GenerationMode, 'generate'>;
  /** The PNG sent as the first reference: the composite keeps its pixels outside the mask. */
  image: string;
}

export interface PreparedJob {
  references: SpooledReference[];
  edit?: EditInput;
}

/** Where the fitted image sits on an expansion's canvas. */
export interface Placement {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The image fitted inside `canvas` (scaled up or down, its ratio kept) and centred. Centred is where the frame's
 * crop put it: the plugin expands only images Figma shows with FILL, which scales the image to cover the frame
 * and crops it centrally, or FIT, which centres all of it (src/region.ts placementProblem refuses CROP and TILE).
 * So the part the designer saw keeps its place in the middle of the frame, only with the new area around it.
 */
export function fitCentred(image: { width: number; height: number }, canvas: { width: number; height: number }) {
  const scale = Math.min(canvas.width / image.width, canvas.height / image.height);
  const width = Math.min(canvas.width, Math.max(1, Math.round(image.width * scale)));
  const height = Math.min(canvas.height, Math.max(1, Math.round(image.height * scale)));
  return {
    left: Math.floor((canvas.width - width) / 2),
    top: Math.floor((canvas.height - height) / 2),
    width,
    height,
  } satisfies Placement;
}

/**
 * The job's references and edit: unchanged for a plain generation; for an edit the first reference as PNG and the
 * checked mask; for an expansion a canvas of `size` and its mask. Files are written into the submission's folder.
 */
export async function prepareJob(
  submission: Submission,
  size: { width: number; height: number } | 'auto',
): Promise<PreparedJob> {
  const references: SpooledReference[] = submission.references.map(({ file, mime, width, height }) => ({
    file,
    mime,
    width,
    height,
  }));
  const mode = submission.fields.mode;
  const first = references[0];
  if (mode === 'generate' || !first) return { references };
  const image = path.join(submission.dir, 'image.png');
  try {
    if (mode === 'edit') {
      const mask = submission.mask;
      if (!mask) throw new FramefillError('invalid_request', 'An edit needs a mask.', { field: 'mask' });
      // Only its header was read on arrival: a mask that does not decode would fail the composite after the paid
      // upstream call, so all of it is read now (to a few pixels: memory stays small).
      await sharp(mask.file, { limitInputPixels: MAX_DECODE_PIXELS, failOn: 'truncated' })
        .resize(8, 8, { fit: 'fill' })
        .raw()
        .toBuffer()
        .catch((error: unknown) => {
          throw new FramefillError('unsupported_image', 'The mask could not be read as a PNG image: draw it again.', {
            field: 'mask',
            cause: error,
          });
        });
      await sharp(first.file, { limitInputPixels: MAX_DECODE_PIXELS }).png().toFile(image);
      references[0] = { file: image, mime: 'image/png', width: first.width, height: first.height };
      return { references, edit: { mode, image, file: mask.file, width: first.width, height: first.height } };
    }
    if (size === 'auto') {
      throw new FramefillError('invalid_request', 'Expanding needs a ratio to expand to.', { field: 'aspect_ratio' });
    }
    const at = fitCentred(first, size);
    // Within the feather on every side the result is the original again: the image would be paid for unchanged.
    if (size.width - at.width <= 2 * MASK_FEATHER_PX && size.height - at.height <= 2 * MASK_FEATHER_PX) {
      throw new FramefillError(
        'invalid_request',
        `The image already has the ${submission.fields.aspect_ratio} ratio: there is nothing to expand. Pick another ratio, or use Generate or Edit.`,
        { field: 'aspect_ratio' },
      );
    }
    const fitted = await sharp(first.file, { limitInputPixels: MAX_DECODE_PIXELS })
      .removeAlpha()
      .resize(at.width, at.height, { fit: 'fill' })
      .png()
      .toBuffer();
    // The empty area repeats the image's edge pixels: a neutral start the model paints over, never shown as is.
    await sharp(fitted)
      .extend({
        left: at.left,
        top: at.top,
        right: size.width - at.width - at.left,
        bottom: size.height - at.height - at.top,
        extendWith: 'copy',
      })
      .png()
      .toFile(image);
    const maskFile = path.join(submission.dir, 'expand-mask.png');
    await sharp({ create: { ...size, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .composite([
        {
          input: { create: { width: at.width, height: at.height, channels: 4, background: '#ffffffff' } },
          left: at.left,
          top: at.top,
        },
      ])
      .png()
      .toFile(maskFile);
    references[0] = { file: image, mime: 'image/png', ...size };
    return { references, edit: { mode, image, file: maskFile, ...size } };
  } catch (error) {
    if (error instanceof FramefillError) throw error;
    throw new FramefillError('unsupported_image', 'Reference 1 could not be read as an image.', {
      field: 'reference',
      cause: error,
    });
  }
}
