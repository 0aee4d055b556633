import { count, eq } from 'drizzle-orm';
import { ConflictError } from '../errors.js';
import type { UserStore } from '../store/users.js';
import { insertAudit } from './audit.js';
import { isUniqueViolation, type SqliteDb } from './db.js';
import { users } from './schema.js';

export function sqliteUserStore(db: SqliteDb): UserStore {
  return {
    async create(user, audit) {
      try {
        return db.transaction((tx) => {
          const row = tx.insert(users).values({ ...user, updatedAt: user.createdAt }).returning().get();
          if (audit) insertAudit(tx, { ...audit, targetUserId: row.id }, user.createdAt);
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(String((err as Error).message).includes('system_id') ? 'users_system_id_uq' : 'users_email_uq');
        throw err;
      }
    },
    async getById(id) {
      return db.select().from(users).where(eq(users.id, id)).get();
    },
    async getByEmail(email) {
      return db.select().from(users).where(eq(users.email, email)).get();
    },
    async getBySystemId(systemId) {
      return db.select().from(users).where(eq(users.systemId, systemId)).get();
    },
    async count() {
      return db.select({ n: count() }).from(users).get()?.n ?? 0;
    },
  };
}
