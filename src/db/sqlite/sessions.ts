import { and, asc, eq, gt, inArray, isNull, lte, ne, sql, type SQL } from 'drizzle-orm';
import type Database from 'better-sqlite3';
import { mergeExtra, ownerStands, type NewSession, type SessionStore } from '../store/sessions.js';
import type { AuditEvent, Session, User } from '../types.js';
import { auditWriter } from './audit.js';
import { ReadMemo, type ChangeStamp } from './read-memo.js';
import type { SqliteDb } from './db.js';
import { apiKeys, sessions, users } from './schema.js';

/**
 * Deletes the sessions matching `where` and revokes the API keys bound to them (a session key
 * lives only as long as its session, SPEC §4.2). Call inside the caller's transaction.
 */
export function deleteSessionsWhere(tx: SqliteDb, where: SQL, now: number, reason = 'session_deleted'): number {
  const ids = tx.select({ id: sessions.id }).from(sessions).where(where);
  tx.update(apiKeys).set({ revokedAt: now, revokedReason: reason })
    .where(and(inArray(apiKeys.sessionId, ids), isNull(apiKeys.revokedAt))).run();
  return tx.delete(sessions).where(where).run().changes;
}

/**
 * Ends the sessions matching `where` and returns how many were live (unexpired at `now`). The
 * expired ones are removed as the expiry purge would remove them: they no longer count as
 * sessions (session_exists says `expired`, session_list leaves them out).
 */
function endSessionsWhere(tx: SqliteDb, where: SQL, now: number): number {
  const live = deleteSessionsWhere(tx, and(where, gt(sessions.expiresAt, now))!, now);
  deleteSessionsWhere(tx, and(where, lte(sessions.expiresAt, now))!, now, 'session_expired');
  return live;
}

/** Revokes every live API key of the user. Call inside the caller's transaction. */
export function revokeUserKeys(tx: SqliteDb, userId: number, now: number, reason: string): number {
  return tx.update(apiKeys).set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt))).run().changes;
}

/** Columns of the session-with-user read, as the raw statement returns them. */
interface SessionUserRow {
  s_id: string; s_token_hash: string; s_user_id: number; s_ip_address: string; s_user_agent: string; s_extra: string;
  s_created_at: number; s_expires_at: number;
  u_id: number | null; u_system_id: string; u_email: string; u_full_name: string | null; u_password_hash: string | null;
  u_role: string; u_is_active: number; u_email_verified: number; u_extra: string; u_admin_locked: number;
  u_role_before_lock: string | null; u_failed_logins: number; u_last_failed_login_at: number | null;
  u_temp_locked_until: number | null; u_created_at: number; u_updated_at: number; u_last_login_at: number | null;
}

const SESSION_USER_SQL = `SELECT
  s.id AS s_id, s.token_hash AS s_token_hash, s.user_id AS s_user_id, s.ip_address AS s_ip_address,
  s.user_agent AS s_user_agent, s.extra AS s_extra, s.created_at AS s_created_at, s.expires_at AS s_expires_at,
  u.id AS u_id, u.system_id AS u_system_id, u.email AS u_email, u.full_name AS u_full_name,
  u.password_hash AS u_password_hash, u.role AS u_role, u.is_active AS u_is_active,
  u.email_verified AS u_email_verified, u.extra AS u_extra, u.admin_locked AS u_admin_locked,
  u.role_before_lock AS u_role_before_lock, u.failed_logins AS u_failed_logins,
  u.last_failed_login_at AS u_last_failed_login_at, u.temp_locked_until AS u_temp_locked_until,
  u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.last_login_at AS u_last_login_at
FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`;

/** The row as the drizzle schema would map it (JSON parsed, 0/1 as booleans). */
function sessionWithUser(r: SessionUserRow): { session: Session; user: User | undefined } {
  const session: Session = {
    id: r.s_id, tokenHash: r.s_token_hash, userId: r.s_user_id, ipAddress: r.s_ip_address, userAgent: r.s_user_agent,
    extra: JSON.parse(r.s_extra) as Record<string, unknown>, createdAt: r.s_created_at, expiresAt: r.s_expires_at,
  };
  if (r.u_id === null) return { session, user: undefined };
  const user: User = {
    id: r.u_id, systemId: r.u_system_id, email: r.u_email, fullName: r.u_full_name, passwordHash: r.u_password_hash,
    role: r.u_role, isActive: r.u_is_active === 1, emailVerified: r.u_email_verified === 1,
    extra: JSON.parse(r.u_extra) as Record<string, unknown>, adminLocked: r.u_admin_locked === 1,
    roleBeforeLock: r.u_role_before_lock, failedLogins: r.u_failed_logins, lastFailedLoginAt: r.u_last_failed_login_at,
    tempLockedUntil: r.u_temp_locked_until, createdAt: r.u_created_at, updatedAt: r.u_updated_at, lastLoginAt: r.u_last_login_at,
  };
  return { session, user };
}

