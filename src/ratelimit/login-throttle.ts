import { UNKNOWN_FAILURE_WINDOW_MS, type UnknownEmailFailures } from '../core/login.js';
import { LOGIN_THROTTLE, type LimiterKeys } from './end-user.js';
import type { Limiter } from './limiter.js';

/** How long a place (account + IP) where the owner logged in stays known. */
export const KNOWN_LOCATION_MS = 30 * 86_400_000;

function knownKey(keys: LimiterKeys, email: string, ip: string): string {
  return `known-location:${keys.accountAtIp(email, ip)}`;
}

/**
 * Lockout-abuse protection shared by the login flow and the rate-limit hooks (policy in
 * docs/rate-limits.md):
 * 1. per account + IP, 20 login attempts per 15 minutes, forgotten on success (the hooks refuse
 *    the next with 429 before any password is hashed, so it is not a failure either);
 * 2. the account-wide temporary lock (src/core/login.ts) after AUTHNZD_LOGIN_MAX_FAILURES (10);
 * 3. that temporary lock does not refuse a login from a *known location* — an IP from which this
 *    account logged in successfully in the last 30 days and from which no attempt failed since —
 *    so an attacker elsewhere cannot keep the owner out, while failures from the place itself
 *    lock it like anywhere else (SPEC §3). Admin locks are never bypassed.
 */
export const loginThrottle = {
  /** Records a successful login: clears the account+IP attempts and remembers the location. */
  async succeeded(limiter: Limiter, keys: LimiterKeys, email: string, ip: string, now: number): Promise<void> {
    const attempts = keys.rule('user_login', LOGIN_THROTTLE, { email, sessionIp: ip })!;
    await limiter.reset(attempts);
    await limiter.hit(knownKey(keys, email, ip), 1_000_000, KNOWN_LOCATION_MS, now);
  },

  /**
   * True when `email` logged in successfully from `ip` in the last 30 days and no other attempt
   * came from there since: the attempt counter (cleared by that success) holds only the attempt
   * being checked, which the rate-limit hook counted before the login ran.
   */
  async isKnownLocation(limiter: Limiter, keys: LimiterKeys, email: string, ip: string, now: number): Promise<boolean> {
    const known = await limiter.peek(knownKey(keys, email, ip), 1_000_000, KNOWN_LOCATION_MS, now);
    if (known.remaining >= known.limit) return false;
    const attempts = keys.rule('user_login', LOGIN_THROTTLE, { email, sessionIp: ip })!;
    const used = await limiter.peek(attempts, LOGIN_THROTTLE.max, LOGIN_THROTTLE.window * 1000, now);
    return used.limit - used.remaining <= 1;
  },
};

/**
 * Failures of unknown emails on the limiter (src/core/login.ts: UnknownEmailFailures), used when
 * AUTHNZD_REDIS_URL is set, so every instance sharing Redis counts them together, as the `users`
 * row does for real accounts: with per-instance counts, an unknown email spread over N instances
 * would lock only after N times as many failures, which tells it from a real one. Each failure
 * counts for UNKNOWN_FAILURE_WINDOW_MS. The email is kept as a digest. (Without Redis they are
 * in the database: StoreUnknownEmailFailures.)
 */
export function limiterUnknownEmailFailures(limiter: Limiter, keys: LimiterKeys): UnknownEmailFailures {
  // Both keys take the email's keyed digest (end-user.ts LimiterKeys), computed once per call.
  const failuresKey = (id: string) => `unknown-login:failures:${id}`;
  const lockKey = (id: string) => `unknown-login:lock:${id}`;
  return {
    async lockedFor(email, now, limits) {
      const lock = await limiter.peek(lockKey(keys.email(email)), 1, limits.lockMs, now);
      return lock.allowed ? 0 : lock.resetMs;
    },
    async fail(email, now, limits) {
      const id = keys.email(email);
      const counted = await limiter.hit(failuresKey(id), limits.maxFailures, UNKNOWN_FAILURE_WINDOW_MS, now);
      const failures = limits.maxFailures - counted.remaining;
      if (failures < limits.maxFailures) return { failures, locked: false };
      // The lock starts now and lasts lockMs; the count starts again, as for a real account.
      await limiter.reset(failuresKey(id));
      await limiter.hit(lockKey(id), 1, limits.lockMs, now);
      return { failures, locked: true };
    },
    async clear(email) {
      await limiter.reset(failuresKey(keys.email(email)));
    },
  };
}
