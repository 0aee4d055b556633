import { createHash } from 'node:crypto';
import { normalizeIP } from '@fastify/rate-limit';
import { normaliseEmail } from '../core/email.js';

/**
 * Strict limits per end user, on the actions that create accounts, check passwords or hand out
 * credentials. A frontend serves many users from one client secret, so these are counted per
 * end user — by the IP the frontend reports (`ip_address`, or the IP the presented session was
 * made from) and by the account (email or user id) — never per client: one abusive browser cannot
 * exhaust the frontend's quota, and one user's burst does not throttle the others.
 *
 * Rules are checked in order and the first refusal stops the check, so attempts refused for
 * one account do not also use up the shared IP (a NAT'd office is not throttled because of one
 * attacked account). Documented in docs/rate-limits.md.
 */
export type Subject =
  | 'ip' // body.ip_address
  | 'session_ip' // IP of the session in body.session_token
  | 'email' // body.email, normalised
  | 'user' // body.user_id
  | 'session_user' // user of the session in body.session_token
  | 'email_session_ip'; // the pair: the per account+IP login throttle

export interface EndUserRule {
  by: Subject;
  max: number;
  /** Seconds. */
  window: number;
  /** Forget this counter when the call succeeds (login throttle: only failures accumulate). */
  resetOnSuccess?: boolean;
}

/**
 * The per account+IP login throttle: 20 attempts per 15 minutes from one IP against one account,
 * forgotten on a successful login. It sits above the account-wide temporary lock
 * (AUTHNZD_LOGIN_MAX_FAILURES, default 10), so SPEC §3's lock after 10 failures is what a
 * caller sees; the throttle bounds guessing per IP when the lock threshold is configured higher,
 * and its count tells the known-location exemption whether a place has failed since its last
 * success (login-throttle.ts).
 */
export const LOGIN_THROTTLE: EndUserRule = { by: 'email_session_ip', max: 20, window: 15 * 60, resetOnSuccess: true };

export const endUserLimits: Readonly<Record<string, readonly EndUserRule[]>> = {
  user_new: [
    { by: 'email', max: 5, window: 3600 },
    { by: 'ip', max: 100, window: 3600 },
  ],
  // No limit per email alone on login: attempts from many IPs would then refuse the owner too.
  // Distributed guessing is the account-wide lock's job (src/core/login.ts), which spares the
  // places the owner logged in from (login-throttle.ts).
  user_login: [
    LOGIN_THROTTLE,
    { by: 'session_ip', max: 1000, window: 15 * 60 },
  ],
  user_passcheck_nosession: [
    { by: 'email', max: 30, window: 5 * 60 },
  ],
  user_resetpass_token: [
    { by: 'email', max: 10, window: 3600 },
  ],
  issue_apikey: [
    { by: 'session_user', max: 120, window: 60 },
    { by: 'ip', max: 600, window: 60 },
  ],
  issue_apikey_nosession: [
    { by: 'user', max: 120, window: 60 },
    { by: 'ip', max: 600, window: 60 },
  ],
  refresh_apikey: [
    { by: 'ip', max: 600, window: 60 },
  ],
};

/** What the rules need from one request, all optional (a rule without its subject is skipped). */
export interface Subjects {
  ip?: string;
  sessionIp?: string;
  email?: string;
  user?: number;
  sessionUser?: number;
}

/** Keys never hold raw personal data: emails and IPs are hashed (the same on every instance). */
function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

/** IPv6 addresses count per /64 (one subscriber's block), IPv4-mapped ones as IPv4. */
function ipKey(ip: string): string {
  return digest(normalizeIP(ip, 64));
}

/** One account at one place: the subject of the login throttle and of known locations. */
/** An email as a limiter key: a digest of its normal form (no address in Redis or in memory dumps). */
export function emailKey(email: string): string {
  return digest(normaliseEmail(email));
}

export function accountAtIp(email: string, ip: string): string {
  return emailKey(email) + ':' + ipKey(ip);
}

/** The counter key of `rule` for this request, or undefined when the request lacks its subject. */
export function ruleKey(action: string, rule: EndUserRule, s: Subjects): string | undefined {
  const base = `user:${action}:${rule.by}:`;
  switch (rule.by) {
    case 'ip': return s.ip === undefined ? undefined : base + ipKey(s.ip);
    case 'session_ip': return s.sessionIp === undefined ? undefined : base + ipKey(s.sessionIp);
    case 'email': return s.email === undefined ? undefined : base + emailKey(s.email);
    case 'user': return s.user === undefined ? undefined : base + String(s.user);
    case 'session_user': return s.sessionUser === undefined ? undefined : base + String(s.sessionUser);
    case 'email_session_ip':
      return s.email === undefined || s.sessionIp === undefined ? undefined : base + accountAtIp(s.email, s.sessionIp);
  }
}
