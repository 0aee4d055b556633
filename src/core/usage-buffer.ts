import type { UsageUpdate } from '../db/store/apikeys.js';

/**
 * `use_count` and `last_used_at` of API keys, counted in memory and written in one transaction
 * per flush (every ≤ 5 s and at shutdown): a write per verify would cost ~20% of throughput
 * (PERFORMANCE-NOTES) and serialize verifies on the database's write lock.
 */
export class UsageBuffer {
  private pending = new Map<string, UsageUpdate>();
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly write: (updates: UsageUpdate[]) => Promise<void>) {}

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

  /** Writes everything recorded so far. On failure the counts are kept for the next flush. */
  flush(): Promise<void> {
    const run = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = this.pending;
      this.pending = new Map();
      try {
        await this.write([...batch.values()]);
      } catch (err) {
        for (const u of batch.values()) {
          const later = this.pending.get(u.id);
          if (later) {
            later.count += u.count;
            later.lastUsedAt = Math.max(later.lastUsedAt, u.lastUsedAt);
          } else this.pending.set(u.id, u);
        }
        throw err;
      }
    });
    this.flushing = run.catch(() => undefined);
    return run;
  }
}
