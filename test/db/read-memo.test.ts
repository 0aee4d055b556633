import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ChangeStamp, ReadMemo } from '../../src/db/sqlite/read-memo.js';

/** A real SQLite file in WAL mode with one table, and a memo over `SELECT … WHERE id = ?`. */
function setup(t: { teardown(fn: () => unknown): void }, max?: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-memo-'));
  const file = path.join(dir, 'memo.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE k (id TEXT PRIMARY KEY, revoked INTEGER NOT NULL, extra TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO k VALUES (?, 0, ?)');
  for (const id of ['a', 'b', 'c']) insert.run(id, '{"tags":["x"]}');
  const select = db.prepare<[string], { id: string; revoked: number; extra: string }>('SELECT * FROM k WHERE id = ?');
  let reads = 0;
  const memo = new ReadMemo(new ChangeStamp(db), (id: string) => {
    reads++;
    const r = select.get(id);
    return r && { ...r, extra: JSON.parse(r.extra) as { tags: string[] } };
  }, max);
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, file, memo, reads: () => reads };
}

t.test('a repeated read is served from memory while nothing changed', async (t) => {
  const { memo, reads } = setup(t);
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(reads(), 1);
});

t.test("a change by this connection is seen by the next read (total_changes)", async (t) => {
  const { db, memo, reads } = setup(t);
  memo.get('a');
  db.prepare("UPDATE k SET revoked = 1 WHERE id = 'a'").run();
  t.equal(memo.get('a')?.revoked, 1);
  t.equal(reads(), 2);
  // An unrelated row's change also empties it (any write invalidates everything).
  db.prepare("UPDATE k SET revoked = 1 WHERE id = 'b'").run();
  memo.get('a');
  t.equal(reads(), 3);
});

t.test('a commit by another connection (another process, the CLI) is seen by the next read (data_version)', async (t) => {
  const { file, memo, reads } = setup(t);
  memo.get('a');
  const other = new Database(file);
  t.teardown(() => other.close());
  other.prepare("UPDATE k SET revoked = 1 WHERE id = 'a'").run();
  t.equal(memo.get('a')?.revoked, 1, 'the other connection\'s revocation is seen at once');
  t.equal(reads(), 2);
  t.equal(memo.get('a')?.revoked, 1);
  t.equal(reads(), 2, 'and kept again until the next change');
});

t.test('a rolled back change still invalidates (never kept wrongly)', async (t) => {
  const { db, memo, reads } = setup(t);
  memo.get('a');
  t.throws(() => db.transaction(() => {
    db.prepare("UPDATE k SET revoked = 1 WHERE id = 'a'").run();
    throw new Error('abort');
  })());
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(reads(), 2);
});

t.test('nothing found is never kept; a row deleted since is forgotten', async (t) => {
  const { db, memo, reads } = setup(t);
  t.equal(memo.get('zz'), undefined);
  t.equal(memo.get('zz'), undefined);
  t.equal(reads(), 2);
  memo.get('a');
  db.prepare("DELETE FROM k WHERE id = 'a'").run();
  t.equal(memo.get('a'), undefined);
  t.equal(memo.size, 0);
});

t.test('bounded: the oldest entries go first, one in use stays', async (t) => {
  const { db, memo, reads } = setup(t, 4);
  db.prepare("INSERT INTO k VALUES ('d', 0, '{}')").run();
  memo.get('a');
  memo.get('b'); // half of the bound reached: a and b are the older half
  memo.get('a'); // in use: back among the newer
  memo.get('c');
  memo.get('d'); // b is dropped with the older half
  t.ok(memo.size <= 4);
  t.equal(reads(), 4, 'a was served from the memo');
  memo.get('a');
  memo.get('d');
  t.equal(reads(), 4, 'a and d are kept');
  memo.get('b');
  t.equal(reads(), 5, 'b was dropped');
});

t.test('kept values are frozen, deeply: callers share them', async (t) => {
  const { memo } = setup(t);
  const a = memo.get('a')!;
  t.ok(Object.isFrozen(a));
  t.ok(Object.isFrozen(a.extra.tags));
  t.throws(() => {
    (a as { revoked: number }).revoked = 1;
  }, TypeError);
});
