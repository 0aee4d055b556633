import { and, count, desc, eq, isNull, max, sql } from 'drizzle-orm';
import type { KeyringStore } from '../store/keyring.js';
import { insertAudit } from './audit.js';
import type { PgDb } from './db.js';
import { keyring } from './schema.js';

export function pgKeyringStore(db: PgDb): KeyringStore {
  return {
    async list() {
      return db.select().from(keyring).orderBy(desc(keyring.createdAt), desc(keyring.kid));
    },
    async version() {
      const [v] = await db.select({ count: count(), newest: max(keyring.createdAt) }).from(keyring);
      return { count: v?.count ?? 0, newest: v?.newest ?? null };
    },
    async add(entries, now, opts = {}) {
      return db.transaction(async (tx) => {
        // SHARE ROW EXCLUSIVE conflicts with itself (readers are not blocked): two instances
        // starting on one fresh database, or two rotations, run one after the other, so only
        // one of them sees an empty keyring and exactly one key per use stays unretired.
        await tx.execute(sql`LOCK TABLE ${keyring} IN SHARE ROW EXCLUSIVE MODE`);
        if (opts.onlyIfEmpty && (await tx.select({ kid: keyring.kid }).from(keyring).limit(1)).length > 0) return false;
        for (const e of entries) {
          await tx.update(keyring).set({ retiredAt: now })
            .where(and(eq(keyring.use, e.use), isNull(keyring.retiredAt)));
        }
        await tx.insert(keyring).values(entries.map((e) => ({ ...e, retiredAt: null })));
        if (opts.audit) await insertAudit(tx, opts.audit, now);
        return true;
      });
    },
  };
}
