import Database from 'better-sqlite3';
import type { Store } from '../store.js';
import { sqliteApiKeyStore } from './apikeys.js';
import { sqliteAuditStore } from './audit.js';
import { sqliteClientStore } from './clients.js';
import { openSqlite } from './db.js';
import { ChangeStamp } from './read-memo.js';
import { sqliteKeyringStore } from './keyring.js';
import { sqliteSessionStore } from './sessions.js';
import { sqliteUserStore } from './users.js';

/** A SQLite file belongs to one process; callers in it that share the file run one at a time. */
const startupQueues = new Map<string, Promise<unknown>>();
function serialised<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const run = (startupQueues.get(file) ?? Promise.resolve()).then(fn);
  startupQueues.set(file, run.catch(() => undefined));
  return run;
}

/** What /ready reads: one row of a table every database has (the seeded users). */
const PING_SQL = 'SELECT id FROM users LIMIT 1';

export function createSqliteStore(file: string): Store {
  const { db, raw } = openSqlite(file);
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
    withStartupLock: (fn) => serialised(file, fn),
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
