import type Database from 'better-sqlite3';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { ApiKeyStore, NewApiKey, UsageUpdate } from '../store/apikeys.js';
import { auditWriter } from './audit.js';
import { groupCommit } from './group-commit.js';
import { ReadMemo, type ChangeStamp } from './read-memo.js';
import { SQLITE_BUSY_TIMEOUT_MS, type SqliteDb } from './db.js';
import { apiKeys, refreshTokens } from './schema.js';

/**
 * Revokes every live key of a user inside the caller's transaction. Exported for the user
 * store, whose lock / delete / password changes revoke keys atomically with the change.
 */
export function revokeUserApiKeys(tx: SqliteDb, userId: number, now: number, reason: string): number {
  return tx.update(apiKeys).set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt))).run().changes;
}

/**
 * issue_apikey's insert, prepared once. Every column is a placeholder; nullable JSON columns are
 * encoded here, because drizzle would encode a null placeholder as the text 'null'.
 */
function preparedKeyInsert(db: SqliteDb): (key: NewApiKey) => void {
  const columns: Record<keyof NewApiKey, true> = {
    id: true, tokenHash: true, kind: true, userId: true, role: true, sessionId: true, familyId: true, audience: true, subject: true,
    apiVersion: true, scopes: true, bindIp: true, bindUserAgent: true, issuedAt: true, notBefore: true, expiresAt: true,
  };
  const rawJson = new Set<string>(['scopes', 'bindIp']);
  const values = Object.fromEntries(Object.keys(columns).map((c) => [c, rawJson.has(c) ? sql`${sql.placeholder(c)}` : sql.placeholder(c)]));
  const insert = db.insert(apiKeys).values(values as unknown as NewApiKey).prepare();
  const json = (v: unknown) => (v === null ? null : JSON.stringify(v));
  return (key) => void insert.run({ ...key, scopes: json(key.scopes), bindIp: json(key.bindIp) });
}

