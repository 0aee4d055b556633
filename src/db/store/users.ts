import type { User, UserToken, AuditEvent } from '../types.js';
import type { ReadStamp } from '../store.js';

/**
 * True when the user may act: active (verified, not deactivated) and not admin-locked. The one
 * rule for the actions (core) and for the stores' checks inside their transactions.
 */
export function userIsUsable(user: Pick<User, 'isActive' | 'adminLocked'>): boolean {
  return user.isActive && !user.adminLocked;
}

export interface NewUser {
  systemId: string;
  email: string;
  fullName: string | null;
  passwordHash: string | null;
  role: string;
  isActive: boolean;
  emailVerified: boolean;
  extra: Record<string, unknown>;
  createdAt: number;
}

export type UserTokenPurpose = 'verify_email' | 'reset_password';

export interface NewUserToken {
  tokenHash: string;
  purpose: UserTokenPurpose;
  createdAt: number;
  expiresAt: number;
}

/** Fields `user_edit` may change (already authorised and validated by core). */
export interface UserPatch {
  email?: string;
  fullName?: string | null;
  role?: string;
  isActive?: boolean;
  emailVerified?: boolean;
}

/**
 * The rule of `update` for pending email verifications, shared by both dialects (the interface
 * below says why). True when the patch deletes the user's unused `verify_email` tokens.
 */
export function dropsPendingVerifications(patch: UserPatch): boolean {
  return patch.email !== undefined || patch.emailVerified !== undefined || patch.isActive === false;
}

/**
 * The rule of `setAdminLock` for when there is nothing to do, shared by both dialects: locking a
 * locked user, or unlocking one under no lock and with no failed-login count. An unlock lifts a
 * temporary lock too, admin lock or not (docs/users.md).
 */
export function adminLockUnchanged(current: Pick<User, 'adminLocked' | 'failedLogins' | 'tempLockedUntil'>, locked: boolean): boolean {
  return locked ? current.adminLocked : !current.adminLocked && current.failedLogins === 0 && current.tempLockedUntil === null;
}

/** True when `update` stores the given verification for the edited user (`hadLivePending`: a live one was just dropped). */
export function storesVerification(patch: UserPatch, edited: Pick<User, 'emailVerified' | 'isActive'>, hadLivePending: boolean): boolean {
  return patch.email !== undefined && !edited.emailVerified && (edited.isActive || hadLivePending);
}

export interface UserUpdate {
  user: User;
  /** True when the `verification` token given to `update` was stored. */
  verificationIssued: boolean;
}

export interface LoginFailureLimits {
  maxFailures: number;
  lockMs: number;
}

export interface LoginFailureState {
  failedLogins: number;
  /** Set when this failure (or an earlier one) started a temporary lock that has not ended. */
  tempLockedUntil: number | null;
}

/** The bookkeeping of failed logins to an email with no account (see UserStore). */
export interface UnknownLoginLimits extends LoginFailureLimits {
  /** How long a count lasts after its last failure (ms), when no lock is running. */
  windowMs: number;
}

export interface UnknownLoginState {
  failures: number;
  /** Set when this failure (or an earlier one) started a temporary lock that has not ended. */
  lockedUntil: number | null;
}

/*
 * Every method that revokes a user's access (lock, delete, password change or reset) also
 * revokes every live API key of the user and the keys of the sessions it deletes, in the same
 * transaction as the change and its audit row.
 */
export interface UserStore {
  /** Throws a ConflictError (db/errors.ts) when the email or system id is taken. */
  create(user: NewUser, audit?: AuditEvent): Promise<User>;
  /** `create` plus a single-use token (the email verification token of `user_new`). */
  createWithToken(user: NewUser, token: NewUserToken, audit: AuditEvent): Promise<User>;
  getById(id: number, at?: ReadStamp): Promise<User | undefined>;
  getByEmail(email: string): Promise<User | undefined>;
  getBySystemId(systemId: string): Promise<User | undefined>;
  count(): Promise<number>;
  /** Users with id above `afterId`, by id. */
  list(afterId: number, limit: number): Promise<User[]>;

