import { and, eq, isNull, sql } from 'drizzle-orm';
import type { SessionStore } from '../store/sessions.js';
import { insertAudit } from './audit.js';
import type { SqliteDb } from './db.js';
import { apiKeys, sessions } from './schema.js';

export function sqliteSessionStore(db: SqliteDb): SessionStore {
  const byToken = db.select().from(sessions).where(eq(sessions.tokenHash, sql.placeholder('h'))).prepare();
  return {
    async create(session, audit) {
      return db.transaction((tx) => {
        const row = tx.insert(sessions).values(session).returning().get();
        if (audit) insertAudit(tx, audit, session.createdAt);
        return row;
      });
    },
    async getByTokenHash(tokenHash) {
      return byToken.get({ h: tokenHash });
    },
    async delete(id, now, audit) {
      return db.transaction((tx) => {
        const res = tx.delete(sessions).where(eq(sessions.id, id)).run();
        if (res.changes === 0) return false;
        // A session key lives only as long as its session (SPEC §4.2).
        tx.update(apiKeys).set({ revokedAt: now, revokedReason: 'session_deleted' })
          .where(and(eq(apiKeys.sessionId, id), isNull(apiKeys.revokedAt))).run();
        if (audit) insertAudit(tx, audit, now);
        return true;
      });
    },
  };
}
