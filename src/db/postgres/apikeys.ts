import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { ConflictError } from '../errors.js';
import type { ApiKeyStore } from '../store/apikeys.js';
import { insertAudit } from './audit.js';
import { uniqueViolation, type PgDb } from './db.js';
import { apiKeys, refreshTokens, users } from './schema.js';

export { revokeUserKeys as revokeUserApiKeys } from './sessions.js';

/** Keys per statement of a usage flush (3 parameters each, far below PostgreSQL's 65,535). */
const USAGE_CHUNK = 500;

function conflictFrom(err: unknown): unknown {
  const constraint = uniqueViolation(err);
  return constraint ? new ConflictError(constraint) : err;
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
        await db.transaction(async (tx) => {
          await tx.insert(apiKeys).values(key);
          if (refresh) await tx.insert(refreshTokens).values(refresh);
          await insertAudit(tx, audit, key.issuedAt);
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
          const spent = await tx.update(refreshTokens).set({ usedAt: now })
            .where(and(eq(refreshTokens.tokenHash, spentHash), isNull(refreshTokens.usedAt)))
            .returning({ tokenHash: refreshTokens.tokenHash });
          if (spent.length === 0) return 'spent' as const;
          await tx.update(apiKeys).set({ revokedAt: now, revokedReason: 'refreshed' })
            .where(and(eq(apiKeys.id, oldKeyId), isNull(apiKeys.revokedAt)));
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
