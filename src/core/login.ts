import type { Store } from '../db/store.js';
import type { AuditEvent, User } from '../db/types.js';
import { ApiError } from '../errors.js';
import { ANONYMOUS_USER_ID } from './bootstrap.js';
import { normaliseEmail } from './email.js';
import { dummyVerify, hashPassword, needsRehash, verifyPassword } from './passwords.js';
import { mintSession, requireSession, type AuditContext } from './sessions.js';

/**
 * Password checks with failed-login bookkeeping (SPEC §3): every failure is counted in the
 * users row (so it survives a restart), answers slow down exponentially with an async sleep
 * (the event loop keeps serving), and `loginMaxFailures` failures start a temporary lock of
 * `loginLockSeconds`. The temporary lock is separate from the admin lock, which only an admin
 * lifts. Unknown users cost one dummy argon2 verification, like known ones.
 */

export interface LoginConfig {
  loginMaxFailures: number;
  loginLockSeconds: number;
  sessionTtlSeconds: number;
}

/** Delay before a failure answer: 100 ms doubled per recent failure, at most 5 s. */
export function backoffMs(failures: number): number {
  return failures <= 0 ? 0 : Math.min(100 * 2 ** (failures - 1), 5000);
}

export type CredentialResult =
  | { ok: true; user: User }
  | { ok: false; reason: 'invalid_credentials' | 'user_inactive' | 'account_locked'; user: User | undefined; retryAfter?: number };

/** Turns a failed CredentialResult into the error answer of user_login (401, 403 or 423). */
export function credentialError(r: Extract<CredentialResult, { ok: false }>): ApiError {
  if (r.reason === 'account_locked') {
    return new ApiError('account_locked', undefined, r.retryAfter === undefined ? {} : { extra: { retry_after: r.retryAfter } });
  }
  return new ApiError(r.reason);
}

/**
 * Where failures of unknown emails are counted. They slow down and "lock" exactly like known
 * accounts, so neither the backoff nor the 423 tells whether an account exists — before or after
 * a restart. The service counts them in the database (StoreUnknownEmailFailures, set by
 * plugins/sessions.ts), so they survive a restart and are shared by every instance on the
 * database, as the `users` row is for known accounts; with AUTHNZD_REDIS_URL the rate-limit
 * plugin counts them in Redis instead (src/ratelimit/login-throttle.ts). LoginGuard's own default
 * (for code that builds one without the plugins) is this process's memory.
 */
export interface FailureLimits {
  maxFailures: number;
  lockMs: number;
}

export interface UnknownEmailFailures {
  /** Milliseconds left of the email's temporary lock (0: not locked). */
  lockedFor(email: string, now: number, limits: FailureLimits): Promise<number>;
  /** Counts one failure. At `maxFailures` the email is locked for `lockMs` and its count starts again. */
  fail(email: string, now: number, limits: FailureLimits): Promise<{ failures: number; locked: boolean }>;
  /** Forgets the email's failures (its account now exists and logged in). */
  clear(email: string): Promise<void>;
}

/** LoginGuard's own default (the service replaces it): this process's memory, at most 10,000 emails (all forgotten when full). */
export class MemoryUnknownEmailFailures implements UnknownEmailFailures {
  private readonly entries = new Map<string, { failures: number; lockedUntil: number }>();

  async lockedFor(email: string, now: number): Promise<number> {
    const lockedUntil = this.entries.get(email)?.lockedUntil ?? 0;
    return lockedUntil > now ? lockedUntil - now : 0;
  }

  async fail(email: string, now: number, limits: FailureLimits): Promise<{ failures: number; locked: boolean }> {
    let entry = this.entries.get(email);
    if (entry && entry.lockedUntil > 0 && entry.lockedUntil <= now) entry = undefined;
    const failures = (entry?.failures ?? 0) + 1;
    const locked = failures >= limits.maxFailures;
    if (this.entries.size >= 10_000) this.entries.clear();
    this.entries.set(email, { failures, lockedUntil: locked ? now + limits.lockMs : 0 });
    return { failures, locked };
  }

  async clear(email: string): Promise<void> {
    this.entries.delete(email);
  }
}

/**
 * How long a failure of an unknown email counts when no lock follows. A known account's failures
 * stay in its row until a success or the end of a lock; an unknown email's are forgotten a day
 * after the last one (each needs a row or a counter, and anyone can make up emails).
 */
export const UNKNOWN_FAILURE_WINDOW_MS = 86_400_000;

/** Purpose of the keyed digest (core/pii.ts: KeyedDigest) that stands for an unknown email. */
export const UNKNOWN_LOGIN_DIGEST = 'unknown-login';

