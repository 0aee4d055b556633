import type { Session, AuditEvent, User } from '../types.js';
import type { ReadStamp } from '../store.js';
import { userIsUsable } from './users.js';

export interface NewSession {
  id: string;
  tokenHash: string;
  userId: number;
  ipAddress: string;
  userAgent: string;
  extra: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
}

/** What a successful login changes besides the session: counters, last login, a rehash. */
export interface LoginUpdate {
  /** A new argon2id hash when the stored one used old parameters (transparent rehash). */
  passwordHash?: string;
  /**
   * The hash the password was checked against: the login stands only while it is still the
   * user's (a reset or change committed during the check makes the password it proved stale).
   */
  verifiedHash?: string;
}

/** What the session owner's row must still say for a login or a user's new session to stand. */
export interface OwnerState {
  isActive: boolean;
  adminLocked: boolean;
  passwordHash: string | null;
}

/** True while the owner may hold a new session: exists, active, not admin-locked (and, for a login, the checked hash is still theirs). */
export function ownerStands(owner: OwnerState | undefined, verifiedHash?: string): boolean {
  return owner !== undefined && userIsUsable(owner) && (verifiedHash === undefined || owner.passwordHash === verifiedHash);
}

/*
 * Every method that deletes sessions also revokes the API keys bound to them (SPEC §4.2), in the
 * same transaction.
 */
export interface SessionStore {
  create(session: NewSession, audit?: AuditEvent): Promise<Session>;
  /**
   * `create` for a session of a named user (session_new with `user_id`): inserted only while the
   * user exists, is active and is not admin-locked, checked in the insert's transaction;
   * undefined (nothing written) otherwise. A session created alongside a lock, deactivation or
   * delete of its user is so either ended by it or refused (on PostgreSQL the user row is locked
   * FOR KEY SHARE until the insert commits; those changes lock it FOR UPDATE first).
   */
  createForUser(session: NewSession, audit?: AuditEvent): Promise<Session | undefined>;
  /** The session whose token hashes to `tokenHash`, expired or not (callers check `expiresAt`). */
  getByTokenHash(tokenHash: string): Promise<Session | undefined>;
  /**
   * `getByTokenHash` with the session's user in the same read (undefined `user` when it no longer
   * exists): the read of every session-bound action (`findSession`) and of its rate-limit hook.
   */
  getWithUserByTokenHash(tokenHash: string, at?: ReadStamp): Promise<{ session: Session; user: User | undefined } | undefined>;
  /**
   * Deletes the session (and revokes its session-bound API keys). False if it did not exist or
   * had expired (an expired session is removed all the same, without an audit row).
   */
  delete(id: string, now: number, audit?: AuditEvent): Promise<boolean>;
  /** Unexpired sessions of a user, oldest first. */
  listByUser(userId: number, now: number): Promise<Session[]>;
  /**
   * Merges `changes` into the session's `extra` in one statement (a `null` value deletes that
   * key; see mergeExtra), so concurrent edits of one session never drop each other's keys;
   * undefined when the session does not exist.
   */
  mergeExtra(id: string, changes: Record<string, unknown>): Promise<Session | undefined>;
  /**
   * Deletes every session of the user except `keepId`; returns how many unexpired sessions were
   * ended (the ones listByUser showed). Expired ones are removed too, and not counted.
   */
  deleteByUser(userId: number, keepId: string | null, now: number, audit?: AuditEvent): Promise<number>;
  /** Deletes sessions that expired at or before `now`; returns how many. */
  purgeExpired(now: number): Promise<number>;
  /**
   * Login rotation in one transaction: deletes the presented session `oldId`, creates `session`
   * for the user, resets the failed-login count and temporary lock, records the login time (and
   * a rehashed password), and writes the audit row. Undefined (and nothing changed) when `oldId`
   * no longer exists: a presented session can be spent by one login only, even under a race.
   * 'user_changed' (nothing changed) when the user no longer stands (`ownerStands`: deleted,
   * deactivated, admin-locked, or its password hash is no longer `update.verifiedHash`), read in
   * the rotation's transaction (on PostgreSQL the user row locked FOR NO KEY UPDATE first): a
   * login racing a lock, reset or password change either comes first, and its session is ended
   * by them, or is refused.
   */
  rotateForLogin(oldId: string, session: NewSession, update: LoginUpdate, audit: AuditEvent): Promise<Session | undefined | 'user_changed'>;
}

/** `extra` with `changes` merged in: a key set to `null` is deleted, any other value replaces. */
export function mergeExtra(extra: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...extra };
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete merged[k];
    else merged[k] = v;
  }
  return merged;
}
