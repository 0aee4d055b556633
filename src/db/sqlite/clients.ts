import { and, count, eq, isNull, sql } from 'drizzle-orm';
import { ConflictError } from '../errors.js';
import type { ClientStore } from '../store/clients.js';
import { insertAudit } from './audit.js';
import { isUniqueViolation, type SqliteDb } from './db.js';
import { clients } from './schema.js';

export function sqliteClientStore(db: SqliteDb): ClientStore {
  const bySecret = db.select().from(clients)
    .where(and(eq(clients.secretHash, sql.placeholder('h')), isNull(clients.revokedAt))).prepare();
  return {
    async create(client, audit) {
      try {
        return db.transaction((tx) => {
          const row = tx.insert(clients).values({ ...client, revokedAt: null }).returning().get();
          if (audit) insertAudit(tx, audit, client.createdAt);
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(String((err as Error).message).includes('secret_hash') ? 'clients_secret_hash_uq' : 'clients_name_live_uq');
        throw err;
      }
    },
    async findLiveBySecretHash(secretHash) {
      return bySecret.get({ h: secretHash });
    },
    async list() {
      return db.select().from(clients).orderBy(clients.createdAt).all();
    },
    async countLive() {
      return db.select({ n: count() }).from(clients).where(isNull(clients.revokedAt)).get()?.n ?? 0;
    },
    async revokeByName(name, now, audit) {
      return db.transaction((tx) => {
        const res = tx.update(clients).set({ revokedAt: now })
          .where(and(eq(clients.name, name), isNull(clients.revokedAt))).run();
        if (res.changes > 0 && audit) insertAudit(tx, audit, now);
        return res.changes > 0;
      });
    },
  };
}
