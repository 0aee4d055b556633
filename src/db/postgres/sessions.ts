import { and, asc, eq, gt, inArray, isNull, lte, ne, sql, type SQL } from 'drizzle-orm';
import { ownerStands, type NewSession, type SessionStore } from '../store/sessions.js';
import type { AuditEvent, Session } from '../types.js';
import { insertAudit } from './audit.js';
import { conflictFrom, type PgDb, type PgExec } from './db.js';
import { apiKeys, sessions, users } from './schema.js';

/**
 * Deletes the sessions matching `where` and revokes the API keys bound to them (a session key
 * lives only as long as its session, SPEC §4.2). Call inside the caller's transaction. Under
 * concurrency the row locks serialise two deletes of one session: the second finds nothing.
 * The rows are locked before the keys are revoked: a key being issued on one of them holds the
 * row (FOR SHARE, apikeys.create) until it commits, so the revocation below sees it.
 */
export async function deleteSessionsWhere(tx: PgExec, where: SQL, now: number, reason = 'session_deleted'): Promise<number> {
  await tx.select({ id: sessions.id }).from(sessions).where(where).orderBy(asc(sessions.id)).for('update');
  const ids = tx.select({ id: sessions.id }).from(sessions).where(where);
  await tx.update(apiKeys).set({ revokedAt: now, revokedReason: reason })
    .where(and(inArray(apiKeys.sessionId, ids), isNull(apiKeys.revokedAt)));
  const deleted = await tx.delete(sessions).where(where).returning({ id: sessions.id });
  return deleted.length;
}

/**
 * Ends the sessions matching `where` and returns how many were live (unexpired at `now`). The
 * expired ones are removed as the expiry purge would remove them: they no longer count as
 * sessions (session_exists says `expired`, session_list leaves them out).
 */
async function endSessionsWhere(tx: PgExec, where: SQL, now: number): Promise<number> {
  const live = await deleteSessionsWhere(tx, and(where, gt(sessions.expiresAt, now))!, now);
  await deleteSessionsWhere(tx, and(where, lte(sessions.expiresAt, now))!, now, 'session_expired');
  return live;
}

/** Revokes every live API key of the user. Call inside the caller's transaction. */
export async function revokeUserKeys(tx: PgExec, userId: number, now: number, reason: string): Promise<number> {
  const rows = await tx.update(apiKeys).set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id });
  return rows.length;
}

/** The user's state a new session depends on (store/sessions.ts `ownerStands`), its row locked. */
async function ownerState(tx: PgExec, userId: number, lock: 'key share' | 'no key update') {
  const [row] = await tx.select({ isActive: users.isActive, adminLocked: users.adminLocked, passwordHash: users.passwordHash })
    .from(users).where(eq(users.id, userId)).for(lock);
  return row;
}

/** Inserts a session with its audit row, unless `admit` (run first, in the transaction) refuses it. */
async function insertSession(
  db: PgDb, session: NewSession, audit: AuditEvent | undefined, admit?: (tx: PgExec) => Promise<boolean>,
): Promise<Session | undefined> {
  try {
    return await db.transaction(async (tx) => {
      if (admit && !(await admit(tx))) return undefined;
      const [row] = await tx.insert(sessions).values(session).returning();
      if (audit) await insertAudit(tx, audit, session.createdAt);
      return row!;
    });
  } catch (err) {
    throw conflictFrom(err);
  }
}

export function pgSessionStore(db: PgDb): SessionStore {
  return {
    async create(session, audit) {
      return (await insertSession(db, session, audit))!;
    },
    async createForUser(session, audit) {
      // FOR KEY SHARE, the lock the insert's foreign key check takes anyway: a lock, deactivation
      // or delete of the user (FOR UPDATE first) waits for this insert and then ends the
      // session, or came first and is seen here.
      return insertSession(db, session, audit, async (tx) => ownerStands(await ownerState(tx, session.userId, 'key share')));
    },
    async getByTokenHash(tokenHash) {
      const [row] = await db.select().from(sessions).where(eq(sessions.tokenHash, tokenHash));
      return row;
    },
    async getWithUserByTokenHash(tokenHash) {
      const [row] = await db.select({ session: sessions, user: users }).from(sessions)
        .leftJoin(users, eq(users.id, sessions.userId)).where(eq(sessions.tokenHash, tokenHash));
      return row && { session: row.session, user: row.user ?? undefined };
    },
    async delete(id, now, audit) {
      return db.transaction(async (tx) => {
        const n = await endSessionsWhere(tx, eq(sessions.id, id), now);
        if (n === 0) return false;
        if (audit) await insertAudit(tx, audit, now);
        return true;
      });
    },
    async listByUser(userId, now) {
      return db.select().from(sessions)
        .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, now)))
        .orderBy(asc(sessions.createdAt), asc(sessions.id));
    },
    async mergeExtra(id, changes) {
      // One UPDATE (top-level jsonb merge, then key removal): a read-modify-write across two
      // statements lost keys when edits of one session raced.
      const set = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== null));
      const del = Object.keys(changes).filter((k) => changes[k] === null);
      const [row] = await db.update(sessions)
        .set({ extra: sql`(${sessions.extra} || ${JSON.stringify(set)}::jsonb) - array(select jsonb_array_elements_text(${JSON.stringify(del)}::jsonb))` })
        .where(eq(sessions.id, id)).returning();
      return row;
    },
    async deleteByUser(userId, keepId, now, audit) {
      return db.transaction(async (tx) => {
        const where = keepId === null ? eq(sessions.userId, userId) : and(eq(sessions.userId, userId), ne(sessions.id, keepId))!;
        const n = await endSessionsWhere(tx, where, now);
        if (audit) await insertAudit(tx, { ...audit, details: { ...audit.details, deleted: n } }, now);
        return n;
      });
    },
    async purgeExpired(now) {
      return db.transaction((tx) => deleteSessionsWhere(tx, lte(sessions.expiresAt, now), now, 'session_expired'));
    },
    async rotateForLogin(oldId, session, update, audit) {
      try {
        return await db.transaction(async (tx) => {
          // The user row first, FOR NO KEY UPDATE (this transaction updates it below): a lock
          // (FOR UPDATE) or a password change or reset (an UPDATE of the row) waits for this
          // login and then ends its session, or came first and is seen here.
          if (!ownerStands(await ownerState(tx, session.userId, 'no key update'), update.verifiedHash)) return 'user_changed' as const;
          if ((await deleteSessionsWhere(tx, eq(sessions.id, oldId), session.createdAt)) === 0) return undefined;
          const [row] = await tx.insert(sessions).values(session).returning();
          // A success resets the count; a temporary lock still in force stays (users.md): this
          // login came from a known place (LoginGuard), the other places remain locked out.
          const at = sql`${new Date(session.createdAt).toISOString()}::timestamptz`;
          await tx.update(users).set({
            failedLogins: 0, lastLoginAt: session.createdAt, updatedAt: session.createdAt,
            tempLockedUntil: sql`CASE WHEN ${users.tempLockedUntil} > ${at} THEN ${users.tempLockedUntil} ELSE NULL END`,
            ...(update.passwordHash ? { passwordHash: update.passwordHash } : {}),
          }).where(eq(users.id, session.userId));
          await insertAudit(tx, audit, session.createdAt);
          return row!;
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
  };
}
