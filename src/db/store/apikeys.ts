import type { ApiKey, AuditEvent, RefreshToken } from '../types.js';
import type { ReadStamp } from '../store.js';

export type NewApiKey = Omit<ApiKey, 'revokedAt' | 'revokedReason' | 'lastUsedAt' | 'useCount'>;
export type NewRefreshToken = Omit<RefreshToken, 'usedAt'>;

/** What verify needs, read in one indexed statement (api_keys by primary key, joined with users). */
export interface ApiKeyVerifyRow {
  tokenHash: string;
  revokedAt: number | null;
  revokedReason: string | null;
  role: string;
  /** Null when the owner no longer exists. */
  userRole: string | null;
  userActive: boolean | null;
  userLocked: boolean | null;
}

export interface UsageUpdate {
  id: string;
  count: number;
  lastUsedAt: number;
}

/** How `recordUsage` writes (see its `lockWaitMs`). */
export interface UsageWriteOptions {
  lockWaitMs?: number;
}

export type RotateRefreshResult = 'ok' | 'spent' | 'refused';

export interface ApiKeyStore {
  /**
   * Inserts the key (and its refresh token, for standalone keys) with the audit row, and answers
   * true. A session key is inserted only while its session exists, a standalone key only while
   * its owner is not inactive or admin-locked, checked in the insert's transaction: otherwise
   * nothing is written and the answer is false. So a key issued while its session ends (logout,
   * session_delete, a lock, a password change) or its owner is locked either is inserted first
   * and revoked with the session or by the lock, or is refused (on PostgreSQL the session row,
   * or the owner's row, is share-locked until the insert commits, and deleting sessions, locking,
   * deactivating and deleting users lock those rows first). An owner that does not exist is not
   * checked: such a key answers `user_inactive` for ever (user ids are never reused).
   */
  create(key: NewApiKey, refresh: NewRefreshToken | undefined, audit: AuditEvent): Promise<boolean>;
  /** `at`: the request's change stamp (`Store.readStamp`), when the store has one. */
  getForVerify(id: string, at?: ReadStamp): Promise<ApiKeyVerifyRow | undefined>;
  /** `getForVerify` answered at once, offered by stores that need no I/O for it (SQLite). */
  getForVerifyNow?(id: string, at?: ReadStamp): ApiKeyVerifyRow | undefined;
  getById(id: string): Promise<ApiKey | undefined>;
  listByUser(userId: number): Promise<ApiKey[]>;
  /** Revokes one live key; false when it was already revoked or does not exist. */
  revoke(id: string, now: number, reason: string, audit: AuditEvent): Promise<boolean>;
  /** Revokes every live key of the user; answers how many. */
  revokeAllOfUser(userId: number, now: number, reason: string, audit: AuditEvent): Promise<number>;
  /**
   * Adds buffered verify usage in one transaction. `lockWaitMs`: on a store whose writes hold
   * the event loop while they wait for another connection's write lock (SQLite), wait at most
   * this long instead of the usual busy timeout, then fail with the store's "busy" error (an
   * outage, `isOutage`); the caller keeps the updates and tries again soon.
   */
  recordUsage(updates: UsageUpdate[], opts?: UsageWriteOptions): Promise<void>;
  getRefreshToken(tokenHash: string): Promise<RefreshToken | undefined>;
  /**
   * Spends the refresh token, revokes the key it refreshed and inserts the successor key and
   * refresh token, atomically. 'spent' when the token was used concurrently (nothing changes).
   * 'refused' (nothing changes) when the refreshed key was revoked meanwhile, or its owner
   * (when it exists) is now inactive or admin-locked: a refresh racing revoke_all_apikeys or a
   * lock either comes first, and its successor is revoked with the rest, or is refused (on
   * PostgreSQL the owner's row is share-locked, as by `create`, and revoking all of a user's
   * keys locks that row first).
   */
  rotateRefresh(spentHash: string, oldKeyId: string, key: NewApiKey, refresh: NewRefreshToken, audit: AuditEvent): Promise<RotateRefreshResult>;
  /** Token reuse: revokes every key of the family and spends its tokens; answers the keys revoked. */
  revokeFamily(familyId: string, now: number, audit: AuditEvent): Promise<number>;
}
