import { and, asc, eq, gt, inArray, isNull, lte, ne, sql, type SQL } from 'drizzle-orm';
import type { SessionStore } from '../store/sessions.js';
import { auditWriter } from './audit.js';
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

/** Revokes every live API key of the user. Call inside the caller's transaction. */
export function revokeUserKeys(tx: SqliteDb, userId: number, now: number, reason: string): number {
  return tx.update(apiKeys).set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt))).run().changes;
}

export function sqliteSessionStore(db: SqliteDb): SessionStore {
  const byToken = db.select().from(sessions).where(eq(sessions.tokenHash, sql.placeholder('h'))).prepare();
  // session_exists, and every session-bound action: the session and its user in one read.
  const withUser = db.select({ session: sessions, user: users }).from(sessions).leftJoin(users, eq(users.id, sessions.userId))
    .where(eq(sessions.tokenHash, sql.placeholder('h'))).prepare();
  const writeAudit = auditWriter(db);
  return {
    async create(session, audit) {
      return db.transaction((tx) => {
        const row = tx.insert(sessions).values(session).returning().get();
        if (audit) writeAudit(audit, session.createdAt);
        return row;
      });
    },
    async getByTokenHash(tokenHash) {
      return byToken.get({ h: tokenHash });
    },
    async getWithUserByTokenHash(tokenHash) {
      const row = withUser.get({ h: tokenHash });
      return row && { session: row.session, user: row.user ?? undefined };
    },
    async delete(id, now, audit) {
      return db.transaction((tx) => {
        const n = deleteSessionsWhere(tx, eq(sessions.id, id), now);
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
    async updateExtra(id, extra) {
      return db.update(sessions).set({ extra }).where(eq(sessions.id, id)).returning().get();
    },
    async deleteByUser(userId, keepId, now, audit) {
      return db.transaction((tx) => {
        const where = keepId === null ? eq(sessions.userId, userId) : and(eq(sessions.userId, userId), ne(sessions.id, keepId))!;
        const n = deleteSessionsWhere(tx, where, now);
        if (audit) writeAudit({ ...audit, details: { ...audit.details, deleted: n } }, now);
        return n;
      });
    },
    async purgeExpired(now) {
      return db.transaction((tx) => deleteSessionsWhere(tx, lte(sessions.expiresAt, now), now, 'session_expired'));
    },
    async rotateForLogin(oldId, session, update, audit) {
      return db.transaction((tx) => {
        if (deleteSessionsWhere(tx, eq(sessions.id, oldId), session.createdAt) === 0) return undefined;
        const row = tx.insert(sessions).values(session).returning().get();
        tx.update(users).set({
          failedLogins: 0, tempLockedUntil: null, lastLoginAt: session.createdAt, updatedAt: session.createdAt,
          ...(update.passwordHash ? { passwordHash: update.passwordHash } : {}),
        }).where(eq(users.id, session.userId)).run();
        writeAudit(audit, session.createdAt);
        return row;
      });
    },
  };
}
