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
  const stamp = new ChangeStamp(db);
  const memo = new ReadMemo(stamp, (id: string) => {
    reads++;
    const r = select.get(id);
    return r && { ...r, extra: JSON.parse(r.extra) as { tags: string[] } };
  }, max);
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, file, memo, stamp, reads: () => reads };
}

/** Reads `id` twice: the second read is the one the memo keeps (a first read is not kept). */
function keep(memo: ReturnType<typeof setup>['memo'], id: string): void {
  memo.get(id);
  memo.get(id);
}

t.test('a key is kept from its second read; then served from memory while nothing changed', async (t) => {
  const { memo, reads } = setup(t);
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(memo.size, 0, 'a first read is not kept');
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(memo.size, 1, 'the second is');
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(reads(), 2);
});

t.test("a change by this connection is seen by the next read (total_changes)", async (t) => {
  const { db, memo, reads } = setup(t);
  keep(memo, 'a');
  db.prepare("UPDATE k SET revoked = 1 WHERE id = 'a'").run();
  t.equal(memo.get('a')?.revoked, 1);
  t.equal(reads(), 3);
  // An unrelated row's change also empties it (any write invalidates everything).
  db.prepare("UPDATE k SET revoked = 1 WHERE id = 'b'").run();
  memo.get('a');
  t.equal(reads(), 4);
});

t.test('a write run through stamp.unseen (the usage flush) leaves kept entries valid; the next write does not', async (t) => {
  const { db, memo, stamp, reads } = setup(t);
  db.exec('ALTER TABLE k ADD COLUMN uses INTEGER NOT NULL DEFAULT 0');
  keep(memo, 'a');
  const bump = db.prepare("UPDATE k SET uses = uses + 1 WHERE id = 'a'");
  t.equal(stamp.unseen(() => bump.run().changes), 1, 'the write ran and its result is returned');
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(reads(), 2, 'served from memory after the unseen write');
  t.throws(() => stamp.unseen(() => db.transaction(() => {
    bump.run();
    throw new Error('abort');
  })()), /abort/);
  memo.get('a');
  t.equal(reads(), 2, 'a failed unseen write leaves it valid too');
  db.prepare("UPDATE k SET revoked = 1 WHERE id = 'a'").run();
  t.equal(memo.get('a')?.revoked, 1, 'an ordinary write is seen by the next read');
  t.equal(reads(), 3);
});

t.test('a commit by another connection (another process, the CLI) is seen by the next read (data_version)', async (t) => {
  const { file, memo, reads } = setup(t);
  keep(memo, 'a');
  const other = new Database(file);
  t.teardown(() => other.close());
  other.prepare("UPDATE k SET revoked = 1 WHERE id = 'a'").run();
  t.equal(memo.get('a')?.revoked, 1, 'the other connection\'s revocation is seen at once');
  t.equal(reads(), 3);
  t.equal(memo.get('a')?.revoked, 1);
  t.equal(reads(), 3, 'and kept again until the next change');
});

t.test("a request's stamp (read once when it arrived) serves its reads; a later request's stamp sees a commit in between", async (t) => {
  const { file, memo, stamp, reads } = setup(t);
  keep(memo, 'a');
  const first = stamp.read();
  t.equal(memo.get('a', first)?.revoked, 0);
  t.equal(reads(), 2, 'served from memory under the request stamp');
  const other = new Database(file);
  t.teardown(() => other.close());
  other.prepare("UPDATE k SET revoked = 1 WHERE id = 'a'").run();
  const second = stamp.read();
  t.not(second.others, first.others, "the other connection's commit moves the stamp");
  t.equal(memo.get('a', second)?.revoked, 1, 'a request that arrived after the commit sees it');
  t.equal(reads(), 3);
  t.equal(memo.get('a', second)?.revoked, 1);
  t.equal(reads(), 3, 'kept under that stamp');
  // A request that arrived before the commit (concurrent with it) is answered with a stamp
  // that no longer matches what is kept: it reads again (never the older row for a newer stamp).
  t.equal(memo.get('a', first)?.revoked, 1);
  t.equal(reads(), 4);
});

t.test('a rolled back change still invalidates (never kept wrongly)', async (t) => {
  const { db, memo, reads } = setup(t);
  keep(memo, 'a');
  t.throws(() => db.transaction(() => {
    db.prepare("UPDATE k SET revoked = 1 WHERE id = 'a'").run();
    throw new Error('abort');
  })());
  t.equal(memo.get('a')?.revoked, 0);
  t.equal(reads(), 3);
});

t.test('nothing found is never kept; a row deleted since is forgotten', async (t) => {
  const { db, memo, reads } = setup(t);
  t.equal(memo.get('zz'), undefined);
  t.equal(memo.get('zz'), undefined);
  t.equal(memo.get('zz'), undefined);
  t.equal(reads(), 3);
  keep(memo, 'a');
  t.equal(memo.size, 1);
  db.prepare("DELETE FROM k WHERE id = 'a'").run();
  t.equal(memo.get('a'), undefined);
  t.equal(memo.size, 0);
});

t.test('bounded: the oldest entries go first, one in use stays', async (t) => {
  const { db, memo, reads } = setup(t, 8);
  const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
  for (const id of ids) db.prepare("INSERT INTO k VALUES (?, 0, '{}')").run(id);
  keep(memo, 'a');
  let most = 0;
  for (const id of ids) {
    keep(memo, id);
    memo.get('a');
    most = Math.max(most, memo.size);
  }
  t.ok(most <= 8, `never more than 8 entries (${most})`);
  const before = reads();
  memo.get('a');
  memo.get('r19');
  t.equal(reads(), before, 'the key in use and the newest are served from memory');
  memo.get('r0');
  t.equal(reads(), before + 1, 'the oldest was dropped');
});

t.test('kept values are frozen, deeply: callers share them; a first read is the caller\'s own', async (t) => {
  const { memo } = setup(t);
  t.notOk(Object.isFrozen(memo.get('a')!), 'not kept, not frozen');
  const a = memo.get('a')!;
  t.ok(Object.isFrozen(a));
  t.ok(Object.isFrozen(a.extra.tags));
  t.throws(() => {
    (a as { revoked: number }).revoked = 1;
  }, TypeError);
  t.equal(memo.get('a'), a, 'the same object again');
});
