// A `POST /v1/generations` upload → its checked fields and one record per reference (DESIGN.md §4–§5). busboy
// reads the multipart body under its limits; each reference is written to its own file in a fresh folder while
// it arrives, so a job of 16 large references is never held in memory. Any failure, a client gone mid-upload
// included, removes the folder before the error leaves this module.
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Busboy, type BusboyFileStream, type BusboyInstance } from '@fastify/busboy';
import { type GenerationFields, GenerationFieldsSchema } from '../core/api';
import {
  MASK_MAX_BYTES,
  MAX_REFERENCES,
  PROMPT_MAX_CHARS,
  REFERENCE_MAX_BYTES,
  type ReferenceMime,
} from '../core/limits';
import { validateGeneration, validateMask, validateMode } from '../core/validate';
import { FramefillError } from './errors';
import { referenceDimensions, referenceMimeOf } from './images';

export interface ReferenceRecord {
  /** Where the reference's bytes are, exactly as the client sent them. */
  file: string;
  mime: ReferenceMime;
  width: number;
  height: number;
  bytes: number;
  /** SHA-256 of the bytes: with the fields, what tells two requests apart for Idempotency-Key. */
  hash: string;
}

/** An edit's mask (mode=edit): checked against the first reference as OpenAI documents masks. */
export interface MaskRecord {
  file: string;
  width: number;
  height: number;
  bytes: number;
  hash: string;
}

export interface Submission {
  fields: GenerationFields;
  references: ReferenceRecord[];
  mask?: MaskRecord;
  /** The folder holding the references; the caller removes it once the job no longer needs them. */
  dir: string;
  /** SHA-256 of the whole request (fields and references, in order). */
  requestHash: string;
}

/** The text fields a generation may carry; any other field is refused, naming it. */
const TEXT_FIELDS = ['prompt', 'aspect_ratio', 'resolution', 'quality', 'output_format', 'mode', 'n'] as const;
const FILE_FIELDS = new Set(['reference', 'reference[]']);
const MASK_FIELD = 'mask';
const isTextField = (name: string) => (TEXT_FIELDS as readonly string[]).includes(name);
/** A prompt of 20,000 four-byte characters plus generous whitespace; the other fields are tiny. */
const MAX_FIELD_BYTES = 1024 * 1024;

/** The client closed the connection before its upload was whole: nobody is left to answer. */
export class ClientGone extends Error {
  constructor(cause?: unknown) {
    super('the client closed the connection during the upload', { cause });
    this.name = 'ClientGone';
  }
}

export interface ReceiveOptions {
  /** Where each upload gets a folder of its own. */
  uploadsDir: string;
  /** Per-reference byte cap: §4's 50 MB unless a test lowers it. */
  referenceMaxBytes?: number;
  /** The whole body's cap (FRAMEFILL_BODY_LIMIT_BYTES), counted as it streams: a chunked body declares no length. */
  maxBodyBytes: number;
}

