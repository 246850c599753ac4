// A streaming multipart/form-data reader for `POST /v1/generations`: text fields are kept (capped) in
// memory, files are written to disk in batches while they arrive, so one request holds at most a couple of
// batches in memory however large it is, and every limit is enforced as soon as it is crossed. Parsing never
// waits for the disk: each file's open, writes, close and `checkFile` run as a chain beside it (one write in
// flight per file), so a fast client is not held back by the disk's round trips (bench/ §1).
import { type FileHandle, mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { FramefillError } from './errors';

export interface FilePart {
  name: string;
  filename: string;
  file: string;
  bytes: number;
  /**
   * CRC-32 of the whole file: with `bytes`, what tells two uploads apart for Idempotency-Key (a retry must send
   * the same bytes). Not a defence against a forger, who could only confuse its own account's jobs; SHA-256 cost
   * ~25 ms of proxy CPU per 32 MB, more than the rest of the upload (bench/ §1).
   */
  crc32: number;
  /** The file's first bytes (up to HEAD_BYTES), where its header is; dropped once `checkFile` has run. */
  head?: Buffer;
}

export interface FormLimits {
  maxFileBytes: number;
  maxFiles: number;
  maxFieldBytes: number;
  /** Called once a file's first bytes are known; throw to refuse it before the rest arrives. */
  checkFileStart?: (head: Uint8Array, index: number) => void;
  /** Called when a file has fully arrived (e.g. to read its dimensions); throw to refuse it. */
  checkFile?: (part: FilePart, index: number) => Promise<void>;
  /** Error for a file over `maxFileBytes`, and for one file too many. */
  fileTooLarge: (index: number) => FramefillError;
  tooManyFiles: (count: number) => FramefillError;
  fieldTooLarge: (name: string) => FramefillError;
  /** Told of each file's progress on disk, so it can be forwarded while it still arrives. */
  observer?: SpoolObserver;
}

export interface SpoolObserver {
  /** File `index` passed `checkFileStart`; `fields` are the text fields that came before it. */
  fileStarted(index: number, file: string, bytesOnDisk: number, fields: ReadonlyMap<string, string>): void;
  /** The next bytes of file `index`, as they arrived (they reach the disk later, in batches). */
  fileData(index: number, chunk: Buffer): void;
  fileWritten(index: number, bytesOnDisk: number): void;
  /** All of file `index` is on disk. */
  fileEnded(index: number): void;
}

export interface ParsedForm {
  fields: Map<string, string>;
  files: FilePart[];
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 16 * 1024;
/**
 * Unwritten file bytes kept before one writev: a 2 MB reference is 2 writes. 256 KB cost ~10 ms more CPU per
 * 16-reference job (bench/ §1); 50 uploads then hold ~100 MB of batches at most (§2 peak 261 → 343 MB).
 */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** A file's first bytes, enough for `sniffImageMime`. */
const SNIFF_BYTES = 16;
/** Kept of each file for its header: PNG and WebP need 30 bytes, a JPEG's frame header follows its metadata. */
const HEAD_BYTES = 16 * 1024;

export function boundaryOf(contentType: string | undefined): string {
  const match = /^multipart\/form-data\s*;(?:.*;)?\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(
    contentType ?? '',
  );
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) {
    throw new FramefillError(
      'invalid_request',
      'Send the generation as multipart/form-data (prompt, aspect_ratio, resolution, reference…).',
    );
  }
  return boundary;
}

const malformed = (why: string) => new FramefillError('invalid_request', `The multipart body is malformed: ${why}.`);

type SpoolFile = NonNullable<OpenPart['file']>;

interface OpenPart {
  name: string;
  filename: string | undefined;
  size: number;
  chunks?: Buffer[];
  file?: {
    index: number;
    path: string;
    handle: Promise<FileHandle>;
    /** The file's disk work so far (open, writes, then close and check), in order. */
    work: Promise<void>;
    /** A write is queued or in flight. */
    writing: boolean;
    crc32: number;
    /** The first bytes, up to HEAD_BYTES: sniffed once SNIFF_BYTES are in, and handed over with the file. */
    head: Buffer;
    checked: boolean;
    /** Chunks not yet on disk: written together with writev, not one write per network chunk. */
    pending: Buffer[];
    pendingBytes: number;
    /** Bytes written to disk so far. */
    flushed: number;
  };
}

/**
 * Reads a multipart body into `dir` (created here; the caller removes it when done with the files). On any
 * error the files written so far are removed and the error is thrown.
 */
export async function readMultipart(
  body: AsyncIterable<Uint8Array> | null,
  contentType: string | undefined,
  dir: string,
  limits: FormLimits,
): Promise<ParsedForm> {
  const boundary = boundaryOf(contentType);
  if (!body) throw malformed('the body is empty');
  const dashBoundary = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.concat([CRLF, dashBoundary]);
  const form: ParsedForm = { fields: new Map(), files: [] };
  let state = 'preamble' as 'preamble' | 'after-boundary' | 'headers' | 'body' | 'done';
  let buf: Buffer = Buffer.alloc(0);
  let part: OpenPart | undefined;
  let fileCount = 0;
  /** Every file, whose disk work is awaited before the form is returned (or the folder removed). */
  const files: SpoolFile[] = [];
  let fileFailure: { error: unknown } | undefined;
  await mkdir(dir, { recursive: true });

  /** Runs `step` after the file's earlier disk work; a failure is kept and thrown by the parser's next step. */
  const chain = (file: SpoolFile, step: () => Promise<void>) => {
    file.work = file.work.then(step);
    file.work.catch((error: unknown) => {
      fileFailure ??= { error };
    });
  };

  const startPart = async (headerText: string) => {
    const disposition = /^content-disposition:\s*form-data(.*)$/im.exec(headerText)?.[1];
    if (disposition === undefined) throw malformed('a part has no Content-Disposition');
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1] ?? /;\s*name=([^;\s]+)/i.exec(disposition)?.[1];
    if (!name) throw malformed('a part has no name');
    const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1];
    part = { name, filename, size: 0 };
    if (filename === undefined) {
      part.chunks = [];
      return;
    }
    fileCount++;
    if (fileCount > limits.maxFiles) throw limits.tooManyFiles(fileCount);
    const file = path.join(dir, `file-${fileCount}`);
    const handle = open(file, 'w');
    part.file = {
      index: fileCount - 1,
      path: file,
      handle,
      work: handle.then(() => undefined),
      writing: false,
      crc32: 0,
      head: Buffer.alloc(0),
      checked: false,
      pending: [],
      pendingBytes: 0,
      flushed: 0,
    };
    files.push(part.file);
  };

  const writePart = async (chunk: Buffer) => {
    if (!part || chunk.length === 0) return;
    part.size += chunk.length;
    if (part.chunks) {
      if (part.size > limits.maxFieldBytes) throw limits.fieldTooLarge(part.name);
      part.chunks.push(chunk);
      return;
    }
    const file = part.file!;
    if (part.size > limits.maxFileBytes) throw limits.fileTooLarge(fileCount - 1);
    if (file.head.length < HEAD_BYTES) {
      file.head = Buffer.concat([file.head, chunk.subarray(0, HEAD_BYTES - file.head.length)]);
      if (!file.checked && file.head.length >= SNIFF_BYTES) checkStart(file);
    }
    file.crc32 = crc32(chunk, file.crc32);
    if (file.checked) limits.observer?.fileData(file.index, chunk);
    file.pending.push(chunk);
    file.pendingBytes += chunk.length;
    if (file.pendingBytes >= WRITE_BATCH_BYTES) {
      // One write in flight per file: a disk slower than the client holds the parser here, not batches in memory.
      if (file.writing) await file.work;
      flush(file);
    }
  };

  const checkStart = (file: SpoolFile) => {
    file.checked = true;
    limits.checkFileStart?.(file.head, file.index);
    limits.observer?.fileStarted(file.index, file.path, file.flushed, form.fields);
    // The bytes before the type check are not on disk yet: they are the file's first data.
    for (const chunk of file.pending) limits.observer?.fileData(file.index, chunk);
  };

  const flush = (file: SpoolFile) => {
    if (file.pending.length === 0) return;
    const chunks = file.pending;
    const bytes = file.pendingBytes;
    file.pending = [];
    file.pendingBytes = 0;
    file.writing = true;
    chain(file, async () => {
      await (await file.handle).writev(chunks);
      file.writing = false;
      file.flushed += bytes;
      if (file.checked) limits.observer?.fileWritten(file.index, file.flushed);
    });
  };

  const endPart = async () => {
    if (!part) return;
    const done = part;
    part = undefined;
    if (done.chunks) {
      if (form.fields.has(done.name)) throw malformed(`the field "${done.name}" appears twice`);
      form.fields.set(done.name, Buffer.concat(done.chunks).toString('utf8'));
      return;
    }
    const file = done.file!;
    if (!file.checked) checkStart(file);
    flush(file);
    const filePart: FilePart = {
      name: done.name,
      filename: done.filename ?? '',
      file: file.path,
      bytes: done.size,
      crc32: file.crc32,
      head: file.head,
    };
    form.files.push(filePart);
    chain(file, async () => {
      await (await file.handle).close();
      limits.observer?.fileEnded(file.index);
      await limits.checkFile?.(filePart, file.index);
      delete filePart.head;
    });
    // At most two files' disk work in flight: a client faster than the disk waits here rather than in memory.
    await files.at(-2)?.work;
  };

  // Consumes as much of `buf` as the state allows; returns false when it needs more bytes.
  const step = async (): Promise<boolean> => {
    switch (state) {
      case 'preamble': {
        const at = buf.indexOf(dashBoundary);
        if (at < 0) {
          if (buf.length > MAX_HEADER_BYTES) throw malformed('no opening boundary');
          return false;
        }
        buf = buf.subarray(at + dashBoundary.length);
        state = 'after-boundary';
        return true;
      }
      case 'after-boundary': {
        if (buf.length < 2) return false;
        if (buf[0] === 0x2d && buf[1] === 0x2d) {
          state = 'done';
          return false;
        }
        if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw malformed('a boundary is not followed by a line break');
        buf = buf.subarray(2);
        state = 'headers';
        return true;
      }
      case 'headers': {
        const at = buf.indexOf(HEADER_END);
        if (at < 0) {
          if (buf.length > MAX_HEADER_BYTES) throw malformed('part headers are too long');
          return false;
        }
        await startPart(buf.subarray(0, at).toString('latin1'));
        buf = buf.subarray(at + HEADER_END.length);
        state = 'body';
        return true;
      }
      case 'body': {
        const at = buf.indexOf(delimiter);
        if (at >= 0) {
          await writePart(buf.subarray(0, at));
          await endPart();
          buf = buf.subarray(at + delimiter.length);
          state = 'after-boundary';
          return true;
        }
        // Keep only a tail that could be the start of the delimiter; everything before it is the part's.
        const safe = buf.length - delimiterPrefixAtEnd(buf, delimiter);
        if (safe > 0) {
          await writePart(buf.subarray(0, safe));
          buf = buf.subarray(safe);
        }
        return false;
      }
      case 'done':
        return false;
    }
  };

  try {
    for await (const value of body) {
      // Views, not copies, of the network chunks: a 32 MB upload would otherwise be copied chunk by chunk.
      const chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (buf.length === 0) buf = chunk;
      else if (state === 'body' && part && buf.length < delimiter.length && chunk.length >= delimiter.length) {
        // `buf` is the tail kept in case a delimiter starts in it. Such a delimiter would end within the chunk's
        // first bytes, so only those are joined to the tail; otherwise the tail is the part's and the chunk is
        // taken as it is.
        const joint = Buffer.concat([buf, chunk.subarray(0, delimiter.length)]);
        const at = joint.indexOf(delimiter);
        if (at >= 0 && at < buf.length) buf = Buffer.concat([buf, chunk]);
        else {
          await writePart(buf);
          buf = chunk;
        }
      } else buf = Buffer.concat([buf, chunk]);
      while (await step()) {
        // step() advanced the state; keep going while bytes remain useful.
      }
      if (fileFailure) throw fileFailure.error;
      if (state === 'done') break;
    }
    if (state !== 'done') throw malformed('the body ended before the closing boundary');
    await Promise.all(files.map((file) => file.work));
    return form;
  } catch (error) {
    // Every file's disk work settles, and every handle is closed (again is harmless), before the folder goes.
    await Promise.allSettled(files.map((file) => file.work));
    await Promise.allSettled(files.map(async (file) => (await file.handle).close()));
    // Leaving the body unread: the HTTP server drains (briefly) or closes the connection after answering.
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The length of the longest end of `buf` that is the start of `delimiter` (shorter than it): the bytes to keep
 * until the next chunk shows whether a delimiter begins there. For image bytes this is almost always 0, so a
 * network chunk goes on whole — keeping a fixed-size tail instead split every chunk into a large and a tiny
 * write, each forwarded and spooled on its own (bench/ §1).
 */
export function delimiterPrefixAtEnd(buf: Buffer, delimiter: Buffer): number {
  let at = buf.indexOf(delimiter[0]!, Math.max(0, buf.length - (delimiter.length - 1)));
  while (at >= 0) {
    const tail = buf.subarray(at);
    if (tail.equals(delimiter.subarray(0, tail.length))) return tail.length;
    at = buf.indexOf(delimiter[0]!, at + 1);
  }
  return 0;
}
