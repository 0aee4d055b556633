import { sql } from 'drizzle-orm';
import t from 'tap';
import { isRetryableConflict, openPostgres, retryingTransactions, TRANSACTION_ATTEMPTS } from '../../src/db/postgres/db.js';
import { isOutage } from '../../src/errors.js';
import { createTestDatabase } from './pg.js';

/*
 * PostgreSQL aborts one side of a deadlock (40P01). Every store transaction goes through
 * db.transaction, which runs an aborted transaction again: both sides of a real deadlock end
 * committed. Needs AUTHNZD_TEST_PG_URL.
 */

const adminUrl = process.env.AUTHNZD_TEST_PG_URL;

t.test('which errors are retried', async (t) => {
  t.ok(isRetryableConflict({ code: '40P01' }), 'deadlock');
  t.ok(isRetryableConflict({ code: '40001' }), 'serialization failure');
  t.ok(isRetryableConflict(Object.assign(new Error('Failed query'), { cause: { code: '40P01' } })), 'wrapped by drizzle');
  t.notOk(isRetryableConflict({ code: '23505' }), 'a unique violation is an answer, not a conflict');
  t.notOk(isRetryableConflict(new Error('connection refused')));
});

t.test('a transaction aborted as a conflict runs again, up to the limit', async (t) => {
  let calls = 0;
  const fake = { transaction: async () => { calls++; throw Object.assign(new Error('deadlock detected'), { code: '40P01' }); } };
  const db = retryingTransactions(fake as never, async () => {});
  const last = await db.transaction(async () => 1).catch((err: unknown) => err);
  t.match(last, { code: '40P01' });
  t.equal(calls, TRANSACTION_ATTEMPTS, 'the last error goes to the caller');
  t.ok(isOutage(last), 'and is answered 503 unavailable, not 500');
  calls = 0;
  const other = { transaction: async () => { calls++; throw new Error('syntax error'); } };
  await t.rejects(retryingTransactions(other as never, async () => {}).transaction(async () => 1), /syntax/);
  t.equal(calls, 1, 'other errors are not retried');
});

t.test('both sides of a real deadlock commit', { skip: adminUrl ? false : 'AUTHNZD_TEST_PG_URL is not set: PostgreSQL deadlock test skipped' }, async (t) => {
  const tdb = await createTestDatabase(adminUrl!);
  const { db, pool } = await openPostgres(tdb.url, { migrate: false });
  t.teardown(async () => {
    await pool.end();
    await tdb.drop();
  });
  await db.execute(sql`CREATE TABLE dl (id int PRIMARY KEY, v int NOT NULL)`);
  await db.execute(sql`INSERT INTO dl VALUES (1, 0), (2, 0)`);
  let attempts = 0;
  // Each locks its first row, waits until the other has too, then wants the other's row.
  let ready = 0;
  const bothLocked = async () => {
    ready++;
    for (let i = 0; i < 200 && ready < 2; i++) await new Promise((r) => setTimeout(r, 5));
  };
  const side = (first: number, second: number) => db.transaction(async (tx) => {
    attempts++;
    await tx.execute(sql`UPDATE dl SET v = v + 1 WHERE id = ${first}`);
    await bothLocked();
    await tx.execute(sql`UPDATE dl SET v = v + 1 WHERE id = ${second}`);
  });
  const results = await Promise.allSettled([side(1, 2), side(2, 1)]);
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled'], 'no deadlock reaches the caller');
  t.ok(attempts >= 3, `one side ran again (${attempts} attempts)`);
  const { rows } = await pool.query('SELECT id, v FROM dl ORDER BY id');
  t.same(rows, [{ id: 1, v: 2 }, { id: 2, v: 2 }], 'each side\'s updates committed once');
});
