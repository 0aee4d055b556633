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

export function createSqliteStore(file: string): Store {
  const { db, raw } = openSqlite(file);
  // Memoised hot reads (verify, sessions, users by id) are valid while this stamp is unchanged.
  const stamp = new ChangeStamp(raw);
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
      raw.prepare('SELECT 1').get();
    },
    async close() {
      if (raw.open) raw.close();
    },
  };
}
