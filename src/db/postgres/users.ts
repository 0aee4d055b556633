import { count, eq } from 'drizzle-orm';
import { ConflictError } from '../errors.js';
import type { UserStore } from '../store/users.js';
import { insertAudit } from './audit.js';
import { uniqueViolation, type PgDb } from './db.js';
import { users } from './schema.js';

export function pgUserStore(db: PgDb): UserStore {
  return {
    async create(user, audit) {
      try {
        return await db.transaction(async (tx) => {
          const [row] = await tx.insert(users).values({ ...user, updatedAt: user.createdAt }).returning();
          if (audit) await insertAudit(tx, { ...audit, targetUserId: row!.id }, user.createdAt);
          return row!;
        });
      } catch (err) {
        const constraint = uniqueViolation(err);
        if (constraint) throw new ConflictError(constraint);
        throw err;
      }
    },
    async getById(id) {
      const [row] = await db.select().from(users).where(eq(users.id, id));
      return row;
    },
    async getByEmail(email) {
      const [row] = await db.select().from(users).where(eq(users.email, email));
      return row;
    },
    async getBySystemId(systemId) {
      const [row] = await db.select().from(users).where(eq(users.systemId, systemId));
      return row;
    },
    async count() {
      const [row] = await db.select({ n: count() }).from(users);
      return row?.n ?? 0;
    },
  };
}
