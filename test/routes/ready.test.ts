import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { createSqliteStore } from '../../src/db/sqlite/index.js';
import { isOutage } from '../../src/errors.js';
import { buildTestApp, json, show } from '../helper.js';

/*
 * /ready reports the parts an orchestrator routes on (SPEC §2); a broken database must show
 * there and on every action as 503 unavailable, never as 200 (authnzerver's "/health OK with a
 * broken database", SPEC §9) or as 500 internal_error.
 */

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