export async function receiveSubmission(
  body: ReadableStream<Uint8Array> | null,
  contentType: string | undefined,
  options: ReceiveOptions,
): Promise<Submission> {
  if (!body || !contentType?.toLowerCase().startsWith('multipart/form-data')) {
    throw new FramefillError('invalid_request', 'Send the generation as multipart/form-data.', { field: 'body' });
  }
  const dir = path.join(options.uploadsDir, randomUUID());
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    const raw = Readable.fromWeb(body as never);
    const source = raw.pipe(capped(options.maxBodyBytes));
    raw.on('error', (error) => source.destroy(new ClientGone(error)));
    const { fields, files, mask: maskFile } = await readForm(source, contentType, dir, options);
    const checked = generationFields(fields, files.length, maskFile !== undefined);
    const references = await Promise.all(
      files.map(async (file, index) => ({ ...file, ...(await referenceDimensions(file.file, index, file.head)) })),
    );
    const mask = maskFile && references[0] ? await checkedMask(maskFile, references[0]) : undefined;
    const requestHash = createHash('sha256')
      .update(
        JSON.stringify([
          TEXT_FIELDS.map((name) => checked[name]),
          references.map((r) => r.hash),
          ...(mask ? [mask.hash] : []),
        ]),
      )
      .digest('hex');
    return {
      fields: checked,
      references: references.map(({ head: _head, ...record }) => record),
      ...(mask ? { mask } : {}),
      dir,
      requestHash,
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

interface ReceivedFile extends Omit<ReferenceRecord, 'width' | 'height'> {
  /** The first bytes, where the header (and so the dimensions) usually is. */
  head: Buffer;
}

/** Reads the form: text fields into a map, each file onto disk; settles once every file is written. */
function readForm(
  source: Readable,
  contentType: string,
  dir: string,
  options: ReceiveOptions,
): Promise<{ fields: Map<string, string>; files: ReceivedFile[]; mask?: ReceivedMask }> {
  const maxBytes = options.referenceMaxBytes ?? REFERENCE_MAX_BYTES;
  const fields = new Map<string, string>();
  const writes: Promise<ReceivedFile>[] = [];
  let maskWrite: Promise<ReceivedMask> | undefined;
  let busboy: BusboyInstance;
  try {
    busboy = newBusboy(contentType, maxBytes);
  } catch (error) {
    // A Content-Type busboy cannot read (no boundary, a bad charset…) is the client's error.
    return Promise.reject(
      new FramefillError('invalid_request', 'Send the generation as multipart/form-data with a boundary.', {
        field: 'Content-Type',
        cause: error,
      }),
    );
  }

  return new Promise((resolve, reject) => {
    let failed = false;
    // Files still being written: a failure closes them, so no descriptor outlives the request.
    const open = new Set<BusboyFileStream>();
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      source.unpipe(busboy);
      for (const stream of open) stream.destroy(new Error('the upload was refused'));
      Promise.allSettled([...writes, drainBriefly(source)]).then(() => reject(error));
    };

    busboy.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (valueTruncated) return fail(fieldTooLarge(name));
      fields.set(name, value);
    });
    busboy.on('file', (name, stream, _filename) => {
      const index = writes.length;
      if (name === MASK_FIELD) {
        if (maskWrite) {
          stream.resume();
          return fail(new FramefillError('invalid_request', 'Send at most one mask.', { field: MASK_FIELD }));
        }
        open.add(stream);
        stream.once('end', () => open.delete(stream));
        maskWrite = writeMask(stream, path.join(dir, 'mask.png'));
        maskWrite.catch(fail);
        return;
      }
      if (FILE_FIELDS.has(name) && index >= MAX_REFERENCES) {
        stream.resume();
        return fail(tooManyReferences());
      }
      if (!FILE_FIELDS.has(name)) {
        stream.resume();
        return fail(
          isTextField(name)
            ? new FramefillError('invalid_request', `The field "${name}" must be text, not a file.`, { field: name })
            : new FramefillError(
                'invalid_request',
                `Unknown field "${name}": a generation takes ${TEXT_FIELDS.join(', ')}, reference files and a mask.`,
                { field: name },
              ),
        );
      }
      open.add(stream);
      stream.once('end', () => open.delete(stream));
      const write = writeReference(stream, path.join(dir, String(index)), index, maxBytes);
      write.catch(fail);
      writes.push(write);
    });
    busboy.on('filesLimit', () => fail(tooManyReferences()));
    busboy.on('fieldsLimit', () =>
      fail(new FramefillError('invalid_request', 'The form has more fields than a generation takes.')),
    );
    busboy.on('partsLimit', () =>
      fail(new FramefillError('invalid_request', 'The form has more parts than a generation takes.')),
    );
    busboy.on('error', (error: unknown) =>
      fail(new FramefillError('invalid_request', 'The multipart body is malformed.', { cause: error })),
    );
    busboy.on('finish', () => {
      Promise.all([Promise.all(writes), maskWrite]).then(([files, mask]) => {
        if (!failed) resolve({ fields, files, ...(mask ? { mask } : {}) });
      }, fail);
    });
    source.on('error', (error) =>
      fail(error instanceof FramefillError || error instanceof ClientGone ? error : new ClientGone(error)),
    );
    source.on('close', () => {
      if (!source.readableEnded) fail(new ClientGone());
    });
    source.pipe(busboy);
  });
}

/** Passes the body on, and fails with payload_too_large as soon as it passes `maxBytes`. */
function capped(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > maxBytes) return done(payloadTooLarge(maxBytes));
      done(null, chunk);
    },
  });
}

export function payloadTooLarge(maxBytes: number): FramefillError {
  return new FramefillError(
    'payload_too_large',
    `The request is over ${Math.max(1, Math.floor(maxBytes / 1024 / 1024))} MB: use fewer or smaller reference images.`,
  );
}

/**
 * Reads what is left of a refused request for a moment before the answer goes out: a client still sending a small
 * body would otherwise meet a closed socket (EPIPE) instead of the error. A large rest is not waited for; the
 * connection is closed after the answer.
 */
function drainBriefly(source: Readable, maxBytes = 1024 * 1024, maxMs = 1000): Promise<void> {
  if (source.readableEnded || source.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      source.off('data', count);
      source.pause();
      resolve();
    };
    const count = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) done();
    };
    const timer = setTimeout(done, maxMs);
    source.on('data', count);
    source.resume();
    source.once('end', done);
    source.once('close', done);
    source.once('error', done);
  });
}

function newBusboy(contentType: string, maxBytes: number): BusboyInstance {
  return new Busboy({
    headers: { 'content-type': contentType },
    // A `reference` part is a file even when the client gave no filename: never dropped and billed as text. A part
    // of unknown name is handed over as a file too, so it is refused at its header, before its value is buffered.
    isPartAFile: (name, _type, filename) =>
      filename !== undefined || FILE_FIELDS.has(name ?? '') || !isTextField(name ?? ''),
    limits: {
      // The references and one mask.
      files: MAX_REFERENCES + 1,
      fileSize: maxBytes,
      fields: TEXT_FIELDS.length,
      fieldSize: MAX_FIELD_BYTES,
      parts: MAX_REFERENCES + 1 + TEXT_FIELDS.length,
      headerPairs: 8,
    },
  });
}

