import { and, asc, count, eq, gt, isNotNull, isNull, lte, ne, or, sql } from 'drizzle-orm';
import { adminLockUnchanged, dropsPendingVerifications, storesVerification, type NewUser, type UserStore } from '../store/users.js';
import { insertAudit } from './audit.js';
import { conflictFrom, type PgDb, type PgExec } from './db.js';
import { deleteSessionsWhere, revokeUserKeys } from './sessions.js';
import { sessions, unknownLoginFailures, userTokens, users } from './schema.js';

/** A bound timestamptz parameter for raw SQL fragments (the column mapping does not apply there). */
const tsz = (msValue: number) => sql`${new Date(msValue).toISOString()}::timestamptz`;

/** Takes away everything the user could act with: sessions (with their keys) and all keys. */
async function revokeAccess(tx: PgExec, userId: number, now: number, reason: string, keepSessionId: string | null = null): Promise<void> {
  const mine = eq(sessions.userId, userId);
  await deleteSessionsWhere(tx, keepSessionId === null ? mine : and(mine, ne(sessions.id, keepSessionId))!, now, reason);
  await revokeUserKeys(tx, userId, now, reason);
}

/** Marks a live token spent (at most once, even under concurrency); the user id, or undefined. */
async function spendToken(tx: PgExec, tokenHash: string, purpose: 'verify_email' | 'reset_password', now: number): Promise<number | undefined> {
  const [row] = await tx.update(userTokens).set({ usedAt: now })
    .where(and(eq(userTokens.tokenHash, tokenHash), eq(userTokens.purpose, purpose), isNull(userTokens.usedAt), gt(userTokens.expiresAt, now)))
    .returning({ userId: userTokens.userId });
  return row?.userId;
}

/** The user row, locked until the transaction ends (read-modify-write without lost updates). */
export async function lockUser(tx: PgExec, userId: number) {
  const [row] = await tx.select().from(users).where(eq(users.id, userId)).for('update');
  return row;
}

