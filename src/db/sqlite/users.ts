import { and, asc, count, eq, gt, isNotNull, isNull, lte, or, sql } from 'drizzle-orm';
import { ConflictError } from '../errors.js';
import { adminLockUnchanged, dropsPendingVerifications, storesVerification, type NewUser, type UserStore } from '../store/users.js';
import type { AuditEvent } from '../types.js';
import { auditWriter } from './audit.js';
import { ReadMemo, type ChangeStamp } from './read-memo.js';
import { isUniqueViolation, type SqliteDb } from './db.js';
import { deleteSessionsWhere, revokeUserKeys } from './sessions.js';
import { sessions, unknownLoginFailures, userTokens, users } from './schema.js';

function conflictFrom(err: unknown): unknown {
  if (!isUniqueViolation(err)) return err;
  return new ConflictError(String((err as Error).message).includes('system_id') ? 'users_system_id_uq' : 'users_email_uq');
}

/** Takes away everything the user could act with: sessions (with their keys) and all keys. */
function revokeAccess(tx: SqliteDb, userId: number, now: number, reason: string, keepSessionId: string | null = null): void {
  const mine = eq(sessions.userId, userId);
  deleteSessionsWhere(tx, keepSessionId === null ? mine : and(mine, sql`${sessions.id} <> ${keepSessionId}`)!, now, reason);
  revokeUserKeys(tx, userId, now, reason);
}

/** Marks a live token spent; the user id, or undefined when it was unknown, spent or expired. */
function spendToken(tx: SqliteDb, tokenHash: string, purpose: 'verify_email' | 'reset_password', now: number): number | undefined {
  return tx.update(userTokens).set({ usedAt: now })
    .where(and(eq(userTokens.tokenHash, tokenHash), eq(userTokens.purpose, purpose), isNull(userTokens.usedAt), gt(userTokens.expiresAt, now)))
    .returning({ userId: userTokens.userId }).get()?.userId;
}