/**
 * Unknown emails' failures in the database (`unknown_login_failures`), by a keyed digest of the
 * normalised email, never the email: the count, the lock and its end survive a restart like a
 * known account's. Rows are purged once they no longer count (plugins/sessions.ts).
 */
export class StoreUnknownEmailFailures implements UnknownEmailFailures {
  constructor(private readonly store: Store, private readonly digest: (email: string) => string) {}

  async lockedFor(email: string, now: number): Promise<number> {
    const until = await this.store.users.unknownLoginLockedUntil(this.digest(email), now);
    return until === null ? 0 : until - now;
  }

  async fail(email: string, now: number, limits: FailureLimits): Promise<{ failures: number; locked: boolean }> {
    const state = await this.store.users.recordUnknownLoginFailure(this.digest(email), now, { ...limits, windowMs: UNKNOWN_FAILURE_WINDOW_MS });
    return { failures: state.failures, locked: state.lockedUntil !== null && state.lockedUntil > now };
  }

  async clear(email: string): Promise<void> {
    await this.store.users.clearUnknownLoginFailures(this.digest(email));
  }
}

export class LoginGuard {
  /** Replaceable in tests, so backoff is observed without waiting. */
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  /**
   * True when `email` logged in successfully from `ip` recently; the temporary lock spares such
   * logins, so an attacker elsewhere cannot keep the owner out (set by the rate-limit plugin:
   * src/ratelimit/login-throttle.ts). Admin locks are never spared.
   */
  knownLocation: (email: string, ip: string) => Promise<boolean> = async () => false;
  /** Failures of unknown emails (see UnknownEmailFailures; replaced by the rate-limit plugin). */
  unknownFailures: UnknownEmailFailures = new MemoryUnknownEmailFailures();

  constructor(private readonly store: Store, private readonly now: () => number, private readonly config: LoginConfig) {}

  /** Checks a password for a user looked up by the caller (undefined = unknown email). */
  async check(user: User | undefined, email: string, password: string, event: string, audit: AuditContext, ip?: string): Promise<CredentialResult> {
    const now = this.now();
    const base = { ...audit, event, outcome: 'failure' as const };
    if (!user || user.passwordHash === null || user.id === ANONYMOUS_USER_ID) {
      await dummyVerify(password);
      await this.store.audit.append({ ...base, targetUserId: user?.id ?? null, details: { reason: 'unknown_user' } }, now);
      return this.unknownFailure(email, now);
    }
    const lock = await this.lockOf(user, email, now, ip);
    if (lock) {
      // The answer is the same whatever the password, so a locked account is no password oracle
      // (an admin lock checks the real hash, a temporary lock a dummy one).
      await (lock.retryAfter === undefined ? verifyPassword(user.passwordHash, password) : dummyVerify(password));
      return this.lockedAnswer(lock, user, base, now);
    }
    const valid = await verifyPassword(user.passwordHash, password);
    // The verification waited for an argon2 worker, maybe behind other checks of this account
    // sent at the same time: their failures may have locked it meanwhile. Look again before
    // answering, whatever the password, so a burst of parallel guesses gets no more answers
    // than the lock allows and a right guess among them is refused like a wrong one.
    const current = await this.store.users.getById(user.id);
    const lockNow = current && await this.lockOf(current, email, this.now(), ip);
    if (lockNow) return this.lockedAnswer(lockNow, user, base, now);
    if (!valid) {
      const state = await this.store.users.recordLoginFailure(user.id, now, {
        maxFailures: this.config.loginMaxFailures, lockMs: this.config.loginLockSeconds * 1000,
      }, { ...base, targetUserId: user.id, details: { reason: 'wrong_password' } });
      // The failure that locks the account is still a wrong password to a login that was not
      // locked when it came: 401, like the failures before it; 423 is for logins to a locked
      // account (SPEC §2), from the next attempt on. Unknown emails answer the same way.
      await this.sleep(backoffMs(state.failedLogins));
      return { ok: false, reason: 'invalid_credentials', user };
    }
    // Logging in also needs a verified email (SPEC §2, `user_inactive`): a changed address is
    // unproven until verified. Other password checks (passcheck, password change, delete) need
    // only an active account, so an unverified user can still confirm and fix their address.
    const unverified = event === 'login' && !user.emailVerified;
    if (!user.isActive || unverified) {
      await this.store.audit.append({ ...base, targetUserId: user.id, details: { reason: user.isActive ? 'email_unverified' : 'user_inactive' } }, now);
      return { ok: false, reason: 'user_inactive', user };
    }
    await this.unknownFailures.clear(email);
    return { ok: true, user };
  }