const HEAD_BYTES = 64 * 1024;

/** One reference onto disk: its type checked from its first bytes, its size capped, its bytes hashed. */
async function writeReference(
  stream: BusboyFileStream,
  file: string,
  index: number,
  maxBytes: number,
): Promise<ReceivedFile> {
  const hash = createHash('sha256');
  const heads: Buffer[] = [];
  let bytes = 0;
  let mime: ReferenceMime | undefined;
  const inspect = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (bytes < HEAD_BYTES) heads.push(chunk.subarray(0, HEAD_BYTES - bytes));
      bytes += chunk.length;
      hash.update(chunk);
      try {
        mime ??= referenceMimeOf(Buffer.concat(heads), index);
      } catch (error) {
        // Too few bytes to tell yet: wait for more, unless the file is already past its header.
        if (bytes >= 16) return done(error as Error);
      }
      done(null, chunk);
    },
    flush(done) {
      if (!mime) {
        try {
          mime = referenceMimeOf(Buffer.concat(heads), index);
        } catch (error) {
          return done(error as Error);
        }
      }
      done();
    },
  });
  stream.on('limit', () =>
    inspect.destroy(
      new FramefillError(
        'reference_too_large',
        `Reference ${index + 1} is over ${Math.floor(maxBytes / 1024 / 1024)} MB. Lower the reference size in Settings.`,
        { field: 'reference' },
      ),
    ),
  );
  await pipeline(stream, inspect, createWriteStream(file, { mode: 0o600 }));
  return { file, mime: mime as ReferenceMime, bytes, hash: hash.digest('hex'), head: Buffer.concat(heads) };
}

function tooManyReferences(): FramefillError {
  return new FramefillError(
    'too_many_references',
    `More than ${MAX_REFERENCES} references sent; at most ${MAX_REFERENCES} are allowed. Remove some from the tray.`,
    { field: 'reference' },
  );
}

interface ReceivedMask {
  file: string;
  bytes: number;
  hash: string;
}

/** The mask onto disk, refused as soon as it passes OpenAI's cap (its content is checked once it is whole). */
async function writeMask(stream: BusboyFileStream, file: string): Promise<ReceivedMask> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tooLarge = () =>
    new FramefillError(
      'mask_too_large',
      `The mask is over ${(MASK_MAX_BYTES + 1) / 1_000_000} MB; OpenAI takes masks under that. Edit a smaller image.`,
      { field: MASK_FIELD },
    );
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > MASK_MAX_BYTES) return done(tooLarge());
      hash.update(chunk);
      done(null, chunk);
    },
  });
  stream.on('limit', () => count.destroy(tooLarge()));
  await pipeline(stream, count, createWriteStream(file, { mode: 0o600 }));
  return { file, bytes, hash: hash.digest('hex') };
}

/** The mask against the image it edits (core's rules, the panel's too). */
async function checkedMask(mask: ReceivedMask, image: { width: number; height: number }): Promise<MaskRecord> {
  const bytes = await readFile(mask.file);
  const problem = validateMask({ mask: bytes, image });
  if (problem) throw new FramefillError(problem.code, problem.message, { field: problem.field });
  return { ...mask, width: image.width, height: image.height };
}

function fieldTooLarge(name: string): FramefillError {
  return name === 'prompt'
    ? new FramefillError(
        'prompt_too_long',
        `Shorten the prompt to ${PROMPT_MAX_CHARS.toLocaleString('en-US')} characters or fewer.`,
        { field: 'prompt' },
      )
    : new FramefillError('invalid_request', `The field "${name}" is too long.`, { field: name });
}

/** The text fields of a generation, validated (core's rules first, for their codes, then the schema). */
function generationFields(
  form: ReadonlyMap<string, string>,
  referenceCount: number,
  hasMask: boolean,
): GenerationFields {
  const raw = Object.fromEntries(form);
  const problem =
    validateGeneration({
      prompt: raw.prompt ?? '',
      aspectRatio: raw.aspect_ratio ?? '',
      resolution: raw.resolution ?? '',
      referenceCount,
      variations: raw.n,
    }) ?? validateMode({ mode: raw.mode ?? 'generate', referenceCount, hasMask, aspectRatio: raw.aspect_ratio ?? '' });
  if (problem) throw new FramefillError(problem.code, problem.message, { field: problem.field });
  const parsed = GenerationFieldsSchema.safeParse(raw);
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? 'body');
    throw new FramefillError('invalid_request', `The field "${field}" has an unsupported value.`, { field });
  }
  return { ...parsed.data, prompt: parsed.data.prompt.trim() };
}
