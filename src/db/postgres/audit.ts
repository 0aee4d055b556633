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
      if (f.since !== undefined) where.push(gte(auditLog.at, f.since));
      if (f.until !== undefined) where.push(lte(auditLog.at, f.until));
      if (f.beforeId !== undefined) where.push(lt(auditLog.id, f.beforeId));
      return db.select().from(auditLog).where(and(...where)).orderBy(desc(auditLog.id)).limit(f.limit);
    },
  };
}