export function pgUserStore(db: PgDb): UserStore {
  const insertUser = async (tx: PgExec, user: NewUser) => (await tx.insert(users).values({ ...user, updatedAt: user.createdAt }).returning())[0]!;
  return {
    async create(user, audit) {
      try {
        return await db.transaction(async (tx) => {
          const row = await insertUser(tx, user);
          if (audit) await insertAudit(tx, { ...audit, targetUserId: row.id }, user.createdAt);
          return row;
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
    async createWithToken(user, token, audit) {
      try {
        return await db.transaction(async (tx) => {
          const row = await insertUser(tx, user);
          await tx.insert(userTokens).values({ ...token, userId: row.id });
          await insertAudit(tx, { ...audit, targetUserId: row.id }, user.createdAt);
          return row;
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
    async getById(id) {
      return (await db.select().from(users).where(eq(users.id, id)))[0];
    },
    async getByEmail(email) {
      return (await db.select().from(users).where(eq(users.email, email)))[0];
    },
    async getBySystemId(systemId) {
      return (await db.select().from(users).where(eq(users.systemId, systemId)))[0];
    },
    async count() {
      return (await db.select({ n: count() }).from(users))[0]?.n ?? 0;
    },
    async list(afterId, limit) {
      return db.select().from(users).where(gt(users.id, afterId)).orderBy(asc(users.id)).limit(limit);
    },
    async addToken(userId, token) {
      await db.transaction(async (tx) => {
        // The user's row serialises tokens issued at once: each deletes the earlier ones only
        // after the previous insert committed, so one token is left, not one per request.
        await lockUser(tx, userId);
        await tx.delete(userTokens).where(and(eq(userTokens.userId, userId), eq(userTokens.purpose, token.purpose), isNull(userTokens.usedAt)));
        await tx.insert(userTokens).values({ ...token, userId });
      });
    },
    async getLiveToken(tokenHash, purpose, now) {
      return (await db.select().from(userTokens)
        .where(and(eq(userTokens.tokenHash, tokenHash), eq(userTokens.purpose, purpose), isNull(userTokens.usedAt), gt(userTokens.expiresAt, now))))[0];
    },
    async verifyEmail(tokenHash, now, audit) {
      return db.transaction(async (tx) => {
        const userId = await spendToken(tx, tokenHash, 'verify_email', now);
        if (userId === undefined) return undefined;
        const [row] = await tx.update(users).set({ isActive: true, emailVerified: true, updatedAt: now })
          .where(eq(users.id, userId)).returning();
        await insertAudit(tx, { ...audit, targetUserId: userId, details: { ...audit.details, role: row?.role } }, now);
        return row;
      });
    },
    async resetPassword(tokenHash, passwordHash, now, audit) {
      return db.transaction(async (tx) => {
        const userId = await spendToken(tx, tokenHash, 'reset_password', now);
        if (userId === undefined) return undefined;
        const [row] = await tx.update(users).set({
          passwordHash, failedLogins: 0, tempLockedUntil: null, updatedAt: now,
          emailVerified: sql`${users.emailVerified} OR ${users.isActive}`,
        }).where(eq(users.id, userId)).returning();
        await revokeAccess(tx, userId, now, 'password_reset');
        await insertAudit(tx, { ...audit, targetUserId: userId, actorUserId: userId }, now);
        return row;
      });
    },
    async changePassword(userId, passwordHash, keepSessionId, now, audit) {
      return db.transaction(async (tx) => {
        // The user's row first: a reset, lock or other change (which lock it too) has committed,
        // and ended this session, before the session is looked at, or waits for this change.
        await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for('no key update');
        if (keepSessionId !== null && (await tx.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, keepSessionId))).length === 0) return false;
        await tx.update(users).set({ passwordHash, updatedAt: now }).where(eq(users.id, userId));
        await revokeAccess(tx, userId, now, 'password_changed', keepSessionId);
        await insertAudit(tx, audit, now);
        return true;
      });
    },
    async recordLoginFailure(userId, now, limits, audit) {
      // Both UPDATEs take the user's row lock, so racing failures (from any instance) count one
      // by one: each sees the previous one's committed count, and exactly one starts the lock.
      return db.transaction(async (tx) => {
        // A temporary lock that has run out starts a fresh count.
        await tx.update(users).set({ failedLogins: 0, tempLockedUntil: null })
          .where(and(eq(users.id, userId), isNotNull(users.tempLockedUntil), lte(users.tempLockedUntil, now)));
        const [row] = await tx.update(users).set({
          failedLogins: sql`${users.failedLogins} + 1`,
          lastFailedLoginAt: now,
          tempLockedUntil: sql`CASE WHEN ${users.failedLogins} + 1 >= ${limits.maxFailures} THEN coalesce(${users.tempLockedUntil}, ${tsz(now + limits.lockMs)}) ELSE ${users.tempLockedUntil} END`,
        }).where(eq(users.id, userId)).returning({ failedLogins: users.failedLogins, tempLockedUntil: users.tempLockedUntil });
        const state = { failedLogins: row?.failedLogins ?? 0, tempLockedUntil: row?.tempLockedUntil ?? null };
        await insertAudit(tx, { ...audit, details: { ...audit.details, failed_logins: state.failedLogins, locked: state.tempLockedUntil !== null } }, now);
        return state;
      });
    },
    async clearLoginFailures(userId, now) {
      await db.update(users).set({ failedLogins: 0, tempLockedUntil: null, updatedAt: now })
        .where(and(eq(users.id, userId), or(gt(users.failedLogins, 0), isNotNull(users.tempLockedUntil))));
    },
    async update(userId, patch, now, audits, verification) {
      try {
        return await db.transaction(async (tx) => {
          const current = await lockUser(tx, userId);
          if (!current) return undefined;
          const { role, ...rest } = patch;
          // An admin-locked user keeps the lock role; a role change applies when unlocked.
          const roleSet = role === undefined ? {} : current.adminLocked ? { roleBeforeLock: role } : { role };
          const [row] = await tx.update(users).set({ ...rest, ...roleSet, updatedAt: now }).where(eq(users.id, userId)).returning();
          // Deactivation ends the sessions (and their keys); standalone keys answer user_inactive.
          if (patch.isActive === false && current.isActive) await deleteSessionsWhere(tx, eq(sessions.userId, userId), now, 'user_deactivated');
          // A pending verification belongs to the address and state it was issued for (store/users.ts).
          let pendingLive = false;
          if (dropsPendingVerifications(patch)) {
            const dropped = await tx.delete(userTokens)
              .where(and(eq(userTokens.userId, userId), eq(userTokens.purpose, 'verify_email'), isNull(userTokens.usedAt)))
              .returning({ expiresAt: userTokens.expiresAt });
            pendingLive = dropped.some((t) => t.expiresAt > now);
          }
          const verificationIssued = verification !== undefined && storesVerification(patch, row!, pendingLive);
          if (verificationIssued) await tx.insert(userTokens).values({ ...verification, userId });
          for (const a of audits) await insertAudit(tx, a, now);
          return { user: row!, verificationIssued };
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
    async setAdminLock(userId, locked, lockedRole, now, audit) {
      return db.transaction(async (tx) => {
        const current = await lockUser(tx, userId);
        if (!current) return undefined;
        if (adminLockUnchanged(current, locked)) return current;
        const [row] = locked
          ? await tx.update(users).set({ adminLocked: true, roleBeforeLock: current.role, role: lockedRole, updatedAt: now })
            .where(eq(users.id, userId)).returning()
          : await tx.update(users).set({ adminLocked: false, role: current.roleBeforeLock ?? current.role, roleBeforeLock: null, failedLogins: 0, tempLockedUntil: null, updatedAt: now })
            .where(eq(users.id, userId)).returning();
        if (locked) await revokeAccess(tx, userId, now, 'user_locked');
        await insertAudit(tx, { ...audit, details: { ...audit.details, role_before: current.role, role_after: row?.role } }, now);
        return row;
      });
    },
    async delete(userId, now, audit) {
      return db.transaction(async (tx) => {
        // Locked first, as a lock does: a key being issued for the user (apikeys.create holds the
        // row) is committed before the revocation below, which then sees it.
        await lockUser(tx, userId);
        await revokeAccess(tx, userId, now, 'user_deleted');
        const deleted = await tx.delete(users).where(eq(users.id, userId)).returning({ id: users.id });
        if (deleted.length === 0) return false;
        await insertAudit(tx, audit, now);
        return true;
      });
    },
    async purgeExpiredTokens(now) {
      const rows = await db.delete(userTokens).where(or(isNotNull(userTokens.usedAt), lte(userTokens.expiresAt, now)))
        .returning({ tokenHash: userTokens.tokenHash });
      return rows.length;
    },
    async unknownLoginLockedUntil(emailDigest, now) {
      const [row] = await db.select({ lockedUntil: unknownLoginFailures.lockedUntil }).from(unknownLoginFailures)
        .where(and(eq(unknownLoginFailures.emailDigest, emailDigest), gt(unknownLoginFailures.lockedUntil, now)));
      return row?.lockedUntil ?? null;
    },
    async recordUnknownLoginFailure(emailDigest, now, limits) {
      const t = unknownLoginFailures;
      // The DELETE takes the row's lock (when there is one) and the INSERT … ON CONFLICT waits for
      // a racing insert of the same digest to commit, then updates it: racing failures from any
      // instance count one by one, and exactly one starts the lock.
      return db.transaction(async (tx) => {
        // An ended lock, or a count whose last failure is windowMs old, starts a fresh count.
        await tx.delete(t).where(and(eq(t.emailDigest, emailDigest), or(
          and(isNotNull(t.lockedUntil), lte(t.lockedUntil, now)),
          and(isNull(t.lockedUntil), lte(t.lastFailedAt, now - limits.windowMs)),
        )));
        const lockEnd = now + limits.lockMs;
        const expiresAt = now + Math.max(limits.windowMs, limits.lockMs);
        const [row] = await tx.insert(t).values({
          emailDigest, failures: 1, lastFailedAt: now, lockedUntil: limits.maxFailures <= 1 ? lockEnd : null, expiresAt,
        }).onConflictDoUpdate({
          target: t.emailDigest,
          set: {
            failures: sql`${t.failures} + 1`,
            lastFailedAt: now,
            lockedUntil: sql`CASE WHEN ${t.failures} + 1 >= ${limits.maxFailures} THEN coalesce(${t.lockedUntil}, ${tsz(lockEnd)}) ELSE ${t.lockedUntil} END`,
            expiresAt,
          },
        }).returning({ failures: t.failures, lockedUntil: t.lockedUntil });
        return { failures: row!.failures, lockedUntil: row!.lockedUntil };
      });
    },
    async clearUnknownLoginFailures(emailDigest) {
      await db.delete(unknownLoginFailures).where(eq(unknownLoginFailures.emailDigest, emailDigest));
    },
    async purgeUnknownLoginFailures(now) {
      const rows = await db.delete(unknownLoginFailures).where(lte(unknownLoginFailures.expiresAt, now))
        .returning({ emailDigest: unknownLoginFailures.emailDigest });
      return rows.length;
    },
  };
}
