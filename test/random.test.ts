import t from 'tap';
import { secureRandomBytes } from '../src/crypto/random.js';

t.test('draws have the length asked for and never repeat, across many refills of the pool', async (t) => {
  const seen = new Set<string>();
  let total = 0;
  let wrongLength = 0;
  for (let i = 0; i < 20_000; i++) {
    const n = [12, 16, 32][i % 3]!;
    const b = secureRandomBytes(n);
    if (b.length !== n) wrongLength++;
    total += n;
    seen.add(b.toString('hex'));
  }
  t.equal(wrongLength, 0, 'every draw has the length asked for');
  t.ok(total > 90 * 4096, 'the pool was refilled many times');
  t.equal(seen.size, 20_000, 'no draw repeats another (a stalled offset would)');
});

t.test('a draw is the caller\'s own copy: later draws and refills leave it as it was', async (t) => {
  const first = secureRandomBytes(32);
  const copy = Buffer.from(first);
  for (let i = 0; i < 1000; i++) secureRandomBytes(32);
  t.same(first, copy);
  first.fill(0);
  t.not(secureRandomBytes(32).toString('hex'), '00'.repeat(32), 'writing to a draw does not reach the pool');
});

t.test('the bytes look uniform (every byte value appears, no value dominates)', async (t) => {
  const counts = new Array<number>(256).fill(0);
  for (let i = 0; i < 4096; i++) for (const byte of secureRandomBytes(16)) counts[byte]!++;
  // 65,536 bytes: 256 expected per value; a stuck or zeroed pool would put them all on one.
  t.ok(Math.min(...counts) > 128, `least frequent byte value: ${Math.min(...counts)}`);
  t.ok(Math.max(...counts) < 400, `most frequent byte value: ${Math.max(...counts)}`);
});

t.test('large draws and zero; bad lengths are refused', async (t) => {
  t.equal(secureRandomBytes(4096).length, 4096);
  t.equal(secureRandomBytes(0).length, 0);
  t.throws(() => secureRandomBytes(-1), RangeError);
  t.throws(() => secureRandomBytes(1.5), RangeError);
});
