import { mkdtempSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import t from 'tap';
import { createPostgresStore } from '../../src/db/postgres/index.js';
import { createSqliteStore } from '../../src/db/sqlite/index.js';
import { isOutage } from '../../src/errors.js';
import { createTestDatabase } from '../db/pg.js';
import { buildTestApp, json, show } from '../helper.js';

/*
 * /ready reports the parts an orchestrator routes on (SPEC §2); a broken database must show
 * there and on every action as 503 unavailable, never as 200 (authnzerver's "/health OK with a
 * broken database", SPEC §9) or as 500 internal_error.
 */

t.test('a 503 from /ready has the error body of every other non-2xx answer, plus its parts', async (t) => {
  const h = await buildTestApp(t);
  await h.app.store.close();
  const ready = await h.app.inject({ method: 'GET', url: '/ready', headers: { 'x-request-id': 'ready-1' } });
  t.equal(ready.statusCode, 503, show(ready));
  t.equal(ready.headers['x-request-id'], 'ready-1');
  t.match(ready.json(), {
    code: 'unavailable',
    message: /database/,
    request_id: 'ready-1',
    status: 'unavailable',
    failing: ['database'],
    parts: { database: { ok: false }, keyring: { ok: true }, policy: { ok: true } },
  }, show(ready));
});

t.test('a database file truncated under the running service: /ready 503, not 200', async (t) => {
  const h = await buildTestApp(t);
  const before = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(before.statusCode, 200, show(before));
  const file = path.join(h.dataDir, 'authnzd.sqlite');
  truncateSync(file, 0);
  truncateSync(`${file}-wal`, 0);
  const after = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(after.statusCode, 503, `the page cache must not hide the damage: ${show(after)}`);
  t.same(json(after).failing, ['database'], show(after));
  t.notMatch(after.body, /no such table|SQLITE/, 'no driver text in the answer');
});

t.test('SQLite errors that mean "the database is unusable" are outages (503), not bugs (500)', async (t) => {
  const err = (code: string) => new Database.SqliteError('driver text', code);
  for (const code of [
    'SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_INDEX', 'SQLITE_NOTADB',
    'SQLITE_IOERR', 'SQLITE_IOERR_SHORT_READ', 'SQLITE_IOERR_FSYNC', 'SQLITE_CANTOPEN', 'SQLITE_FULL',
    'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED',
  ]) {
    t.ok(isOutage(err(code)), code);
    t.ok(isOutage(new Error('wrapped', { cause: err(code) })), `${code} as a cause`);
  }
  for (const code of ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR', 'SQLITE_MISMATCH', 'SQLITE_TOOBIG', 'SQLITE_RANGE']) {
    t.notOk(isOutage(err(code)), `${code} is not an outage`);
  }
});

t.test('an action hitting a corrupt database answers 503 unavailable without the driver text', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-test-'));
  const store = createSqliteStore(path.join(dir, 'authnzd.sqlite'));
  const corrupt = {
    ...store,
    audit: {
      ...store.audit,
      query: async () => {
        throw new Database.SqliteError('database disk image is malformed', 'SQLITE_CORRUPT');
      },
    },
  };
  const h = await buildTestApp(t, { store: corrupt, dataDir: dir });
  const res = await h.call('audit_query', {}, { headers: { 'x-request-id': 'corrupt-1' } });
  t.equal(res.statusCode, 503, show(res));
  t.same(json(res), { code: 'unavailable', message: 'A dependency is unavailable. Try again later.', request_id: 'corrupt-1' });
  t.match(h.rawLogs(), /SQLITE_CORRUPT/, 'the operator sees the cause in the log');
});

const pgUrl = process.env.AUTHNZD_TEST_PG_URL;
t.test('PostgreSQL: the readiness ping reads a real table, not just `SELECT 1`', { skip: pgUrl ? false : 'AUTHNZD_TEST_PG_URL is not set' }, async (t) => {
  const { url, drop } = await createTestDatabase(pgUrl!);
  t.teardown(drop);
  const store = await createPostgresStore(url);
  t.teardown(() => store.close());
  await t.resolves(store.ping());
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('ALTER TABLE users RENAME TO users_gone');
  await c.end();
  await t.rejects(store.ping(), 'a server that answers but whose tables are gone is not ready');
});
