import type { Store } from '../store.js';
import { PgListener, type ListenOptions } from './listen.js';
import { pgApiKeyStore } from './apikeys.js';
import { pgAuditStore } from './audit.js';
import { CLIENTS_CHANNEL, pgClientStore } from './clients.js';
import { openPostgres, withStartupLock } from './db.js';
import { pgKeyringStore } from './keyring.js';
import { pgSessionStore } from './sessions.js';
import { pgUserStore } from './users.js';

const PING_TIMEOUT_MS = 3000;

/**
 * PostgreSQL at `url`, migrated to the committed schema (drizzle/postgres). `listen`: timings of
 * the client watch's connection (tests).
 */
export async function createPostgresStore(url: string, opts: { max?: number; listen?: ListenOptions } = {}): Promise<Store> {
  const { db, pool } = await openPostgres(url, opts);
  let closed = false;
  const watches = new Set<PgListener>();
  return {
    dialect: 'postgres',
    clients: pgClientStore(db),
    users: pgUserStore(db),
    sessions: pgSessionStore(db),
    audit: pgAuditStore(db),
    apikeys: pgApiKeyStore(db),
    keyring: pgKeyringStore(db),
    withStartupLock: (fn) => withStartupLock(pool, fn),
    async watchClients(events) {
      if (closed) throw new Error('the store is closed');
      const watch = new PgListener(url, CLIENTS_CHANNEL, events, opts.listen);
      watches.add(watch);
      await watch.start();
      return {
        get live() {
          return watch.live;
        },
        async close() {
          watches.delete(watch);
          await watch.close();
        },
      };
    },
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
      await Promise.all([...watches].map((w) => w.close()));
      await pool.end();
    },
  };
}
