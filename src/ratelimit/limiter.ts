/**
 * The counter behind every limit (client/action limits, end-user limits, per-key verify limits,
 * login throttles): a sliding window of `max` hits per `windowMs`, by key.
 * Implementations: in memory (one instance) and Redis (shared by every instance).
 */
export interface LimitResult {
  allowed: boolean;
  limit: number;
  /** Hits left in the current window after this one (0 when refused). */
  remaining: number;
  /** Milliseconds until the window frees enough for another hit. */
  resetMs: number;
}

export interface Limiter {
  /** Counts one hit for `key` (refused hits do not count) and says whether it is within the limit. */
  hit(key: string, max: number, windowMs: number, now: number): Promise<LimitResult>;
  /** `hit` answered at once, offered by limiters that need no I/O (the in-memory one). */
  hitNow?(key: string, max: number, windowMs: number, now: number): LimitResult;
  /** Says what a hit would get now, without counting one (e.g. "is this IP throttled?"). */
  peek(key: string, max: number, windowMs: number, now: number): Promise<LimitResult>;
  /** Forgets `key` (e.g. after a successful login). */
  reset(key: string): Promise<void>;
}
