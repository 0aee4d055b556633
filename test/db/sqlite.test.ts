import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { openSqlite, SQLITE_CACHE_KIB } from '../../src/db/sqlite/db.js';
import { openStore } from '../../src/db/open.js';
import { createSqliteStore } from '../../src/db/sqlite/index.js';
import type { Store } from '../../src/db/store.js';
import { storeContract } from './contract.js';

storeContract(t, {
  dialect: 'sqlite',
  async fresh(t) {
    const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-contract-'));
    const file = path.join(dir, 'authnzd.sqlite');
    const opened: Store[] = [];
    const open = async () => {
      const s = createSqliteStore(file);
      opened.push(s);
      return s;
    };
    t.teardown(async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const refuseAudit = async () => {
      const raw = new Database(file);
      raw.exec(`CREATE TRIGGER IF NOT EXISTS audit_refuse BEFORE INSERT ON audit_log WHEN NEW.event = 'boom'
        BEGIN SELECT RAISE(ABORT, 'audit row refused by the test'); END`);
      raw.close();
    };
    return { store: await open(), another: open, refuseAudit };
  },
});

t.test('the connection has a page cache the size the docs give (SQLite default: 2 MiB)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-cache-'));
  const { raw } = openSqlite(path.join(dir, 'authnzd.sqlite'));
  t.teardown(() => {
    raw.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.equal(raw.pragma('cache_size', { simple: true }), -SQLITE_CACHE_KIB);
  t.equal(SQLITE_CACHE_KIB, 64 * 1024, 'docs/operations.md says 64 MiB');
});

t.test('the database file and its -wal and -shm are owner-only (0600), also when the file was 0644', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-mode-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'authnzd.sqlite');
  const modes = () => Object.fromEntries(['', '-wal', '-shm'].map((s) => [`authnzd.sqlite${s}`, statSync(file + s).mode & 0o777]));
  const ownerOnly = { 'authnzd.sqlite': 0o600, 'authnzd.sqlite-wal': 0o600, 'authnzd.sqlite-shm': 0o600 };

  const first = openSqlite(file); // migrations write: the WAL and its index exist while open
  t.same(modes(), ownerOnly, 'created 0600, -wal and -shm follow');
  first.raw.close();

  chmodSync(file, 0o644);
  const again = openSqlite(file);
  t.teardown(() => again.raw.close());
  t.same(modes(), ownerOnly, 'an existing 0644 file is tightened at open');
});

t.test('synchronous is NORMAL by default and FULL when AUTHNZD_SQLITE_SYNCHRONOUS=full', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'authnzd.sqlite');
  const normal = openSqlite(file);
  t.equal(normal.raw.pragma('synchronous', { simple: true }), 1, 'NORMAL');
  normal.raw.close();
  const full = openSqlite(file, { synchronous: 'full' });
  t.equal(full.raw.pragma('synchronous', { simple: true }), 2, 'FULL');
  full.raw.close();

  // The setting reaches the store's connection: the pragma is per connection, so watch it being set.
  const set: string[] = [];
  const pragma = Database.prototype.pragma;
  Database.prototype.pragma = function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
    if (source.startsWith('synchronous')) set.push(source);
    return pragma.call(this, source, options);
  };
  t.teardown(() => {
    Database.prototype.pragma = pragma;
  });
  const store = await openStore({ dataDir: dir, databaseUrl: undefined, sqliteSynchronous: 'full' });
  await store.close();
  t.same(set, ['synchronous = FULL']);
});
