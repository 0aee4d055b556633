import type { UsageUpdate, UsageWriteOptions } from '../db/store/apikeys.js';

/** Keys written per call of `write` (one transaction each); the event loop runs between calls. */
export const USAGE_CHUNK_KEYS = 250;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * `use_count` and `last_used_at` of API keys, counted in memory and written every ≤ 5 s and at
 * shutdown: a write per verify would cost ~20% of throughput (PERFORMANCE-NOTES) and serialize
 * verifies on the database's write lock. A flush writes in chunks of `chunkKeys` keys, one
 * transaction each, and lets the event loop run between chunks, so a flush of many keys is many
 * short stalls instead of one long one (the verify p99).
 */
export class UsageBuffer {
  private pending = new Map<string, UsageUpdate>();
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (updates: UsageUpdate[], opts: UsageWriteOptions) => Promise<void>,
    private readonly chunkKeys = USAGE_CHUNK_KEYS,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  record(id: string, now: number): void {
    const u = this.pending.get(id);
    if (u) {
      u.count += 1;
      u.lastUsedAt = Math.max(u.lastUsedAt, now);
    } else {
      this.pending.set(id, { id, count: 1, lastUsedAt: now });
    }
  }

  /**
   * Writes everything recorded so far. On failure, the chunks not written yet are kept for the
   * next flush (the ones written stay written: nothing is counted twice).
   */
  flush(opts: UsageWriteOptions = {}): Promise<void> {
    const run = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = [...this.pending.values()];
      this.pending = new Map();
      for (let i = 0; i < batch.length; i += this.chunkKeys) {
        if (i > 0) await nextTurn();
        try {
          await this.write(batch.slice(i, i + this.chunkKeys), opts);
        } catch (err) {
          this.keep(batch.slice(i));
          throw err;
        }
      }
    });
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private keep(updates: UsageUpdate[]): void {
    for (const u of updates) {
      const later = this.pending.get(u.id);
      if (later) {
        later.count += u.count;
        later.lastUsedAt = Math.max(later.lastUsedAt, u.lastUsedAt);
      } else this.pending.set(u.id, u);
    }
  }
}
