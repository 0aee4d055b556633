import { chmodSync, closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { migrationsDir } from '../../paths.js';
import type { SqliteSynchronous } from '../../config.js';
import * as schema from './schema.js';

export type SqliteDb = BetterSQLite3Database<typeof schema>;

export interface SqliteHandle {
  db: SqliteDb;
  raw: Database.Database;
}

/**
 * Opens (creating if needed) the SQLite file and applies the committed migrations.
 * WAL lets readers run beside the writer. `synchronous` (AUTHNZD_SQLITE_SYNCHRONOUS):
 * - `normal` (default): the WAL is fsynced at each checkpoint. Nothing is lost when the process
 *   crashes; an OS crash or power loss can lose the transactions committed since the last
 *   checkpoint. A commit costs about 30 µs here.
 * - `full`: every commit is fsynced before it returns. Nothing committed is lost on power loss
 *   either; a commit costs an fsync (200–300 µs on the development machine), taken on the event
 *   loop (better-sqlite3 is synchronous).
 */
/**
 * How long a write waits for another connection's write lock (another process: the CLI, a
 * second instance on the same file) before SQLITE_BUSY (503). better-sqlite3 waits on the
 * calling thread: the event loop is held meanwhile. The API-key usage flush waits far less
 * (USAGE_FLUSH_LOCK_WAIT_MS): it can be retried, and a verify never waits on it.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

/** Page cache per connection, in KiB (SQLite's own default is 2,000). */
export const SQLITE_CACHE_KIB = 65_536;

export function openSqlite(file: string, opts: { migrate?: boolean; synchronous?: SqliteSynchronous } = {}): SqliteHandle {
  ownerOnly(file);
  const raw = new Database(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  raw.pragma('foreign_keys = ON');
  raw.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  // SQLite's default page cache is 2 MiB: with a large keys table, the verify path's one indexed
  // read would miss it for a working set of a few thousand keys and read its pages through
  // syscalls. Up to 64 MiB, filled only as pages are read (docs/operations.md).
  raw.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  const db = drizzle(raw, { schema });
  if (opts.migrate !== false) migrate(db, { migrationsFolder: migrationsDir('sqlite') });
  return { db, raw };
}

/**
 * The database holds password hashes, session and key digests, and (without
 * AUTHNZD_KEY_ENCRYPTION_KEY) the keyring's raw signing keys: owner-only, like the data dir.
 * The file is created 0600 before SQLite opens it (SQLite gives -wal and -shm the main file's
 * mode), and an existing file and its -wal/-shm are tightened to 0600 at every start.
 */
function ownerOnly(file: string): void {
  if (file === ':memory:' || file === '') return;
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** True when better-sqlite3 reports a unique-constraint violation. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}