  /**
   * The lock that refuses this attempt, or undefined. The admin lock is looked at first: it is not
   * temporary, so its 423 has no retry_after even while a temporary lock from earlier failures
   * runs (SPEC §2). A temporary lock spares a known place, and says the seconds left.
   */
  private async lockOf(user: User, email: string, now: number, ip: string | undefined): Promise<{ retryAfter?: number } | undefined> {
    if (user.adminLocked) return {};
    if (user.tempLockedUntil === null || user.tempLockedUntil <= now) return undefined;
    if (ip !== undefined && await this.knownLocation(email, ip)) return undefined;
    return { retryAfter: Math.ceil((user.tempLockedUntil - now) / 1000) };
  }

  /** The 423 of a lock, with its audit row. */
  private async lockedAnswer(lock: { retryAfter?: number }, user: User, base: AuditEvent, now: number): Promise<CredentialResult> {
    const reason = lock.retryAfter === undefined ? 'admin_locked' : 'temporarily_locked';
    await this.store.audit.append({ ...base, targetUserId: user.id, details: { reason } }, now);
    return { ok: false, reason: 'account_locked', user, ...(lock.retryAfter === undefined ? {} : { retryAfter: lock.retryAfter }) };
  }

  private async unknownFailure(email: string, now: number): Promise<CredentialResult> {
    const limits = { maxFailures: this.config.loginMaxFailures, lockMs: this.config.loginLockSeconds * 1000 };
    const lockedFor = await this.unknownFailures.lockedFor(email, now, limits);
    if (lockedFor > 0) return { ok: false, reason: 'account_locked', user: undefined, retryAfter: Math.ceil(lockedFor / 1000) };
    // As for a known account, the failure that locks answers 401; the next attempt 423.
    const { failures } = await this.unknownFailures.fail(email, now, limits);
    await this.sleep(backoffMs(failures));
    return { ok: false, reason: 'invalid_credentials', user: undefined };
  }
}

/**
 * `user_login`: checks the password, then replaces the presented session with a new one for the
 * user (same IP and user agent) in one transaction: the old token is dead afterwards.
 */
export async function login(
  store: Store, guard: LoginGuard, config: LoginConfig, now: () => number,
  input: { sessionToken: string; email: string; password: string }, audit: AuditContext,
) {
  const { session } = await requireSession(store, input.sessionToken, now());
  const email = normaliseEmail(input.email);
  const result = await guard.check(await store.users.getByEmail(email), email, input.password, 'login', audit, session.ipAddress);
  if (!result.ok) throw credentialError(result);
  const { user } = result;
  const rehash = needsRehash(user.passwordHash!) ? await hashPassword(input.password) : undefined;
  const t = now();
  const { token, row } = mintSession({ userId: user.id, ipAddress: session.ipAddress, userAgent: session.userAgent, now: t, ttlSeconds: config.sessionTtlSeconds });
  const created = await store.sessions.rotateForLogin(session.id, row, { verifiedHash: user.passwordHash!, ...(rehash ? { passwordHash: rehash } : {}) }, {
    ...audit, event: 'login', outcome: 'success', actorUserId: user.id, targetUserId: user.id, subject: row.id,
    details: rehash ? { rehashed: true } : {},
  });
  // The user was locked, deactivated or deleted, or the password reset or changed, while this
  // login checked the old one: answer as a login sent after that change would be answered.
  if (created === 'user_changed') {
    const current = await store.users.getById(user.id);
    if (current?.adminLocked) throw new ApiError('account_locked');
    if (current && !current.isActive) throw new ApiError('user_inactive');
    throw new ApiError('invalid_credentials');
  }
  // Another login spent the presented session while this one checked the password.
  if (!created) throw new ApiError('invalid_session');
  return { user, token, session: created };
}

/** `user_passcheck` / `user_passcheck_nosession`: a yes/no answer, with the same bookkeeping as login. */
export async function passcheck(
  store: Store, guard: LoginGuard, now: () => number,
  input: { sessionToken?: string; email?: string; password: string }, audit: AuditContext,
): Promise<{ ok: boolean; userId: number | null; reason?: string }> {
  let user: User | undefined;
  let email: string;
  if (input.sessionToken !== undefined) {
    user = (await requireSession(store, input.sessionToken, now())).user;
    email = user.email;
  } else {
    email = normaliseEmail(input.email ?? '');
    user = await store.users.getByEmail(email);
  }
  const result = await guard.check(user, email, input.password, 'passcheck', audit);
  if (!result.ok) return { ok: false, userId: input.sessionToken !== undefined ? user?.id ?? null : null, reason: result.reason };
  await store.users.clearLoginFailures(result.user.id, now());
  return { ok: true, userId: result.user.id };
}
