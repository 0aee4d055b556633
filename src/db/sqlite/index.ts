import Database from 'better-sqlite3';
import type { SqliteSynchronous } from '../../config.js';
import type { Store } from '../store.js';
import { sqliteApiKeyStore } from './apikeys.js';
import { sqliteAuditStore } from './audit.js';
import { sqliteClientStore } from './clients.js';
import { openSqlite } from './db.js';
import { ChangeStamp } from './read-memo.js';
import { sqliteKeyringStore } from './keyring.js';
import { sqliteSessionStore } from './sessions.js';
import { sqliteUserStore } from './users.js';

/** Callers in one process that share the file run one at a time (then each takes the file's lock). */
const startupQueues = new Map<string, Promise<unknown>>();
function serialised<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const run = (startupQueues.get(file) ?? Promise.resolve()).then(fn);
  startupQueues.set(file, run.catch(() => undefined));
  return run;
}

/** How long start-up work waits for another process's hold of the write lock. */
const STARTUP_LOCK_WAIT_MS = 60_000;

/**
 * Runs `fn` holding the file's write lock (BEGIN IMMEDIATE on this connection; its own writes
 * nest as savepoints), so that processes starting together on one empty file seed it once: the
 * others wait, then find the work done, as PostgreSQL's advisory lock has it. Without it every
 * process saw an empty database and all but one died on `unique constraint users_email_uq`.
 */
async function holdingWriteLock<T>(raw: Database.Database, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + STARTUP_LOCK_WAIT_MS;
  for (;;) {
    try {
      raw.exec('BEGIN IMMEDIATE'); // waits up to the busy timeout each time
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
    }
  }
  try {
    const result = await fn();
    raw.exec('COMMIT');
    return result;
  } catch (err) {
    if (raw.inTransaction) raw.exec('ROLLBACK');
    throw err;
  }
}

/** What /ready reads: one row of a table every database has (the seeded users). */
const PING_SQL = 'SELECT id FROM users LIMIT 1';

export function createSqliteStore(file: string, opts: { synchronous?: SqliteSynchronous } = {}): Store {
  const { db, raw } = openSqlite(file, opts);
  // Memoised hot reads (verify, sessions, users by id) are valid while this stamp is unchanged.
  const stamp = new ChangeStamp(raw);
  const pingRow = raw.prepare(PING_SQL);
  return {
    dialect: 'sqlite',
    clients: sqliteClientStore(db),
    users: sqliteUserStore(db, stamp),
    sessions: sqliteSessionStore(db, raw, stamp),
    audit: sqliteAuditStore(db),
    apikeys: sqliteApiKeyStore(db, raw, stamp),
    keyring: sqliteKeyringStore(db, raw),
    readStamp: () => stamp.read(),
    withStartupLock: (fn) => serialised(file, () => holdingWriteLock(raw, fn)),
    async ping() {
      // `SELECT 1` never reads the file. One row of a real table does, on this connection (it
      // is open, the schema is there) and on a fresh read-only one: this connection's page
      // cache can keep serving rows long after the file was truncated or overwritten.
      // Well under a millisecond (open, read the schema, one page); only /ready calls it.
      pingRow.get();
      const fresh = new Database(file, { readonly: true, fileMustExist: true });
      try {
        fresh.prepare(PING_SQL).get();
      } finally {
        fresh.close();
      }
    },
    async close() {
      if (raw.open) raw.close();
    },
  };
}
