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
  const health = await h.app.inject({ method: 'GET', url: '/health' });
  t.equal(health.statusCode, 503, `nor does /health say OK over a broken database (SPEC §9): ${show(health)}`);
  t.match(json(health), { code: 'unavailable', status: 'unavailable', failing: ['database'] });
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

t.test('PostgreSQL errors that mean "the server cannot serve now" are outages (503), not bugs (500)', async (t) => {
  const err = (code: string) => Object.assign(new Error('driver text'), { code });
  for (const code of [
    '08000', '08003', '08006', '08P01', '53100', '53200', '53300', '57P01', '57P02', '57P03', '57P04', '57P05',
    '58030', 'XX000', 'XX001', 'XX002', '25006', '57014', '40P01', '40001',
  ]) {
    t.ok(isOutage(err(code)), code);
    t.ok(isOutage(new Error('Failed query', { cause: err(code) })), `${code} as a cause (drizzle wraps driver errors)`);
  }
  for (const code of ['23505', '23503', '22001', '22P02', '42P01', '42703', '0A000', 'P0001', '57P06x']) {
    t.notOk(isOutage(err(code)), `${code} is not an outage`);
  }
});

t.test('PostgreSQL: an action hitting a corrupted table or a full disk answers 503 without the driver text', { skip: pgUrl ? false : 'AUTHNZD_TEST_PG_URL is not set' }, async (t) => {
  const { url, drop } = await createTestDatabase(pgUrl!);
  t.teardown(drop);
  const store = await createPostgresStore(url);
  const h = await buildTestApp(t, { store });
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  t.teardown(() => c.end());
  // The server itself raises the SQLSTATEs a damaged table (XX001) and a full disk (53100) give.
  await c.query(`CREATE FUNCTION refuse_session() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'could not read block 7 in file "base/1/2"' USING ERRCODE = 'XX001'; END $$`);
  await c.query('CREATE TRIGGER refuse_session BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION refuse_session()');
  const res = await h.call('session_new', { ip_address: '192.0.2.1', user_agent: 'test' }, { headers: { 'x-request-id': 'pg-corrupt-1' } });
  t.equal(res.statusCode, 503, show(res));
  t.same(json(res), { code: 'unavailable', message: 'A dependency is unavailable. Try again later.', request_id: 'pg-corrupt-1' });
  t.notMatch(res.body, /block|base\//, 'no driver text in the answer');
  await c.query(`CREATE OR REPLACE FUNCTION refuse_session() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$`);
  const full = await h.call('session_new', { ip_address: '192.0.2.1', user_agent: 'test' });
  t.equal(full.statusCode, 503, show(full));
  await c.query('DROP TRIGGER refuse_session ON sessions');
  const ok = await h.call('session_new', { ip_address: '192.0.2.1', user_agent: 'test' });
  t.equal(ok.statusCode, 201, `the service answers again once the server does: ${show(ok)}`);
});

t.test('PostgreSQL: a database that refuses new connections, or a pool that cannot hand one out in time, answers 503 unavailable, not 500', { skip: pgUrl ? false : 'AUTHNZD_TEST_PG_URL is not set' }, async (t) => {
  const { url, drop } = await createTestDatabase(pgUrl!);
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  t.teardown(async () => {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    await admin.end();
    await drop();
  });
  // Two pooled connections (seeding needs two at once), so two requests waiting on a lock leave
  // none for the next one.
  const store = await createPostgresStore(url, { max: 2 });
  const h = await buildTestApp(t, { store });
  const session = await h.call('session_new', { ip_address: '192.0.2.1', user_agent: 'test' });
  t.equal(session.statusCode, 201, show(session));
  const token = json(session).session_token;

  // A transaction holding a lock (a long migration, an operator's session): two requests wait on
  // it holding the pool's connections; the next waits for a connection until the pool's 5 s
  // connectionTimeoutMillis ("timeout exceeded when trying to connect", no SQLSTATE).
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE');
  const waiting = [h.call('session_exists', { session_token: token }), h.call('session_exists', { session_token: token })];
  await new Promise((r) => setTimeout(r, 200));
  const starved = await h.call('session_exists', { session_token: token }, { headers: { 'x-request-id': 'pg-pool-timeout-1' } });
  t.equal(starved.statusCode, 503, show(starved));
  t.same(json(starved), { code: 'unavailable', message: 'A dependency is unavailable. Try again later.', request_id: 'pg-pool-timeout-1' });
  await locker.query('COMMIT');
  await locker.end();
  t.same((await Promise.all(waiting)).map((r) => r.statusCode), [200, 200], 'the requests that held the connections are answered once the lock is gone');

  // The database stops accepting connections (ALTER DATABASE … ALLOW_CONNECTIONS false, SQLSTATE
  // 55000 at connect) and the pool's connection is gone: the service cannot reach its database.
  await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
  await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
  await new Promise((r) => setTimeout(r, 300)); // the pool drops its dead connections
  const refused = await h.call('session_exists', { session_token: token }, { headers: { 'x-request-id': 'pg-refused-1' } });
  t.equal(refused.statusCode, 503, show(refused));
  t.same(json(refused), { code: 'unavailable', message: 'A dependency is unavailable. Try again later.', request_id: 'pg-refused-1' });
  t.notMatch(refused.body, /accepting connections/, 'no driver text in the answer');
  const ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 503, `/ready agrees: ${show(ready)}`);
  await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
  const back = await h.call('session_exists', { session_token: token });
  t.equal(back.statusCode, 200, `the service answers again once the database does: ${show(back)}`);
});
