import t from 'tap';
import type { Limiter } from '../../src/ratelimit/limiter.js';
import { MemoryLimiter } from '../../src/ratelimit/memory.js';
import { buildTestApp } from '../helper.js';

/** Hits `key` n times at `now`; returns how many were allowed. */
async function burst(l: Limiter, key: string, n: number, max: number, windowMs: number, now: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < n; i++) if ((await l.hit(key, max, windowMs, now)).allowed) allowed++;
  return allowed;
}

t.test('a burst of N against max M: exactly M allowed, refused hits do not count', async (t) => {
  const l = new MemoryLimiter();
  const now = 1_000_000;
  t.equal(await burst(l, 'k', 25, 10, 60_000, now), 10);
  const r = await l.hit('k', 10, 60_000, now);
  t.same(r, { allowed: false, limit: 10, remaining: 0, resetMs: 60_000 });
  t.equal(await burst(l, 'other', 3, 10, 60_000, now), 3, 'keys are independent');
});

t.test('remaining and reset count down', async (t) => {
  const l = new MemoryLimiter();
  const a = await l.hit('k', 3, 10_000, 0);
  t.same(a, { allowed: true, limit: 3, remaining: 2, resetMs: 10_000 });
  const b = await l.hit('k', 3, 10_000, 4_000);
  t.same(b, { allowed: true, limit: 3, remaining: 1, resetMs: 6_000 }, 'reset is when the oldest hit leaves');
});

t.test('the window slides: after it passes the limit is fully available again', async (t) => {
  const l = new MemoryLimiter();
  t.equal(await burst(l, 'k', 5, 5, 60_000, 0), 5);
  t.equal(await burst(l, 'k', 1, 5, 60_000, 59_999), 0, 'still refused 1 ms before the window ends');
  t.equal(await burst(l, 'k', 10, 5, 60_000, 60_000), 5, 'the whole limit is back once the window passed');
});

t.test('a burst at the window edge cannot double the limit', async (t) => {
  const l = new MemoryLimiter();
  // Fixed windows would admit 5 at 59.9 s and 5 more at 60.0 s; a sliding window does not.
  t.equal(await burst(l, 'k', 5, 5, 60_000, 59_900), 5);
  t.equal(await burst(l, 'k', 5, 5, 60_000, 60_000), 0);
  t.equal(await burst(l, 'k', 5, 5, 60_000, 119_899), 0, 'refused until the first burst left the window');
  t.equal(await burst(l, 'k', 5, 5, 60_000, 119_900), 5);
});

t.test('large limits use coarse slots and still never exceed max in any window', async (t) => {
  const l = new MemoryLimiter();
  const max = 1000;
  const window = 60_000;
  let allowedTotal = 0;
  const admitted: number[] = [];
  for (let now = 0; now < 180_000; now += 50) {
    for (let i = 0; i < 3; i++) {
      if ((await l.hit('big', max, window, now)).allowed) {
        allowedTotal++;
        admitted.push(now);
      }
    }
  }
  // No run of 60 s holds more than max admitted hits.
  let worst = 0;
  for (let i = 0, j = 0; i < admitted.length; i++) {
    while (admitted[i]! - admitted[j]! >= window) j++;
    worst = Math.max(worst, i - j + 1);
  }
  t.ok(worst <= max, `at most ${max} in any window (worst ${worst})`);
  t.ok(allowedTotal >= 2 * max, `the limit frees again as the window slides (${allowedTotal} admitted in 3 windows)`);
});

t.test('expired keys are forgotten; reset forgets at once', async (t) => {
  const l = new MemoryLimiter({ sweepEveryMs: 1000 });
  await l.hit('a', 5, 10_000, 0);
  await l.hit('b', 5, 10_000, 0);
  t.equal(l.size, 2);
  await l.reset('a');
  t.equal(l.size, 1);
  await l.hit('c', 5, 10_000, 20_000);
  t.equal(l.size, 1, 'b was swept after its window passed');
  const m = new MemoryLimiter({ maxKeys: 4 });
  let most = 0;
  for (let i = 0; i < 20; i++) {
    await m.hit('in-use', 5, 10_000, i);
    await m.hit(`once-${i}`, 5, 10_000, i);
    most = Math.max(most, m.size);
  }
  t.ok(most <= 4, `bounded number of keys (at most ${most})`);
  t.equal((await m.peek('in-use', 5, 10_000, 20)).remaining, 0, 'a key in use keeps its count through a flood of new keys');
});

t.test('the app exposes the limiter', async (t) => {
  const h = await buildTestApp(t);
  const r = await h.app.limiter.hit('verify:abc', 2, 60_000, h.clock.now());
  t.equal(r.allowed, true);
});
