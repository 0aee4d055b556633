import type Database from 'better-sqlite3';
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { KeyringStore, KeyringVersion } from '../store/keyring.js';
import { insertAudit } from './audit.js';
import type { SqliteDb } from './db.js';
import { keyring } from './schema.js';

export function sqliteKeyringStore(db: SqliteDb, raw: Database.Database): KeyringStore {
  // On every issue (core/apikeys.ts mintApiKey): a raw statement prepared once (drizzle's row
  // mapping would cost more than the read of a few-row table).
  const versionRead = raw.prepare<[], KeyringVersion>('SELECT count(*) AS count, max(created_at) AS newest FROM keyring');
  return {
    async list() {
      return db.select().from(keyring).orderBy(desc(keyring.createdAt), desc(keyring.kid)).all();
    },
    async version() {
      const v = versionRead.get();
      return { count: v?.count ?? 0, newest: v?.newest ?? null };
    },
    async add(entries, now, opts = {}) {
      // IMMEDIATE takes the write lock first, so two instances starting on one fresh database
      // cannot both see an empty keyring and both generate keys.
      return db.transaction((tx) => {
        if (opts.onlyIfEmpty && tx.select({ kid: keyring.kid }).from(keyring).limit(1).get()) return false;
        for (const e of entries) {
          tx.update(keyring).set({ retiredAt: now })
            .where(and(eq(keyring.use, e.use), isNull(keyring.retiredAt))).run();
        }
        tx.insert(keyring).values(entries.map((e) => ({ ...e, retiredAt: null }))).run();
        if (opts.audit) insertAudit(tx, opts.audit, now);
        return true;
      }, { behavior: 'immediate' });
    },
  };
}
