import t from 'tap';
import type { UsageUpdate } from '../../src/db/store/apikeys.js';
import { UsageBuffer } from '../../src/core/usage-buffer.js';

/* The usage flush writes in chunks, lets the event loop run between them, and loses nothing. */

function filled(buffer: UsageBuffer, keys: number, uses = 1): void {
  for (let i = 0; i < keys; i++) for (let u = 0; u < uses; u++) buffer.record(`key_${i}`, 1000 + u);
}

t.test('a flush writes every key once, in chunks, with the event loop running between chunks', async (t) => {
  const writes: UsageUpdate[][] = [];
  const turns: number[] = [];
  let turn = 0;
  const buffer = new UsageBuffer(async (updates) => {
    writes.push(updates);
    turns.push(turn);
  }, 250);
  filled(buffer, 600, 2);
  const spin = () => setImmediate(() => {
    turn++;
    if (writes.length < 3) spin();
  });
  spin();
  await buffer.flush();
  t.same(writes.map((w) => w.length), [250, 250, 100], 'three chunks');
  const ids = new Set(writes.flat().map((u) => u.id));
  t.equal(ids.size, 600, 'every key written once');
  t.ok(writes.flat().every((u) => u.count === 2 && u.lastUsedAt === 1001), 'counts and last use kept');
  t.ok(turns[1]! > turns[0]! && turns[2]! > turns[1]!, `other work ran between chunks (${turns.join(',')})`);
  t.equal(buffer.size, 0);
});

t.test('a failed chunk keeps it and the rest for the next flush; written chunks are not counted twice', async (t) => {
  const written = new Map<string, number>();
  let failNext = false;
  let calls = 0;
  const buffer = new UsageBuffer(async (updates) => {
    calls++;
    if (failNext && calls === 2) throw new Error('database busy');
    for (const u of updates) written.set(u.id, (written.get(u.id) ?? 0) + u.count);
  }, 250);
  filled(buffer, 600);
  failNext = true;
  await t.rejects(buffer.flush(), /database busy/);
  t.equal(written.size, 250, 'the first chunk was written');
  t.equal(buffer.size, 350, 'the failed chunk and the one after it are kept');
  buffer.record('key_599', 5000);
  await buffer.flush();
  t.equal(written.size, 600, 'everything written after the next flush');
  t.ok([...written].every(([id, n]) => n === 1 || id === 'key_599'), 'no key counted twice');
  t.equal(written.get('key_599'), 2, 'a use recorded meanwhile is added to the kept one');
});
