// References of one upload while they are still arriving: the multipart reader reports each file's bytes, and
// the upstream request sends them on as they come, so a 16-reference job is forwarded while the client is still
// sending it instead of after (bench/ §1). The first upstream read takes the bytes from memory while it keeps up;
// the spool file is the buffer for everything else — an upstream slower than the client (it reads from disk once
// the uploads in flight hold more than their shared memory budget) and a retry (it reads the file again from the
// start).
import { open } from 'node:fs/promises';
import type { ReferenceMime } from '../core/limits';
import type { ArrivingReferenceSource } from './providers/types';

interface Spooled {
  file: string;
  mime: ReferenceMime;
  /** Bytes already written to `file`. */
  written: number;
  /** All of the file is on disk. */
  complete: boolean;
  /** The newest bytes not yet taken by the first reader, starting at file offset `memoryStart`. */
  memory: Buffer[];
  memoryStart: number;
  firstReaderTaken: boolean;
}

/** Upstream reads of a spool file: large enough for few reads, small enough to follow the writer closely. */
const READ_BYTES = 256 * 1024;
/**
 * Bytes kept for first readers, shared by every upload in flight: past the limit, the upload that just received
 * bytes drops its oldest and its reader catches up from disk. One upload of 16 × 2 MB fits whole, so its upstream
 * request never reads back what it could take from memory (bench/ §1: reading it back cost ~10 ms of CPU per job
 * and its allocations more collections); 50 uploads arriving faster than their upstream requests leave hold the
 * limit, not 50 × 32 MB (bench/ §2).
 */
export class MemoryBudget {
  held = 0;
  constructor(readonly limit: number) {}
}

export const FIRST_READER_BUDGET = new MemoryBudget(32 * 1024 * 1024);

export class ArrivingReferences implements ArrivingReferenceSource {
  private readonly spooled: Spooled[] = [];
  /** False once no first reader can use memory any more: the upload was refused, or its reader stopped. */
  private holding = true;
  private outcome: 'open' | 'accepted' | { refused: unknown } = 'open';
  private changed = signal();

  constructor(private readonly budget: MemoryBudget = FIRST_READER_BUDGET) {}

  /** Bytes of this upload held in memory for first readers, over all its references. */
  get bufferedBytes(): number {
    return this.spooled.reduce((sum, s) => sum + s.memory.reduce((bytes, chunk) => bytes + chunk.length, 0), 0);
  }

  /** Reference `index`'s first bytes passed the type check; its bytes go to `file`. */
  started(index: number, file: string, mime: ReferenceMime, bytesOnDisk: number): void {
    this.spooled[index] = {
      file,
      mime,
      written: bytesOnDisk,
      complete: false,
      memory: [],
      memoryStart: bytesOnDisk,
      firstReaderTaken: false,
    };
    this.notify();
  }

  /** The next bytes of reference `index`, as they arrived (before they reach the disk). */
  received(index: number, chunk: Buffer): void {
    const spooled = this.spooled[index];
    if (!spooled) return;
    if (this.holding) {
      spooled.memory.push(chunk);
      this.budget.held += chunk.length;
    }
    // Over the budget, this upload's oldest bytes go first: they are on disk (or soon will be), where the reader
    // finds them.
    for (const older of this.spooled) {
      while (this.budget.held > this.budget.limit && older.memory.length > 0) {
        const dropped = older.memory.shift()!;
        older.memoryStart += dropped.length;
        this.budget.held -= dropped.length;
      }
      if (this.budget.held <= this.budget.limit) break;
    }
    this.notify();
  }

  /** `bytes` of reference `index` are on disk now. */
  written(index: number, bytes: number): void {
    const spooled = this.spooled[index];
    if (!spooled) return;
    spooled.written = bytes;
    this.notify();
  }

  ended(index: number): void {
    const spooled = this.spooled[index];
    if (!spooled) return;
    spooled.complete = true;
    this.notify();
  }

  /** The whole upload was accepted (its job exists): the upstream request may now end. */
  accept(): void {
    if (this.outcome === 'open') this.outcome = 'accepted';
    this.notify();
  }

  /** The upload was refused: readers fail, so the upstream request is never completed. */
  refuse(reason: unknown): void {
    if (this.outcome === 'open') this.outcome = { refused: reason };
    this.release();
    this.notify();
  }

  /**
   * Gives the memory back to the shared budget: the upload was refused, the first reader stopped before the end
   * (a retry reads the spool), or the upstream call is over. Further bytes go to the spool only.
   */
  release(): void {
    this.holding = false;
    for (const spooled of this.spooled) {
      if (!spooled) continue;
      for (const chunk of spooled.memory.splice(0)) {
        spooled.memoryStart += chunk.length;
        this.budget.held -= chunk.length;
      }
    }
  }

  mime(index: number): ReferenceMime {
    const spooled = this.spooled[index];
    if (!spooled) throw new Error(`reference ${index + 1} has not arrived`);
    return spooled.mime;
  }

  /**
   * Whether a reference follows `index` (-1: whether there is any). Answers `false` only once the upload is
   * accepted, so the request carrying these references cannot be completed before the job and its credits exist.
   */
  async hasNext(index: number): Promise<boolean> {
    for (;;) {
      if (this.spooled.length > index + 1) return true;
      this.throwIfRefused();
      if (this.outcome === 'accepted') return false;
      await this.changed.promise;
    }
  }

  /** Reference `index`'s bytes as they arrive, to its end. */
  async *read(index: number): AsyncGenerator<Uint8Array> {
    const spooled = this.spooled[index];
    if (!spooled) throw new Error(`reference ${index + 1} has not arrived`);
    const first = !spooled.firstReaderTaken;
    spooled.firstReaderTaken = true;
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    let whole = false;
    try {
      let offset = 0;
      for (;;) {
        this.throwIfRefused();
        if (first && spooled.memory.length > 0 && spooled.memoryStart === offset) {
          const chunk = spooled.memory.shift()!;
          spooled.memoryStart += chunk.length;
          this.budget.held -= chunk.length;
          offset += chunk.length;
          yield chunk;
          continue;
        }
        // On disk and not (or no longer) in memory for this reader.
        const end =
          first && spooled.memory.length > 0 ? Math.min(spooled.written, spooled.memoryStart) : spooled.written;
        if (offset < end) {
          handle ??= await open(spooled.file, 'r');
          const chunk = Buffer.allocUnsafe(Math.min(READ_BYTES, end - offset));
          const { bytesRead } = await handle.read(chunk, 0, chunk.length, offset);
          if (bytesRead === 0) throw new Error(`reference ${index + 1} is shorter on disk than written`);
          offset += bytesRead;
          yield chunk.subarray(0, bytesRead);
          continue;
        }
        if (spooled.complete && offset >= spooled.written) {
          whole = true;
          return;
        }
        await this.changed.promise;
      }
    } finally {
      if (first && !whole) this.release();
      await handle?.close();
    }
  }

  private throwIfRefused(): void {
    if (typeof this.outcome === 'object') throw this.outcome.refused;
  }

  private notify(): void {
    const previous = this.changed;
    this.changed = signal();
    previous.resolve();
  }
}

/** A promise and its resolve (Node 20 has no Promise.withResolvers). */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
