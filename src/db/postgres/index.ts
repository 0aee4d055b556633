import type { Store } from '../store.js';
import { pgApiKeyStore } from './apikeys.js';
import { pgAuditStore } from './audit.js';
import { pgClientStore } from './clients.js';
import { openPostgres, withStartupLock } from './db.js';
import { pgKeyringStore } from './keyring.js';
import { pgSessionStore } from './sessions.js';
import { pgUserStore } from './users.js';

/** PostgreSQL at `url`, migrated to the committed schema (drizzle/postgres). */
export async function createPostgresStore(url: string, opts: { max?: number } = {}): Promise<Store> {
  const { db, pool } = await openPostgres(url, opts);
  let closed = false;
  return {
    dialect: 'postgres',
    clients: pgClientStore(db),
    users: pgUserStore(db),
    sessions: pgSessionStore(db),
    audit: pgAuditStore(db),
    apikeys: pgApiKeyStore(db),
    keyring: pgKeyringStore(db),
    withStartupLock: (fn) => withStartupLock(pool, fn),
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
