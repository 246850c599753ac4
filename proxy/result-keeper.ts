// How long result images are kept: each is removed once older than the result TTL (FRAMEFILL_RESULT_TTL_HOURS),
// and while all images together exceed the budget (FRAMEFILL_RESULTS_MAX_MB) the oldest go first — on disk with
// SQLite, in the database with PostgreSQL. Only the image goes: its job keeps its row, prompt, settings and
// thumbnail, so History still shows and reuses it. The images of the job that completed last are never removed by
// the budget, so a result just paid for can always be fetched, even when it alone exceeds the budget.
import type { JobStore, StoredImage } from './jobs';
import type { ResultStore } from './store/results';

export interface ResultKeeperOptions {
  store: JobStore;
  results: ResultStore;
  ttlMs: number;
  maxBytes: number;
}

/** Images looked at per round of the budget. */
const BATCH = 100;

export class ResultKeeper {
  constructor(private readonly o: ResultKeeperOptions) {}

  /** Removes images past the TTL, then the oldest while over the budget; returns how many were removed. */
  async sweep(): Promise<number> {
    const cutoff = new Date(Date.now() - this.o.ttlMs).toISOString();
    let removed = 0;
    for (const image of await this.o.store.storedImagesBefore(cutoff)) {
      await this.evict(image);
      removed++;
    }
    return removed + (await this.enforceBudget());
  }

  /** Removes the oldest images until the stored bytes fit the budget (never those of the newest job). */
  async enforceBudget(): Promise<number> {
    let total = await this.o.store.storedImageBytes();
    if (total <= this.o.maxBytes) return 0;
    let removed = 0;
    for (;;) {
      const candidates = await this.o.store.oldestStoredImages(BATCH);
      if (candidates.length === 0) return removed;
      for (const image of candidates) {
        if (total <= this.o.maxBytes) return removed;
        await this.evict(image);
        total -= image.bytes;
        removed++;
      }
    }
  }

  private async evict(image: StoredImage): Promise<void> {
    await this.o.results.delete(image.job_id, image.image_index);
    await this.o.store.markEvicted(image.job_id, image.image_index);
  }
}
