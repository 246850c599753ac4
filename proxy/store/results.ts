// Result images by (job id, index): files in the data dir beside SQLite, a bytea table with PostgreSQL so that any
// replica serves any image. A job's variations are its indexes 0, 1, ….
import { chmodSync, existsSync, mkdirSync, openAsBlob } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nowIso, type Store } from './sql';

export interface ResultImage {
  mime: string;
  bytes: Buffer;
}

/**
 * An image on its way out: with files, a stream from disk (a 4K PNG is not read into memory first); with
 * PostgreSQL, the row's bytes, already in memory.
 */
export interface ResultBody {
  size: number;
  body: ReadableStream<Uint8Array> | Uint8Array;
}

export interface ResultStore {
  /** Keeps the image; resolves with where it is (recorded on the job as its `result_file`). */
  put(jobId: string, index: number, image: ResultImage): Promise<string>;
  /** The image to send, or nothing when it is gone. */
  open(jobId: string, index: number, mime: string): Promise<ResultBody | undefined>;
  /** Deletes one image (the result TTL or the budget removed it); nothing when it is already gone. */
  delete(jobId: string, index: number): Promise<void>;
  /** Deletes every image of the job. */
  deleteJob(jobId: string): Promise<void>;
}

const extensionOf = (mime: string) => (mime === 'image/png' ? 'png' : 'jpg');
const MIME_OF: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg' };

/** `<dir>/<job>.<ext>` for index 0 (the name older data dirs have), `<job>-<index>.<ext>` beyond. */
export class FileResults implements ResultStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // A data dir from an older version kept its results readable by all.
    chmodSync(dir, 0o700);
  }

  private base(jobId: string, index: number): string {
    return path.join(this.dir, index === 0 ? jobId : `${jobId}-${index}`);
  }

  async put(jobId: string, index: number, image: ResultImage): Promise<string> {
    const file = `${this.base(jobId, index)}.${extensionOf(image.mime)}`;
    await writeFile(file, image.bytes, { mode: 0o600 });
    return file;
  }

  async open(jobId: string, index: number, mime: string): Promise<ResultBody | undefined> {
    try {
      const file = await openAsBlob(`${this.base(jobId, index)}.${extensionOf(mime)}`);
      return { size: file.size, body: file.stream() };
    } catch {
      return undefined; // evicted, or the data dir lost it: the route says the image expired
    }
  }

  async delete(jobId: string, index: number): Promise<void> {
    await Promise.all(
      Object.keys(MIME_OF).map((extension) => rm(`${this.base(jobId, index)}.${extension}`, { force: true })),
    );
  }

  /** Indexes are dense from 0: deleting stops at the first index with no file (no listing of the folder). */
  async deleteJob(jobId: string): Promise<void> {
    for (let index = 0; ; index++) {
      const files = Object.keys(MIME_OF).map((extension) => `${this.base(jobId, index)}.${extension}`);
      const present = files.filter((file) => existsSync(file));
      if (present.length === 0) return;
      await Promise.all(present.map((file) => rm(file, { force: true })));
    }
  }
}

export class DatabaseResults implements ResultStore {
  constructor(private readonly db: Store) {}

  async put(jobId: string, index: number, image: ResultImage): Promise<string> {
    await this.db.run(
      `INSERT INTO results (job_id, idx, mime, bytes, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (job_id, idx) DO UPDATE SET mime = EXCLUDED.mime, bytes = EXCLUDED.bytes`,
      [jobId, index, image.mime, image.bytes, nowIso()],
    );
    return `db:results/${jobId}/${index}`;
  }

  async open(jobId: string, index: number): Promise<ResultBody | undefined> {
    const row = await this.db.one<{ bytes: Buffer }>('SELECT bytes FROM results WHERE job_id = $1 AND idx = $2', [
      jobId,
      index,
    ]);
    return row && { size: row.bytes.length, body: row.bytes };
  }

  async delete(jobId: string, index: number): Promise<void> {
    await this.db.run('DELETE FROM results WHERE job_id = $1 AND idx = $2', [jobId, index]);
  }

  async deleteJob(jobId: string): Promise<void> {
    await this.db.run('DELETE FROM results WHERE job_id = $1', [jobId]);
  }
}

export function resultStoreFor(db: Store, dataDir: string): ResultStore {
  return db.engine === 'postgres' ? new DatabaseResults(db) : new FileResults(path.join(dataDir, 'results'));
}
