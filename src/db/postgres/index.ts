import type { Store } from '../store.js';
import { pgApiKeyStore } from './apikeys.js';
import { pgAuditStore } from './audit.js';
import { pgClientStore } from './clients.js';
import { openPostgres, withStartupLock } from './db.js';
import { pgKeyringStore } from './keyring.js';
import { pgSessionStore } from './sessions.js';
import { pgUserStore } from './users.js';

const PING_TIMEOUT_MS = 3000;

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
      // A server that stopped answering (not refusing) must not hang /ready.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('database ping timed out')), PING_TIMEOUT_MS);
      });
      try {
        // One row of a real table, not `SELECT 1`: the server answering is not enough, the
        // schema the actions use must be readable too (one index page, well under a millisecond).
        await Promise.race([pool.query('SELECT id FROM users LIMIT 1'), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
