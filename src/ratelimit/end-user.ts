import { normalizeIP } from '@fastify/rate-limit';
import { normaliseEmail } from '../core/email.js';
import type { KeyedDigest } from '../core/pii.js';

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

/** Purpose of the keyed digest (core/pii.ts: KeyedDigest) of emails and IPs in counter keys. */
export const LIMITER_KEY_DIGEST = 'rate-limit';

/**
 * Counter keys of the end-user limits. They never hold personal data: emails and IPs appear as
 * keyed digests (HMAC with AUTHNZD_PII_SALT, which every instance of a deployment shares, so they
 * count together). A plain hash would not do: every IPv4 address, and most emails, can be hashed
 * by anyone who reads Redis or a memory dump, and matched.
 */
export class LimiterKeys {
  constructor(private readonly keyed: KeyedDigest) {}

  private digest(value: string): string {
    return this.keyed(LIMITER_KEY_DIGEST, value).slice(0, 22);
  }

  /** IPv6 addresses count per /64 (one subscriber's block), IPv4-mapped ones as IPv4. */
  ip(ip: string): string {
    return this.digest(normalizeIP(ip, 64));
  }

  /** An email by its normal form. */
  email(email: string): string {
    return this.digest(normaliseEmail(email));
  }

  /** One account at one place: the subject of the login throttle and of known locations. */
  accountAtIp(email: string, ip: string): string {
    return this.email(email) + ':' + this.ip(ip);
  }

  /** The counter key of `rule` for this request, or undefined when the request lacks its subject. */
  rule(action: string, rule: EndUserRule, s: Subjects): string | undefined {
    const base = `user:${action}:${rule.by}:`;
    switch (rule.by) {
      case 'ip': return s.ip === undefined ? undefined : base + this.ip(s.ip);
      case 'session_ip': return s.sessionIp === undefined ? undefined : base + this.ip(s.sessionIp);
      case 'email': return s.email === undefined ? undefined : base + this.email(s.email);
      case 'user': return s.user === undefined ? undefined : base + String(s.user);
      case 'session_user': return s.sessionUser === undefined ? undefined : base + String(s.sessionUser);
      case 'email_session_ip':
        return s.email === undefined || s.sessionIp === undefined ? undefined : base + this.accountAtIp(s.email, s.sessionIp);
    }
  }
}
