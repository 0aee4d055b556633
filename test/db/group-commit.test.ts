import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { groupCommit } from '../../src/db/sqlite/group-commit.js';

/*
 * The group commit on a real SQLite file (WAL). The store contract test (test/db/contract/
 * apikeys.ts) checks what callers see through the API-key store; this one counts how often each
 * unit ran and what reached the database.
 */

function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-group-'));
  const file = path.join(dir, 'group.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 0');
  db.exec('CREATE TABLE k (id TEXT PRIMARY KEY)');
  const insert = db.prepare('INSERT INTO k VALUES (?)');
  const runs = new Map<string, number>();
  /** A unit inserting `id`, counting its runs. */
  const unit = (id: string) => () => {
    runs.set(id, (runs.get(id) ?? 0) + 1);
    insert.run(id);
    return id;
  };
  const stored = () => (db.prepare('SELECT id FROM k ORDER BY id').pluck().all() as string[]);
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, file, grouped: groupCommit(db), unit, runs, stored };
}

t.test('units of one turn commit together, each run once', async (t) => {
  const { grouped, unit, runs, stored } = setup(t);
  const values = await Promise.all(['a', 'b', 'c'].map((id) => grouped(unit(id))));
  t.same(values, ['a', 'b', 'c'], 'each caller gets its own unit\'s value');
  t.same([...runs.values()], [1, 1, 1]);
  t.same(stored(), ['a', 'b', 'c']);
});

t.test('a unit that throws rejects alone; the others commit, the batch having run again unit by unit', async (t) => {
  const { grouped, unit, runs, stored } = setup(t);
  await grouped(unit('taken'));
  runs.clear();
  const results = await Promise.allSettled([grouped(unit('a')), grouped(unit('taken')), grouped(unit('b'))]);
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  t.match((results[1] as PromiseRejectedResult).reason, { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
  t.same(stored(), ['a', 'b', 'taken'], 'no partial write of the failing unit, no double write of the others');
  t.equal(runs.get('a'), 2, 'run in the batch (rolled back), then alone');
  t.equal(runs.get('b'), 1, 'the batch stopped at the failing unit; b ran alone only');
});

t.test('two units of one batch that conflict: the first commits, the second rejects', async (t) => {
  const { grouped, unit, stored } = setup(t);
  const results = await Promise.allSettled([grouped(unit('x')), grouped(unit('x'))]);
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected']);
  t.same(stored(), ['x']);
});

t.test('a lone unit that throws is not run again', async (t) => {
  const { grouped, unit, runs, stored } = setup(t);
  await grouped(unit('taken'));
  await t.rejects(grouped(unit('taken')), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
  t.equal(runs.get('taken'), 2, 'once when stored, once when refused');
  t.same(stored(), ['taken']);
});

t.test('BEGIN refused (another writer holds the lock): the whole batch rejects at once, no unit runs', async (t) => {
  const { file, grouped, unit, runs, stored } = setup(t);
  const other = new Database(file);
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const results = await Promise.allSettled([grouped(unit('a')), grouped(unit('b'))]);
  t.same(results.map((r) => r.status), ['rejected', 'rejected']);
  t.match((results[0] as PromiseRejectedResult).reason, { code: 'SQLITE_BUSY' });
  t.equal(runs.size, 0, 'no unit ran, and none was retried');
  other.exec('ROLLBACK');
  t.same(stored(), []);
  t.equal(await grouped(unit('a')), 'a', 'the next batch commits once the lock is free');
});

