import { and, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { AuditFilter, AuditStore } from '../store/audit.js';
import { auditRow } from '../audit-row.js';
import type { AuditEvent } from '../types.js';
import type { SqliteDb } from './db.js';
import { auditLog } from './schema.js';

/** Writes one audit row with `db` (pass the transaction to keep it atomic with the change). */
export function insertAudit(db: SqliteDb, event: AuditEvent, now: number): void {
  db.insert(auditLog).values(auditRow(event, now)).run();
}

export type AuditWriter = (event: AuditEvent, now: number) => void;
const writers = new WeakMap<SqliteDb, AuditWriter>();

/**
 * `insertAudit` as one statement prepared once per database (about half its cost on hot paths).
 * Call it inside `db.transaction(...)`: better-sqlite3 has one connection, so a statement
 * prepared on `db` runs in the open transaction and rolls back with it
 * (test/db/store-contract proves it with an audit row the database refuses).
 */
export function auditWriter(db: SqliteDb): AuditWriter {
  let write = writers.get(db);
  if (!write) {
    const p = (k: keyof ReturnType<typeof auditRow>) => sql.placeholder(k);
    const insert = db.insert(auditLog).values({
      at: p('at'), event: p('event'), outcome: p('outcome'), requestId: p('requestId'), client: p('client'),
      actorUserId: p('actorUserId'), targetUserId: p('targetUserId'), subject: p('subject'), details: p('details'),
    }).prepare();
    write = (event, now) => void insert.run(auditRow(event, now));
    writers.set(db, write);
  }
  return write;
}

export function sqliteAuditStore(db: SqliteDb): AuditStore {
  const writeAudit = auditWriter(db);
  return {
    async append(event, now) {
      writeAudit(event, now);
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
      return db.select().from(auditLog).where(and(...where)).orderBy(desc(auditLog.id)).limit(f.limit).all();
    },
  };
}
