import { and, count, eq, isNull } from 'drizzle-orm';
import type { ClientStore } from '../store/clients.js';
import { insertAudit } from './audit.js';
import { conflictFrom, type PgDb } from './db.js';
import { clients } from './schema.js';

/**
 * The channel every committed change to the clients table notifies (empty payload), so the
 * running instances drop their cached client answers (Store.watchClients,
 * db/postgres/listen.ts). The notification comes from triggers on the table
 * (drizzle/postgres/0002_clients_notify.sql), not from this store: a change made by any
 * connection, SQL typed by hand included, is announced, at commit and only if it commits.
 */
export const CLIENTS_CHANNEL = 'authnzd_clients';

export function pgClientStore(db: PgDb): ClientStore {
  return {
    async create(client, audit) {
      try {
        return await db.transaction(async (tx) => {
          const [row] = await tx.insert(clients).values({ ...client, revokedAt: null }).returning();
          if (audit) await insertAudit(tx, audit, client.createdAt);
          return row!;
        });
      } catch (err) {
        throw conflictFrom(err);
      }
    },
    async findLiveBySecretHash(secretHash) {
      const [row] = await db.select().from(clients)
        .where(and(eq(clients.secretHash, secretHash), isNull(clients.revokedAt))).limit(1);
      return row;
    },
    async list() {
      return db.select().from(clients).orderBy(clients.createdAt);
    },
    async countLive() {
      const [row] = await db.select({ n: count() }).from(clients).where(isNull(clients.revokedAt));
      return row?.n ?? 0;
    },
    async revokeByName(name, now, audit) {
      return db.transaction(async (tx) => {
        const rows = await tx.update(clients).set({ revokedAt: now })
          .where(and(eq(clients.name, name), isNull(clients.revokedAt))).returning({ id: clients.id });
        if (rows.length > 0 && audit) await insertAudit(tx, audit, now);
        return rows.length > 0;
      });
    },
  };
}
