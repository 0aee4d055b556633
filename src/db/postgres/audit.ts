import { and, desc, eq, gte, lt, lte, type SQL } from 'drizzle-orm';
import type { AuditFilter, AuditStore } from '../store/audit.js';
import { auditRow } from '../audit-row.js';
import type { AuditEvent } from '../types.js';
import type { PgExec } from './db.js';
import { auditLog } from './schema.js';

/** Writes one audit row with `db` (pass the transaction to keep it atomic with the change). */
export async function insertAudit(db: PgExec, event: AuditEvent, now: number): Promise<void> {
  await db.insert(auditLog).values(auditRow(event, now));
}

/**
 * The times `ms` columns can be sent as: toISOString() spells years before 1 and after 9999 in
 * forms PostgreSQL refuses (year 0, '-271821-…', '+275760-…'), while SQLite compares any
 * number. Every row lies between them, so a bound beyond them is clamped without changing the
 * answer.
 */
const MIN_AT = Date.UTC(1, 0, 1);
const MAX_AT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const clampAt = (t: number): number => Math.min(Math.max(t, MIN_AT), MAX_AT);

export function pgAuditStore(db: PgExec): AuditStore {
  return {
    async append(event, now) {
      await insertAudit(db, event, now);
    },
    async query(f: AuditFilter) {
      const where: SQL[] = [];
      if (f.event !== undefined) where.push(eq(auditLog.event, f.event));
      if (f.actorUserId !== undefined) where.push(eq(auditLog.actorUserId, f.actorUserId));
      if (f.targetUserId !== undefined) where.push(eq(auditLog.targetUserId, f.targetUserId));
      if (f.subject !== undefined) where.push(eq(auditLog.subject, f.subject));
      if (f.since !== undefined) where.push(gte(auditLog.at, clampAt(f.since)));
      if (f.until !== undefined) where.push(lte(auditLog.at, clampAt(f.until)));
      if (f.beforeId !== undefined) where.push(lt(auditLog.id, f.beforeId));
      return db.select().from(auditLog).where(and(...where)).orderBy(desc(auditLog.id)).limit(f.limit);
    },
  };
}