export function sqliteApiKeyStore(db: SqliteDb, raw: Database.Database, stamp: ChangeStamp): ApiKeyStore {
  // The verify path's only read: the key by primary key with its owner's state. A raw
  // better-sqlite3 statement: drizzle's row mapping cost about as much as the read itself (issue 7).
  const forVerify = raw.prepare<[string], {
    tokenHash: string; revokedAt: number | null; revokedReason: string | null; role: string;
    userRole: string | null; userActive: 0 | 1 | null; userLocked: 0 | 1 | null;
  }>(`SELECT k.token_hash AS tokenHash, k.revoked_at AS revokedAt, k.revoked_reason AS revokedReason, k.role AS role,
      u.role AS userRole, u.is_active AS userActive, u.admin_locked AS userLocked
    FROM api_keys k LEFT JOIN users u ON u.id = k.user_id WHERE k.id = ?`);
  // Revocation and owner state, kept while the database is unchanged (read-memo.ts: any commit
  // by any connection, this one included, makes the next verify read again).
  const flag = (v: 0 | 1 | null) => (v === null ? null : v === 1);
  const forVerifyMemo = new ReadMemo(stamp, (id: string) => {
    const r = forVerify.get(id);
    return r && { ...r, userActive: flag(r.userActive), userLocked: flag(r.userLocked) };
  });
  const writeAudit = auditWriter(db);
  const grouped = groupCommit(raw);
  const insertKey = preparedKeyInsert(db);
  const sessionExists = raw.prepare<[string], { one: number }>('SELECT 1 AS one FROM sessions WHERE id = ?');
  const ownerRefused = raw.prepare<[number], { one: number }>('SELECT 1 AS one FROM users WHERE id = ? AND (is_active = 0 OR admin_locked = 1)');
  // The usage flush: one prepared UPDATE, run per key (the caller sends a few hundred keys per
  // call), raw: drizzle's placeholder mapping per run was a third of the flush (issue 7).
  const addUsage = raw.prepare<[number, number, string]>(
    'UPDATE api_keys SET use_count = use_count + ?, last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?');
  const addUsages = raw.transaction((updates: readonly UsageUpdate[]) => {
    for (const u of updates) addUsage.run(u.count, u.lastUsedAt, u.id);
  });
  return {
    async create(key, refresh, audit) {
      // Keys issued in the same event-loop turn share one commit. The session (or the owner) is
      // looked at in the unit itself: a logout or lock queued or committed before it has revoked
      // nothing of this key.
      return grouped(() => {
        if (key.sessionId !== null ? sessionExists.get(key.sessionId) === undefined : ownerRefused.get(key.userId) !== undefined) return false;
        insertKey(key);
        if (refresh) db.insert(refreshTokens).values(refresh).run();
        writeAudit(audit, key.issuedAt);
        return true;
      });
    },
    async getForVerify(id, at) {
      return forVerifyMemo.get(id, at);
    },
    getForVerifyNow(id, at) {
      return forVerifyMemo.get(id, at);
    },
    async getById(id) {
      return db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
    },
    async listByUser(userId) {
      return db.select().from(apiKeys).where(eq(apiKeys.userId, userId)).orderBy(apiKeys.issuedAt).all();
    },
    async revoke(id, now, reason, audit) {
      return db.transaction((tx) => {
        const { changes } = tx.update(apiKeys).set({ revokedAt: now, revokedReason: reason })
          .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))).run();
        if (changes > 0) writeAudit(audit, now);
        return changes > 0;
      });
    },
    async revokeAllOfUser(userId, now, reason, audit) {
      return db.transaction((tx) => {
        const n = revokeUserApiKeys(tx, userId, now, reason);
        writeAudit({ ...audit, details: { ...audit.details, revoked: n } }, now);
        return n;
      });
    },
    async recordUsage(updates, opts) {
      if (updates.length === 0) return;
      // No memo reads use_count or last_used_at: the memoised rows stay valid (read-memo.ts).
      if (opts?.lockWaitMs === undefined) {
        stamp.unseen(() => addUsages(updates));
        return;
      }
      // The busy timeout is per connection; the write is synchronous, so no other statement of
      // this process runs between setting it and putting it back.
      raw.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.lockWaitMs))}`);
      try {
        stamp.unseen(() => addUsages(updates));
      } finally {
        raw.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      }
    },
    async getRefreshToken(tokenHash) {
      return db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).get();
    },
    async rotateRefresh(spentHash, oldKeyId, key, refresh, audit) {
      const now = key.issuedAt;
      return db.transaction((tx) => {
        const token = tx.select({ usedAt: refreshTokens.usedAt }).from(refreshTokens).where(eq(refreshTokens.tokenHash, spentHash)).get();
        if (!token || token.usedAt !== null) return 'spent' as const;
        const old = tx.select({ revokedAt: apiKeys.revokedAt }).from(apiKeys).where(eq(apiKeys.id, oldKeyId)).get();
        if (!old || old.revokedAt !== null || ownerRefused.get(key.userId) !== undefined) return 'refused' as const;
        tx.update(refreshTokens).set({ usedAt: now }).where(eq(refreshTokens.tokenHash, spentHash)).run();
        tx.update(apiKeys).set({ revokedAt: now, revokedReason: 'refreshed' }).where(eq(apiKeys.id, oldKeyId)).run();
        insertKey(key);
        tx.insert(refreshTokens).values(refresh).run();
        writeAudit(audit, now);
        return 'ok' as const;
      });
    },
    async revokeFamily(familyId, now, audit) {
      return db.transaction((tx) => {
        const { changes } = tx.update(apiKeys).set({ revokedAt: now, revokedReason: 'refresh_token_reuse' })
          .where(and(eq(apiKeys.familyId, familyId), isNull(apiKeys.revokedAt))).run();
        tx.update(refreshTokens).set({ usedAt: now })
          .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.usedAt))).run();
        writeAudit({ ...audit, details: { ...audit.details, revoked: changes } }, now);
        return changes;
      });
    },
  };
}
