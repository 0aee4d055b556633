import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { ApiKeyStore } from '../store/apikeys.js';
import { userIsUsable } from '../store/users.js';
import { insertAudit } from './audit.js';
import { conflictFrom, type PgDb, type PgExec } from './db.js';
import { apiKeys, refreshTokens, sessions, users } from './schema.js';
import { lockUser } from './users.js';

export { revokeUserKeys as revokeUserApiKeys } from './sessions.js';

/** Keys per statement of a usage flush (3 parameters each, far below PostgreSQL's 65,535). */
const USAGE_CHUNK = 500;

/**
 * True when the key's owner exists and is inactive or admin-locked (an owner that does not exist
 * is not refused: store/apikeys.ts). Its row stays locked FOR KEY SHARE until the transaction ends.
 */
async function ownerRefused(tx: PgExec, userId: number): Promise<boolean> {
  const [owner] = await tx.select({ isActive: users.isActive, adminLocked: users.adminLocked }).from(users)
    .where(eq(users.id, userId)).for('key share');
  return owner !== undefined && !userIsUsable(owner);
}

/*
 * Every state change is a conditional UPDATE (`… WHERE revoked_at IS NULL`, `… WHERE used_at IS
 * NULL`) whose RETURNING rows say whether it took effect. Two instances racing on one row
 * serialise on its row lock; the loser re-checks the condition after the winner commits, finds
 * it false and changes nothing: one winner, one audit row per effective change, no error.
 */
export function pgApiKeyStore(db: PgDb): ApiKeyStore {
  // The verify path's only read: the key by primary key with its owner's state (prepared once
  // per connection).
  const forVerify = db.select({
    tokenHash: apiKeys.tokenHash,
    revokedAt: apiKeys.revokedAt,
    revokedReason: apiKeys.revokedReason,
    role: apiKeys.role,
    userRole: users.role,
    userActive: users.isActive,
    userLocked: users.adminLocked,
  }).from(apiKeys).leftJoin(users, eq(users.id, apiKeys.userId))
    .where(eq(apiKeys.id, sql.placeholder('id'))).prepare('apikey_for_verify');

  return {
    async create(key, refresh, audit) {
      try {
        return await db.transaction(async (tx) => {
          // The session row (the owner's, for a standalone key) stays share-locked until the key
          // is committed: a concurrent delete of the session (deleteSessionsWhere locks the rows
          // first) or lock, deactivation or delete of the owner (FOR UPDATE first) then waits and
          // revokes this key, or came first and the check below refuses it.
          if (key.sessionId !== null) {
            const live = await tx.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, key.sessionId)).for('share');
            if (live.length === 0) return false;
          } else if (await ownerRefused(tx, key.userId)) {
            return false;
          }
          await tx.insert(apiKeys).values(key);
          if (refresh) await tx.insert(refreshTokens).values(refresh);
          await insertAudit(tx, audit, key.issuedAt);
          return true;
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
    async getForVerify(id) {
      return (await forVerify.execute({ id }))[0];
    },
    async getById(id) {
      return (await db.select().from(apiKeys).where(eq(apiKeys.id, id)))[0];
    },
    async listByUser(userId) {
      return db.select().from(apiKeys).where(eq(apiKeys.userId, userId)).orderBy(asc(apiKeys.issuedAt));
    },
    async revoke(id, now, reason, audit) {
      return db.transaction(async (tx) => {
        const rows = await tx.update(apiKeys).set({ revokedAt: now, revokedReason: reason })
          .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id });
        if (rows.length > 0) await insertAudit(tx, audit, now);
        return rows.length > 0;
      });
    },
    async revokeAllOfUser(userId, now, reason, audit) {
      return db.transaction(async (tx) => {
        // The owner's row first: a refresh or issue holding it (FOR KEY SHARE) commits its key
        // before the UPDATE below, which then revokes it too.
        await lockUser(tx, userId);
        const rows = await tx.update(apiKeys).set({ revokedAt: now, revokedReason: reason })
          .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id });
        await insertAudit(tx, { ...audit, details: { ...audit.details, revoked: rows.length } }, now);
        return rows.length;
      });
    },
    async recordUsage(updates) {
      if (updates.length === 0) return;
      // One round trip per chunk instead of one per key. The rows are locked in key order first,
      // so two instances flushing overlapping keys queue behind each other instead of deadlocking.
      const sorted = [...updates].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
      await db.transaction(async (tx) => {
        for (let i = 0; i < sorted.length; i += USAGE_CHUNK) {
          const chunk = sorted.slice(i, i + USAGE_CHUNK);
          await tx.select({ id: apiKeys.id }).from(apiKeys).where(inArray(apiKeys.id, chunk.map((u) => u.id)))
            .orderBy(asc(apiKeys.id)).for('update');
          const rows = sql.join(chunk.map((u) => sql`(${u.id}, ${u.count}::integer, ${new Date(u.lastUsedAt).toISOString()}::timestamptz)`), sql`, `);
          await tx.execute(sql`UPDATE ${apiKeys} SET use_count = ${apiKeys}.use_count + v.n,
            last_used_at = greatest(${apiKeys}.last_used_at, v.at)
            FROM (VALUES ${rows}) AS v(id, n, at) WHERE ${apiKeys}.id = v.id`);
        }
      });
    },
    async getRefreshToken(tokenHash) {
      return (await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)))[0];
    },
    async rotateRefresh(spentHash, oldKeyId, key, refresh, audit) {
      const now = key.issuedAt;
      try {
        return await db.transaction(async (tx) => {
          // Locked in the order owner, key, token (a lock or revoke-all takes the owner first,
          // reuse detection the keys before the tokens); nothing is written before every check.
          const refusedOwner = await ownerRefused(tx, key.userId);
          const [old] = await tx.select({ revokedAt: apiKeys.revokedAt }).from(apiKeys).where(eq(apiKeys.id, oldKeyId)).for('update');
          const [token] = await tx.select({ usedAt: refreshTokens.usedAt }).from(refreshTokens)
            .where(eq(refreshTokens.tokenHash, spentHash)).for('update');
          if (!token || token.usedAt !== null) return 'spent' as const;
          if (!old || old.revokedAt !== null || refusedOwner) return 'refused' as const;
          await tx.update(refreshTokens).set({ usedAt: now }).where(eq(refreshTokens.tokenHash, spentHash));
          await tx.update(apiKeys).set({ revokedAt: now, revokedReason: 'refreshed' }).where(eq(apiKeys.id, oldKeyId));
          await tx.insert(apiKeys).values(key);
          await tx.insert(refreshTokens).values(refresh);
          await insertAudit(tx, audit, now);
          return 'ok' as const;
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
    async revokeFamily(familyId, now, audit) {
      return db.transaction(async (tx) => {
        const rows = await tx.update(apiKeys).set({ revokedAt: now, revokedReason: 'refresh_token_reuse' })
          .where(and(eq(apiKeys.familyId, familyId), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id });
        await tx.update(refreshTokens).set({ usedAt: now })
          .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.usedAt)));
        await insertAudit(tx, { ...audit, details: { ...audit.details, revoked: rows.length } }, now);
        return rows.length;
      });
    },
  };
}
