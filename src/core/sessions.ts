import ipaddr from 'ipaddr.js';
import type { ReadStamp, Store } from '../db/store.js';
import { mergeExtra } from '../db/store/sessions.js';
import { userIsUsable } from '../db/store/users.js';
import type { AuditEvent, Session, User } from '../db/types.js';
import { ApiError } from '../errors.js';
import { ANONYMOUS_USER_ID } from './bootstrap.js';
import { depthMessage, EXTRA_MAX_DEPTH, nestsDeeperThan } from './extra.js';
import { hashToken, newId, newToken, safeEqual } from './tokens.js';

/**
 * Sessions of end users (SPEC §3). The token is 256 random bits handed out once; the database
 * keeps only its SHA-256, and the session's public id (`ses_…`) is what lists show.
 */

export const SESSION_TOKEN_PREFIX = 'azs_';

export interface SessionDeps {
  store: Store;
  now(): number;
  config: { sessionTtlSeconds: number };
}

/** Who asked, for audit rows. */
export type AuditContext = Pick<AuditEvent, 'requestId' | 'client'>;

/** One spelling per address (IPv4-mapped IPv6 becomes IPv4, IPv6 compressed), so comparisons are exact. */
export function normaliseIp(ip: string): string {
  return ipaddr.process(ip).toString();
}

export type SessionMismatch = 'unknown' | 'expired' | 'user_mismatch' | 'ip_mismatch' | 'user_agent_mismatch';
export type SessionLookup =
  | { ok: true; session: Session; user: User }
  | { ok: false; reason: SessionMismatch };

/** What a presented session must also match (each only when given). */
export interface SessionMatch {
  userId?: number;
  ipAddress?: string;
  userAgent?: string;
  /** The request's change stamp (`FastifyRequest.readStamp`), for the memoised read. */
  at?: ReadStamp;
}

/**
 * Validates a presented session token: known, not expired, its user still exists, and (when
 * asked) the same user, IP and user agent as the request. Used by every action that acts for a
 * session, and by `issue_apikey`.
 */
export async function findSession(store: Store, token: string, now: number, match: SessionMatch = {}): Promise<SessionLookup> {
  const hash = hashToken(token);
  const found = await store.sessions.getWithUserByTokenHash(hash, match.at);
  if (!found || !safeEqual(found.session.tokenHash, hash)) return { ok: false, reason: 'unknown' };
  const { session, user } = found;
  if (session.expiresAt <= now) return { ok: false, reason: 'expired' };
  if (!user) return { ok: false, reason: 'unknown' };
  if (match.userId !== undefined && match.userId !== session.userId) return { ok: false, reason: 'user_mismatch' };
  if (match.ipAddress !== undefined && normaliseIp(match.ipAddress) !== session.ipAddress) return { ok: false, reason: 'ip_mismatch' };
  if (match.userAgent !== undefined && match.userAgent !== session.userAgent) return { ok: false, reason: 'user_agent_mismatch' };
  return { ok: true, session, user };
}

/** `findSession` for actions that require a live session: 401 `invalid_session` otherwise. */
export async function requireSession(store: Store, token: string, now: number, match: SessionMatch = {}): Promise<{ session: Session; user: User }> {
  const found = await findSession(store, token, now, match);
  if (!found.ok) throw new ApiError('invalid_session');
  return found;
}

export { userIsUsable };

/** A session row ready to insert, with its one-time token. */
export function mintSession(input: { userId: number; ipAddress: string; userAgent: string; extra?: Record<string, unknown>; now: number; ttlSeconds: number }) {
  const token = newToken(SESSION_TOKEN_PREFIX);
  const row = {
    id: newId('ses_'), tokenHash: hashToken(token), userId: input.userId, ipAddress: normaliseIp(input.ipAddress),
    userAgent: input.userAgent, extra: input.extra ?? {}, createdAt: input.now, expiresAt: input.now + input.ttlSeconds * 1000,
  };
  return { token, row };
}

export async function createSession(
  deps: SessionDeps,
  input: { userId?: number; ipAddress: string; userAgent: string; expiresIn?: number; extra?: Record<string, unknown> },
): Promise<{ token: string; session: Session }> {
  const userId = input.userId ?? ANONYMOUS_USER_ID;
  const user = await deps.store.users.getById(userId);
  if (!user) throw new ApiError('not_found', `No user ${userId}.`);
  if (!userIsUsable(user)) throw new ApiError('user_inactive');
  const { token, row } = mintSession({ ...input, userId, now: deps.now(), ttlSeconds: input.expiresIn ?? deps.config.sessionTtlSeconds });
  if (userId === ANONYMOUS_USER_ID) return { token, session: await deps.store.sessions.create(row) };
  // The user may have been locked, deactivated or deleted since it was read: the store checks
  // again in the insert's transaction, so a lock racing this call ends the session or refuses it.
  const session = await deps.store.sessions.createForUser(row);
  if (!session) throw (await deps.store.users.getById(userId)) ? new ApiError('user_inactive') : new ApiError('not_found', `No user ${userId}.`);
  return { token, session };
}

/** Deletes the session behind a token (revoking its keys); false when there was none. */
export async function deleteSession(store: Store, token: string, now: number): Promise<boolean> {
  const session = await store.sessions.getByTokenHash(hashToken(token));
  if (!session) return false;
  return store.sessions.delete(session.id, now);
}

/** Deletes every session of a user, except the one behind `keepToken` if it is theirs. */
/**
 * The anonymous user's sessions belong to every visitor of every frontend: they are not one
 * person's to list or end in bulk.
 */
function refuseAnonymous(userId: number, action: string): void {
  if (userId === ANONYMOUS_USER_ID) {
    throw new ApiError('invalid_request', `${action} does not apply to the anonymous user.`, { details: [{ path: '/user_id', message: 'must not be the anonymous user' }] });
  }
}

export async function deleteUserSessions(store: Store, userId: number, keepToken: string | undefined, now: number, audit: AuditContext): Promise<number> {
  refuseAnonymous(userId, 'session_delete_user');
  if (!(await store.users.getById(userId))) throw new ApiError('not_found', `No user ${userId}.`);
  const keep = keepToken === undefined ? undefined : await store.sessions.getByTokenHash(hashToken(keepToken));
  const keepId = keep && keep.userId === userId ? keep.id : null;
  return store.sessions.deleteByUser(userId, keepId, now, { ...audit, event: 'session_delete_user', outcome: 'success', targetUserId: userId });
}

export async function listSessions(store: Store, userId: number, now: number): Promise<Session[]> {
  refuseAnonymous(userId, 'session_list');
  if (!(await store.users.getById(userId))) throw new ApiError('not_found', `No user ${userId}.`);
  return store.sessions.listByUser(userId, now);
}

/** Merges `changes` into the session's `extra`; a `null` value deletes that key. */
export async function editSession(store: Store, token: string, changes: Record<string, unknown>, now: number): Promise<{ session: Session; user: User }> {
  const { session, user } = await requireSession(store, token, now);
  const extra = mergeExtra(session.extra, changes);
  // Each side is bounded by the body schema, but a value stored before the bound existed is not.
  if (nestsDeeperThan(extra, EXTRA_MAX_DEPTH)) {
    throw new ApiError('invalid_request', 'The merged extra would be too deep; delete the deep key with null.', {
      details: [{ path: '/extra', message: depthMessage(EXTRA_MAX_DEPTH) }],
    });
  }
  // The store merges again in one statement: edits racing on one session keep each other's keys.
  const updated = await store.sessions.mergeExtra(session.id, changes);
  if (!updated) throw new ApiError('invalid_session');
  return { session: updated, user };
}
