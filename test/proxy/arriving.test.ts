// ArrivingReferences, the hand-over between the multipart reader and an upstream request that starts early: every
// reader gets each reference byte for byte, whether it keeps up (from memory), falls behind (from the spool) or
// comes later (a retry), and the list of references only ends once the upload is accepted.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ArrivingReferences, MemoryBudget } from '../../proxy/arriving';
import { FramefillError } from '../../proxy/errors';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

let files = 0;

/** Plays the multipart reader: chunks arrive, reach the disk in batches, and the file ends. */
function writer(arriving: ArrivingReferences, index: number) {
  dir ??= mkdtempSync(path.join(tmpdir(), 'framefill-arriving-'));
  const file = path.join(dir, `file-${index}-${++files}`);
  const fd = openSync(file, 'w');
  let onDisk = 0;
  const unwritten: Buffer[] = [];
  arriving.started(index, file, 'image/png', 0);
  return {
    receive(chunk: Buffer) {
      arriving.received(index, chunk);
      unwritten.push(chunk);
    },
    flush() {
      for (const chunk of unwritten.splice(0)) onDisk += writeSync(fd, chunk);
      arriving.written(index, onDisk);
    },
    end() {
      this.flush();
      arriving.ended(index);
    },
  };
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const chunksOf = (bytes: Buffer, size: number) =>
  Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));

describe('ArrivingReferences', () => {
  it('gives a reader that keeps up every byte, in order, while the file is still arriving', async () => {
    const arriving = new ArrivingReferences();
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const w = writer(arriving, 0);
    const read = collect(arriving.read(0));
    for (const [i, chunk] of chunksOf(bytes, 65_536).entries()) {
      w.receive(chunk);
      if (i % 16 === 15) w.flush();
      await tick();
    }
    w.end();
    expect((await read).equals(bytes)).toBe(true);
  });

  it('lets a reader that falls far behind catch up from the spool, and a second reader read it all again', async () => {
    const arriving = new ArrivingReferences(new MemoryBudget(512 * 1024));
    const bytes = randomBytes(9 * 1024 * 1024 + 5);
    const w = writer(arriving, 0);
    for (const [i, chunk] of chunksOf(bytes, 65_536).entries()) {
      w.receive(chunk);
      if (i % 16 === 15) w.flush();
    }
    w.end();
    // Nothing was read while 9 MB arrived: only the newest 512 KB are still in memory.
    expect(arriving.bufferedBytes).toBeLessThanOrEqual(512 * 1024);
    expect((await collect(arriving.read(0))).equals(bytes)).toBe(true);
    expect(arriving.bufferedBytes).toBe(0);
    expect((await collect(arriving.read(0))).equals(bytes)).toBe(true);
  });

  it('keeps a whole upload within its memory budget, dropping the oldest bytes first', async () => {
    const arriving = new ArrivingReferences(new MemoryBudget(512 * 1024));
    const files = [randomBytes(3 * 1024 * 1024), randomBytes(3 * 1024 * 1024)];
    for (const [index, bytes] of files.entries()) {
      const w = writer(arriving, index);
      for (const chunk of chunksOf(bytes, 65_536)) {
        w.receive(chunk);
        expect(arriving.bufferedBytes).toBeLessThanOrEqual(512 * 1024);
      }
      w.end();
    }
    for (const [index, bytes] of files.entries()) {
      expect((await collect(arriving.read(index))).equals(bytes)).toBe(true);
    }
    expect(arriving.bufferedBytes).toBe(0);
  });

  it('shares one budget between uploads, and gives it back when an upload is refused or its reader stops', async () => {
    const budget = new MemoryBudget(1024 * 1024);
    const first = new ArrivingReferences(budget);
    const second = new ArrivingReferences(budget);
    const bytes = [randomBytes(768 * 1024), randomBytes(768 * 1024)];
    const a = writer(first, 0);
    for (const chunk of chunksOf(bytes[0]!, 65_536)) a.receive(chunk);
    expect(budget.held).toBe(768 * 1024);
    // The second upload arrives while the first still holds 768 KB: it drops its own oldest bytes.
    const b = writer(second, 0);
    for (const chunk of chunksOf(bytes[1]!, 65_536)) {
      b.receive(chunk);
      expect(budget.held).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(first.bufferedBytes).toBe(768 * 1024);
    a.end();
    b.end();
    // A reader that stops part-way gives its upload's memory back; the spool still has every byte.
    for await (const chunk of first.read(0)) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    expect(first.bufferedBytes).toBe(0);
    second.refuse(new FramefillError('invalid_request', 'refused'));
    expect(budget.held).toBe(0);
    expect((await collect(first.read(0))).equals(bytes[0]!)).toBe(true);
  });

  it('keeps every byte of an upload that fits its budget for a reader that starts late', async () => {
    const budget = new MemoryBudget(32 * 1024 * 1024);
    const arriving = new ArrivingReferences(budget);
    const bytes = randomBytes(4 * 1024 * 1024);
    const w = writer(arriving, 0);
    for (const chunk of chunksOf(bytes, 65_536)) w.receive(chunk);
    w.end();
    expect(arriving.bufferedBytes).toBe(bytes.length);
    expect((await collect(arriving.read(0))).equals(bytes)).toBe(true);
    expect(budget.held).toBe(0);
  });

  it('reads a file whose bytes reached the disk before its type was known', async () => {
    const arriving = new ArrivingReferences();
    dir = mkdtempSync(path.join(tmpdir(), 'framefill-arriving-'));
    const file = path.join(dir, 'short');
    const bytes = Buffer.from('tiny');
    writeSync(openSync(file, 'w'), bytes);
    arriving.started(0, file, 'image/png', bytes.length);
    arriving.ended(0);
    expect((await collect(arriving.read(0))).equals(bytes)).toBe(true);
  });

  it('says another reference follows as soon as one starts, and that none does only once the upload is accepted', async () => {
    const arriving = new ArrivingReferences();
    writer(arriving, 0).end();
    let answer: boolean | undefined;
    void arriving.hasNext(0).then((next) => (answer = next));
    await tick();
    expect(answer).toBeUndefined();
    writer(arriving, 1);
    await tick();
    expect(answer).toBe(true);
    let last: boolean | undefined;
    void arriving.hasNext(1).then((next) => (last = next));
    await tick();
    expect(last).toBeUndefined();
    arriving.accept();
    await tick();
    expect(last).toBe(false);
  });

  it('fails every waiting reader and question once the upload is refused', async () => {
    const arriving = new ArrivingReferences();
    const w = writer(arriving, 0);
    w.receive(randomBytes(1000));
    const read = collect(arriving.read(0));
    const next = arriving.hasNext(0);
    const refusal = new FramefillError('unsupported_image', 'Reference 2 is not a PNG, JPEG or WebP image.');
    arriving.refuse(refusal);
    await expect(read).rejects.toBe(refusal);
    await expect(next).rejects.toBe(refusal);
  });
});
