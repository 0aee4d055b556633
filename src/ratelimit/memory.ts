import { BoundedMap } from '../bounded-map.js';
import type { LimitResult, Limiter } from './limiter.js';
import { slotExpiry, slotMs } from './window.js';

interface Entry {
  /** Slot start times, oldest first, and the hits in each. */
  starts: number[];
  counts: number[];
  total: number;
  /** When the newest slot expires: after that the whole entry is garbage. */
  expiresAt: number;
}

export interface MemoryLimiterOptions {
  /** Most keys held; beyond it the oldest keys are dropped, half of them at once (bounded-map.ts). */
  maxKeys?: number;
  /** How often (in the callers' clock) expired keys are swept. */
  sweepEveryMs?: number;
}

/**
 * Sliding-window limiter for one instance. Keys are forgotten once their window has passed
 * (authnzerver's counters never forgot a key); time is the caller's `now`, so tests move a clock.
 */
export class MemoryLimiter implements Limiter {
  private readonly entries: BoundedMap<string, Entry>;
  private lastSweep = -Infinity;
  private readonly sweepEveryMs: number;

  constructor(opts: MemoryLimiterOptions = {}) {
    this.entries = new BoundedMap(opts.maxKeys ?? 1_000_000);
    this.sweepEveryMs = opts.sweepEveryMs ?? 60_000;
  }

  get size(): number {
    return this.entries.size;
  }

  async hit(key: string, max: number, windowMs: number, now: number): Promise<LimitResult> {
    return this.hitNow(key, max, windowMs, now);
  }

  hitNow(key: string, max: number, windowMs: number, now: number): LimitResult {
    return this.count(key, max, windowMs, now, true);
  }

  async peek(key: string, max: number, windowMs: number, now: number): Promise<LimitResult> {
    return this.count(key, max, windowMs, now, false);
  }

  count(key: string, max: number, windowMs: number, at: number, add: boolean): LimitResult {
    const now = Math.floor(at);
    if (max < 1) return { allowed: false, limit: 0, remaining: 0, resetMs: windowMs };
    if (now - this.lastSweep >= this.sweepEveryMs) this.sweep(now);
    const slot = slotMs(max, windowMs);
    let e = this.entries.get(key);
    if (e === undefined) {
      if (!add) return { allowed: true, limit: max, remaining: max, resetMs: 0 };
      e = { starts: [], counts: [], total: 0, expiresAt: 0 };
      this.entries.set(key, e);
    }
    let drop = 0;
    while (drop < e.starts.length && slotExpiry(e.starts[drop]!, slot, windowMs) <= now) {
      e.total -= e.counts[drop]!;
      drop++;
    }
    if (drop > 0) {
      e.starts.splice(0, drop);
      e.counts.splice(0, drop);
    }
    if (e.total >= max) {
      return { allowed: false, limit: max, remaining: 0, resetMs: slotExpiry(e.starts[0]!, slot, windowMs) - now };
    }
    if (!add) {
      const resetMs = e.starts.length ? slotExpiry(e.starts[0]!, slot, windowMs) - now : 0;
      return { allowed: true, limit: max, remaining: max - e.total, resetMs };
    }
    const start = now - (now % slot);
    const last = e.starts.length - 1;
    if (last >= 0 && e.starts[last] === start) e.counts[last]!++;
    else {
      e.starts.push(start);
      e.counts.push(1);
    }
    e.total++;
    e.expiresAt = slotExpiry(start, slot, windowMs);
    return { allowed: true, limit: max, remaining: max - e.total, resetMs: slotExpiry(e.starts[0]!, slot, windowMs) - now };
  }

  async reset(key: string): Promise<void> {
    this.entries.delete(key);
  }

  /** Drops every key whose window has fully passed. */
  sweep(now: number): void {
    this.lastSweep = now;
    this.entries.deleteWhere((e) => e.expiresAt <= now);
  }
}