/** The user's state a new session depends on (store/sessions.ts `ownerStands`). */
function ownerState(tx: SqliteDb, userId: number) {
  return tx.select({ isActive: users.isActive, adminLocked: users.adminLocked, passwordHash: users.passwordHash })
    .from(users).where(eq(users.id, userId)).get();
}

export function sqliteSessionStore(db: SqliteDb, raw: Database.Database, stamp: ChangeStamp): SessionStore {
  const byToken = db.select().from(sessions).where(eq(sessions.tokenHash, sql.placeholder('h'))).prepare();
  // session_exists, and every session-bound action: the session and its user in one read. A raw
  // statement: drizzle's mapping of the 25 columns was a quarter of a session_exists (issue 7).
  // Kept while the database is unchanged (read-memo.ts).
  const withUser = raw.prepare<[string], SessionUserRow>(SESSION_USER_SQL);
  const withUserMemo = new ReadMemo(stamp, (tokenHash: string) => {
    const row = withUser.get(tokenHash);
    return row && sessionWithUser(row);
  });
  const writeAudit = auditWriter(db);
  /** Inserts a session with its audit row, unless `admit` (run first, in the transaction) refuses it. */
  const insertSession = (session: NewSession, audit: AuditEvent | undefined, admit?: (tx: SqliteDb) => boolean) =>
    db.transaction((tx) => {
      if (admit && !admit(tx)) return undefined;
      const row = tx.insert(sessions).values(session).returning().get();
      if (audit) writeAudit(audit, session.createdAt);
      return row;
    });
  return {
    async create(session, audit) {
      return insertSession(session, audit)!;
    },
    async createForUser(session, audit) {
      return insertSession(session, audit, (tx) => ownerStands(ownerState(tx, session.userId)));
    },
    async getByTokenHash(tokenHash) {
      return byToken.get({ h: tokenHash });
    },
    async getWithUserByTokenHash(tokenHash, at) {
      return withUserMemo.get(tokenHash, at);
    },
    async delete(id, now, audit) {
      return db.transaction((tx) => {
        const n = endSessionsWhere(tx, eq(sessions.id, id), now);
        if (n === 0) return false;
        if (audit) writeAudit(audit, now);
        return true;
      });
    },
    async listByUser(userId, now) {
      return db.select().from(sessions)
        .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, now)))
        .orderBy(asc(sessions.createdAt), asc(sessions.id)).all();
    },
    async mergeExtra(id, changes) {
      return db.transaction((tx) => {
        const row = tx.select({ extra: sessions.extra }).from(sessions).where(eq(sessions.id, id)).get();
        if (!row) return undefined;
        return tx.update(sessions).set({ extra: mergeExtra(row.extra, changes) }).where(eq(sessions.id, id)).returning().get();
      });
    },
    async deleteByUser(userId, keepId, now, audit) {
      return db.transaction((tx) => {
        const where = keepId === null ? eq(sessions.userId, userId) : and(eq(sessions.userId, userId), ne(sessions.id, keepId))!;
        const n = endSessionsWhere(tx, where, now);
        if (audit) writeAudit({ ...audit, details: { ...audit.details, deleted: n } }, now);
        return n;
      });
    },
    async purgeExpired(now) {
      return db.transaction((tx) => deleteSessionsWhere(tx, lte(sessions.expiresAt, now), now, 'session_expired'));
    },
    async rotateForLogin(oldId, session, update, audit) {
      return db.transaction((tx) => {
        if (!ownerStands(ownerState(tx, session.userId), update.verifiedHash)) return 'user_changed' as const;
        if (deleteSessionsWhere(tx, eq(sessions.id, oldId), session.createdAt) === 0) return undefined;
        const row = tx.insert(sessions).values(session).returning().get();
        // A success resets the count; a temporary lock still in force stays (users.md): this
        // login came from a known place (LoginGuard), the other places remain locked out.
        tx.update(users).set({
          failedLogins: 0, lastLoginAt: session.createdAt, updatedAt: session.createdAt,
          tempLockedUntil: sql`CASE WHEN ${users.tempLockedUntil} > ${session.createdAt} THEN ${users.tempLockedUntil} ELSE NULL END`,
          ...(update.passwordHash ? { passwordHash: update.passwordHash } : {}),
        }).where(eq(users.id, session.userId)).run();
        writeAudit(audit, session.createdAt);
        return row;
      });
    },
  };
}