export function sqliteUserStore(db: SqliteDb, stamp: ChangeStamp): UserStore {
  const insertUser = (tx: SqliteDb, user: NewUser) => tx.insert(users).values({ ...user, updatedAt: user.createdAt }).returning().get();
  const writeAudit = auditWriter(db);
  // Hot-path reads, prepared once (check_access, every session-bound action, login).
  const byId = db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare();
  // check_access and check_limit read the acting user on every call (read-memo.ts).
  const byIdMemo = new ReadMemo(stamp, (id: number) => byId.get({ id }));
  const byEmail = db.select().from(users).where(eq(users.email, sql.placeholder('email'))).prepare();
  const bySystemId = db.select().from(users).where(eq(users.systemId, sql.placeholder('systemId'))).prepare();
  return {
    async create(user, audit) {
      try {
        return db.transaction((tx) => {
          const row = insertUser(tx, user);
          if (audit) writeAudit({ ...audit, targetUserId: row.id }, user.createdAt);
          return row;
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
    async createWithToken(user, token, audit) {
      try {
        return db.transaction((tx) => {
          const row = insertUser(tx, user);
          tx.insert(userTokens).values({ ...token, userId: row.id }).run();
          writeAudit({ ...audit, targetUserId: row.id }, user.createdAt);
          return row;
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
    async getById(id, at) {
      return byIdMemo.get(id, at);
    },
    async getByEmail(email) {
      return byEmail.get({ email });
    },
    async getBySystemId(systemId) {
      return bySystemId.get({ systemId });
    },
    async count() {
      return db.select({ n: count() }).from(users).get()?.n ?? 0;
    },
    async list(afterId, limit) {
      return db.select().from(users).where(gt(users.id, afterId)).orderBy(asc(users.id)).limit(limit).all();
    },
    async addToken(userId, token) {
      db.transaction((tx) => {
        tx.delete(userTokens).where(and(eq(userTokens.userId, userId), eq(userTokens.purpose, token.purpose), isNull(userTokens.usedAt))).run();
        tx.insert(userTokens).values({ ...token, userId }).run();
      });
    },
    async getLiveToken(tokenHash, purpose, now) {
      return db.select().from(userTokens)
        .where(and(eq(userTokens.tokenHash, tokenHash), eq(userTokens.purpose, purpose), isNull(userTokens.usedAt), gt(userTokens.expiresAt, now)))
        .get();
    },
    async verifyEmail(tokenHash, now, audit) {
      return db.transaction((tx) => {
        const userId = spendToken(tx, tokenHash, 'verify_email', now);
        if (userId === undefined) return undefined;
        const row = tx.update(users).set({ isActive: true, emailVerified: true, updatedAt: now })
          .where(eq(users.id, userId)).returning().get();
        writeAudit({ ...audit, targetUserId: userId, details: { ...audit.details, role: row?.role } }, now);
        return row;
      });
    },
    async resetPassword(tokenHash, passwordHash, now, audit) {
      return db.transaction((tx) => {
        const userId = spendToken(tx, tokenHash, 'reset_password', now);
        if (userId === undefined) return undefined;
        const row = tx.update(users).set({
          passwordHash, failedLogins: 0, tempLockedUntil: null, updatedAt: now,
          emailVerified: sql`${users.emailVerified} OR ${users.isActive}`,
        }).where(eq(users.id, userId)).returning().get();
        revokeAccess(tx, userId, now, 'password_reset');
        writeAudit({ ...audit, targetUserId: userId, actorUserId: userId }, now);
        return row;
      });
    },
    async changePassword(userId, passwordHash, keepSessionId, now, audit) {
      return db.transaction((tx) => {
        if (keepSessionId !== null && !tx.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, keepSessionId)).get()) return false;
        tx.update(users).set({ passwordHash, updatedAt: now }).where(eq(users.id, userId)).run();
        revokeAccess(tx, userId, now, 'password_changed', keepSessionId);
        writeAudit(audit, now);
        return true;
      });
    },
    async recordLoginFailure(userId, now, limits, audit) {
      return db.transaction((tx) => {
        // A temporary lock that has run out starts a fresh count.
        tx.update(users).set({ failedLogins: 0, tempLockedUntil: null })
          .where(and(eq(users.id, userId), isNotNull(users.tempLockedUntil), lte(users.tempLockedUntil, now))).run();
        const row = tx.update(users).set({
          failedLogins: sql`${users.failedLogins} + 1`,
          lastFailedLoginAt: now,
          tempLockedUntil: sql`CASE WHEN ${users.failedLogins} + 1 >= ${limits.maxFailures} THEN coalesce(${users.tempLockedUntil}, ${now + limits.lockMs}) ELSE ${users.tempLockedUntil} END`,
        }).where(eq(users.id, userId)).returning({ failedLogins: users.failedLogins, tempLockedUntil: users.tempLockedUntil }).get();
        const state = { failedLogins: row?.failedLogins ?? 0, tempLockedUntil: row?.tempLockedUntil ?? null };
        writeAudit({ ...audit, details: { ...audit.details, failed_logins: state.failedLogins, locked: state.tempLockedUntil !== null } }, now);
        return state;
      });
    },
    async clearLoginFailures(userId, now) {
      db.update(users).set({ failedLogins: 0, tempLockedUntil: null, updatedAt: now })
        .where(and(eq(users.id, userId), or(gt(users.failedLogins, 0), isNotNull(users.tempLockedUntil)))).run();
    },
    async update(userId, patch, now, audits, verification) {
      try {
        return db.transaction((tx) => {
          const current = tx.select().from(users).where(eq(users.id, userId)).get();
          if (!current) return undefined;
          const { role, ...rest } = patch;
          // An admin-locked user keeps the lock role; a role change applies when unlocked.
          const roleSet = role === undefined ? {} : current.adminLocked ? { roleBeforeLock: role } : { role };
          const row = tx.update(users).set({ ...rest, ...roleSet, updatedAt: now }).where(eq(users.id, userId)).returning().get()!;
          // Deactivation ends the sessions (and their keys) so no frontend keeps the user logged in.
          // Standalone keys stay: they answer `user_inactive` (SPEC §4.2) and work again on reactivation.
          if (patch.isActive === false && current.isActive) deleteSessionsWhere(tx, eq(sessions.userId, userId), now, 'user_deactivated');
          let pendingLive = false;
          if (dropsPendingVerifications(patch)) {
            const dropped = tx.delete(userTokens)
              .where(and(eq(userTokens.userId, userId), eq(userTokens.purpose, 'verify_email'), isNull(userTokens.usedAt)))
              .returning({ expiresAt: userTokens.expiresAt }).all();
            pendingLive = dropped.some((t) => t.expiresAt > now);
          }
          const verificationIssued = verification !== undefined && storesVerification(patch, row, pendingLive);
          if (verificationIssued) tx.insert(userTokens).values({ ...verification, userId }).run();
          for (const a of audits) writeAudit(a, now);
          return { user: row, verificationIssued };
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
    async setAdminLock(userId, locked, lockedRole, now, audit) {
      return db.transaction((tx) => {
        const current = tx.select().from(users).where(eq(users.id, userId)).get();
        if (!current) return undefined;
        if (adminLockUnchanged(current, locked)) return current;
        const row = locked
          ? tx.update(users).set({ adminLocked: true, roleBeforeLock: current.role, role: lockedRole, updatedAt: now })
            .where(eq(users.id, userId)).returning().get()
          : tx.update(users).set({ adminLocked: false, role: current.roleBeforeLock ?? current.role, roleBeforeLock: null, failedLogins: 0, tempLockedUntil: null, updatedAt: now })
            .where(eq(users.id, userId)).returning().get();
        if (locked) revokeAccess(tx, userId, now, 'user_locked');
        writeAudit({ ...audit, details: { ...audit.details, role_before: current.role, role_after: row?.role } }, now);
        return row;
      });
    },
    async delete(userId, now, audit: AuditEvent) {
      return db.transaction((tx) => {
        revokeAccess(tx, userId, now, 'user_deleted');
        const n = tx.delete(users).where(eq(users.id, userId)).run().changes;
        if (n === 0) return false;
        writeAudit(audit, now);
        return true;
      });
    },
    async purgeExpiredTokens(now) {
      return db.delete(userTokens).where(or(isNotNull(userTokens.usedAt), lte(userTokens.expiresAt, now))).run().changes;
    },
    async unknownLoginLockedUntil(emailDigest, now) {
      const row = db.select({ lockedUntil: unknownLoginFailures.lockedUntil }).from(unknownLoginFailures)
        .where(and(eq(unknownLoginFailures.emailDigest, emailDigest), gt(unknownLoginFailures.lockedUntil, now))).get();
      return row?.lockedUntil ?? null;
    },
    async recordUnknownLoginFailure(emailDigest, now, limits) {
      const t = unknownLoginFailures;
      return db.transaction((tx) => {
        // An ended lock, or a count whose last failure is windowMs old, starts a fresh count.
        tx.delete(t).where(and(eq(t.emailDigest, emailDigest), or(
          and(isNotNull(t.lockedUntil), lte(t.lockedUntil, now)),
          and(isNull(t.lockedUntil), lte(t.lastFailedAt, now - limits.windowMs)),
        ))).run();
        const lockEnd = now + limits.lockMs;
        const expiresAt = now + Math.max(limits.windowMs, limits.lockMs);
        const row = tx.insert(t).values({
          emailDigest, failures: 1, lastFailedAt: now, lockedUntil: limits.maxFailures <= 1 ? lockEnd : null, expiresAt,
        }).onConflictDoUpdate({
          target: t.emailDigest,
          set: {
            failures: sql`${t.failures} + 1`,
            lastFailedAt: now,
            lockedUntil: sql`CASE WHEN ${t.failures} + 1 >= ${limits.maxFailures} THEN coalesce(${t.lockedUntil}, ${lockEnd}) ELSE ${t.lockedUntil} END`,
            expiresAt,
          },
        }).returning({ failures: t.failures, lockedUntil: t.lockedUntil }).get();
        return { failures: row.failures, lockedUntil: row.lockedUntil };
      });
    },
    async clearUnknownLoginFailures(emailDigest) {
      db.delete(unknownLoginFailures).where(eq(unknownLoginFailures.emailDigest, emailDigest)).run();
    },
    async purgeUnknownLoginFailures(now) {
      return db.delete(unknownLoginFailures).where(lte(unknownLoginFailures.expiresAt, now)).run().changes;
    },
  };
}