  /** Adds a token for the user, replacing the user's unused tokens of the same purpose (also when several are added at once: one is left). */
  addToken(userId: number, token: NewUserToken): Promise<void>;
  /** An unused, unexpired token of that purpose. */
  getLiveToken(tokenHash: string, purpose: UserTokenPurpose, now: number): Promise<UserToken | undefined>;
  /**
   * Spends a live verification token: the user becomes active with a verified email. The role is
   * left as it is (`authenticated` from sign-up, or what an admin set meanwhile).
   */
  verifyEmail(tokenHash: string, now: number, audit: AuditEvent): Promise<User | undefined>;
  /**
   * Spends a live reset token: new hash, lockout cleared, every session and key revoked. The
   * token reached the user through their address, so an active user's email becomes verified
   * (an inactive one's is left alone: activation is `verifyEmail`'s).
   */
  resetPassword(tokenHash: string, passwordHash: string, now: number, audit: AuditEvent): Promise<User | undefined>;
  /**
   * New hash; every other session (all but `keepSessionId`) and every key revoked; true. False,
   * and nothing changed, when `keepSessionId` (the session asking for the change) no longer
   * exists, read in the transaction after the user's row is locked: a change racing a reset,
   * lock or another change whose commit ended its session does not undo that change with a
   * password it checked against the old hash.
   */
  changePassword(userId: number, passwordHash: string, keepSessionId: string | null, now: number, audit: AuditEvent): Promise<boolean>;

  /** Counts one failed login atomically; starts the temporary lock at `maxFailures`. */
  recordLoginFailure(userId: number, now: number, limits: LoginFailureLimits, audit: AuditEvent): Promise<LoginFailureState>;
  /** Clears the failed-login count and temporary lock (successful password check). */
  clearLoginFailures(userId: number, now: number): Promise<void>;

  /*
   * Failed logins to emails with no account, by a keyed digest of the email (never the email),
   * counted like an account's: the same count, the same lock at `maxFailures`, a fresh count once
   * the lock has ended. Unlike an account's, a count without a lock is forgotten `windowMs` after
   * its last failure, and every row is purged once it means nothing any more (`expires_at`), so
   * made-up emails cannot grow the table without bound. Used when there is no Redis.
   */
  /** End of the digest's running temporary lock (epoch ms), or null. */
  unknownLoginLockedUntil(emailDigest: string, now: number): Promise<number | null>;
  /** Counts one failure atomically (racing instances count one by one); starts the lock at `maxFailures`. */
  recordUnknownLoginFailure(emailDigest: string, now: number, limits: UnknownLoginLimits): Promise<UnknownLoginState>;
  /** Forgets the digest's failures. */
  clearUnknownLoginFailures(emailDigest: string): Promise<void>;
  /** Deletes the rows that no longer count (no running lock, count forgotten); returns how many. */
  purgeUnknownLoginFailures(now: number): Promise<number>;

  /**
   * Applies `user_edit`; one audit row per event (edit, role change). ConflictError on a taken email.
   *
   * A pending email verification belongs to the address and the state it was issued for: a patch
   * that sets the email or `emailVerified`, or deactivates the user, deletes the user's unused
   * `verify_email` tokens. `verification` is stored only with a patch that sets the email, and
   * only if the edited user's email is unverified and the user is active or had a live pending
   * verification (a sign-up not yet verified); a deactivated user gets none, so no token can
   * reactivate them. `verificationIssued` says whether it was stored. (The two rules:
   * `dropsPendingVerifications` and `storesVerification` above.)
   */
  update(userId: number, patch: UserPatch, now: number, audits: AuditEvent[], verification?: NewUserToken): Promise<UserUpdate | undefined>;
  /**
   * Admin lock: role becomes `lockedRole` (the previous one is kept), sessions and keys revoked.
   * Unlock restores the previous role. Never touched by the temporary-lock bookkeeping.
   */
  setAdminLock(userId: number, locked: boolean, lockedRole: string, now: number, audit: AuditEvent): Promise<User | undefined>;
  /** Deletes the user with its sessions and tokens, revoking every key. False if there was none. */
  delete(userId: number, now: number, audit: AuditEvent): Promise<boolean>;
  /** Deletes spent and expired verification/reset tokens; returns how many. */
  purgeExpiredTokens(now: number): Promise<number>;
}
