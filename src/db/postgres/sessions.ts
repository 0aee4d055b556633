import { and, eq, isNull } from 'drizzle-orm';
import { ConflictError } from '../errors.js';
import type { SessionStore } from '../store/sessions.js';
import { insertAudit } from './audit.js';
import { uniqueViolation, type PgDb } from './db.js';
import { apiKeys, sessions } from './schema.js';

export function pgSessionStore(db: PgDb): SessionStore {
  return {
    async create(session, audit) {
      try {
        return await db.transaction(async (tx) => {
          const [row] = await tx.insert(sessions).values(session).returning();
          if (audit) await insertAudit(tx, audit, session.createdAt);
          return row!;
        });
      } catch (err) {
        const constraint = uniqueViolation(err);
        if (constraint) throw new ConflictError(constraint);
        throw err;
      }
    },
    async getByTokenHash(tokenHash) {
      const [row] = await db.select().from(sessions).where(eq(sessions.tokenHash, tokenHash));
      return row;
    },
    async delete(id, now, audit) {
      return db.transaction(async (tx) => {
        const deleted = await tx.delete(sessions).where(eq(sessions.id, id)).returning({ id: sessions.id });
        if (deleted.length === 0) return false;
        // A session key lives only as long as its session (SPEC §4.2).
        await tx.update(apiKeys).set({ revokedAt: now, revokedReason: 'session_deleted' })
          .where(and(eq(apiKeys.sessionId, id), isNull(apiKeys.revokedAt)));
        if (audit) await insertAudit(tx, audit, now);
        return true;
      });
    },
  };
}
