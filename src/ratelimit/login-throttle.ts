import { LOGIN_THROTTLE, accountAtIp, ruleKey } from './end-user.js';
import type { Limiter } from './limiter.js';

/** How long a place (account + IP) where the owner logged in stays known. */
export const KNOWN_LOCATION_MS = 30 * 86_400_000;

function knownKey(email: string, ip: string): string {
  return `known-location:${accountAtIp(email, ip)}`;
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
  async succeeded(limiter: Limiter, email: string, ip: string, now: number): Promise<void> {
    const attempts = ruleKey('user_login', LOGIN_THROTTLE, { email, sessionIp: ip })!;
    await limiter.reset(attempts);
    await limiter.hit(knownKey(email, ip), 1_000_000, KNOWN_LOCATION_MS, now);
  },

  /**
   * True when `email` logged in successfully from `ip` in the last 30 days and no other attempt
   * came from there since: the attempt counter (cleared by that success) holds only the attempt
   * being checked, which the rate-limit hook counted before the login ran.
   */
  async isKnownLocation(limiter: Limiter, email: string, ip: string, now: number): Promise<boolean> {
    const known = await limiter.peek(knownKey(email, ip), 1_000_000, KNOWN_LOCATION_MS, now);
    if (known.remaining >= known.limit) return false;
    const attempts = ruleKey('user_login', LOGIN_THROTTLE, { email, sessionIp: ip })!;
    const used = await limiter.peek(attempts, LOGIN_THROTTLE.max, LOGIN_THROTTLE.window * 1000, now);
    return used.limit - used.remaining <= 1;
  },
};
