import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { MemoryUnknownEmailFailures, UNKNOWN_FAILURE_WINDOW_MS, type UnknownEmailFailures } from '../../src/core/login.js';
import type { Limiter } from '../../src/ratelimit/limiter.js';
import { keyedDigest } from '../../src/core/pii.js';
import { LimiterKeys } from '../../src/ratelimit/end-user.js';
import { limiterUnknownEmailFailures } from '../../src/ratelimit/login-throttle.js';
import { MemoryLimiter } from '../../src/ratelimit/memory.js';
import { RedisLimiter } from '../../src/ratelimit/redis.js';

/** One deployment's salt: instances that share it share the counters. */
const limiterKeys = new LimiterKeys(keyedDigest('unknown-email-test-salt'));

/**
 * Failures of unknown emails (src/core/login.ts) counted on a limiter, so that instances sharing
 * Redis count them together. Every counter here must behave like a real account's row: a count,
 * a lock of exactly lockMs at maxFailures, a fresh count after the lock.
 */

const limits = { maxFailures: 3, lockMs: 600_000 };
const T = 1_700_000_000_000;

async function failN(c: UnknownEmailFailures, email: string, n: number, now: number) {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await c.fail(email, now, limits);
    out.push(`${r.failures}${r.locked ? ' locked' : ''}`);
  }
  return out;
}

function behavesLikeAnAccount(t: Test, make: () => UnknownEmailFailures, dayWindow: boolean) {
  t.test('counts, locks at maxFailures for lockMs, then counts afresh', async (t) => {
    const c = make();
    t.equal(await c.lockedFor('a@example.test', T, limits), 0);
    t.same(await failN(c, 'a@example.test', 3, T), ['1', '2', '3 locked']);
    t.equal(await c.lockedFor('a@example.test', T, limits), limits.lockMs);
    t.equal(await c.lockedFor('a@example.test', T + 599_000, limits), 1_000, 'retry_after counts down');
    t.equal(await c.lockedFor('b@example.test', T, limits), 0, 'per email');
    t.equal(await c.lockedFor('a@example.test', T + limits.lockMs, limits), 0, 'the lock ends after lockMs');
    t.same(await failN(c, 'a@example.test', 1, T + limits.lockMs), ['1'], 'and the count starts again');
  });
  t.test('clear forgets the failures', async (t) => {
    const c = make();
    await failN(c, 'c@example.test', 2, T);
    await c.clear('c@example.test');
    t.same(await failN(c, 'c@example.test', 1, T), ['1']);
  });
  if (dayWindow) {
    t.test('a failure counts for a day', async (t) => {
      const c = make();
      await failN(c, 'd@example.test', 2, T);
      t.same(await failN(c, 'd@example.test', 1, T + UNKNOWN_FAILURE_WINDOW_MS - 1), ['3 locked'], 'within the day');
      const e = make();
      await failN(e, 'e@example.test', 2, T);
      t.same(await failN(e, 'e@example.test', 1, T + UNKNOWN_FAILURE_WINDOW_MS), ['1'], 'forgotten after it');
    });
  }
}

t.test('in memory (the default without the rate-limit plugin)', async (t) => {
  behavesLikeAnAccount(t, () => new MemoryUnknownEmailFailures(), false);
});

t.test('on the in-memory limiter', async (t) => {
  behavesLikeAnAccount(t, () => limiterUnknownEmailFailures(new MemoryLimiter(), limiterKeys), true);
});

t.test('on the limiter, no email is kept in the clear', async (t) => {
  const keys: string[] = [];
  const spy: Limiter = new MemoryLimiter();
  const hit = spy.hit.bind(spy);
  spy.hit = async (key, ...rest) => (keys.push(key), hit(key, ...rest));
  const c = limiterUnknownEmailFailures(spy, limiterKeys);
  await failN(c, 'Secret.Person@Example.test', 3, T);
  t.ok(keys.length >= 2, keys.join(' '));
  t.notMatch(keys.join(' '), /secret|person|example/i, 'only a digest of the email');
});

const redisUrl = process.env.AUTHNZD_TEST_REDIS_URL;
t.test('on the Redis limiter (shared by every instance)', { skip: redisUrl ? false : 'AUTHNZD_TEST_REDIS_URL is not set: Redis-backed counts not tested' }, async (t) => {
  const redis = new Redis(redisUrl!);
  const prefix = `authnzd-test:${randomBytes(6).toString('hex')}:`;
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });
  behavesLikeAnAccount(t, () => limiterUnknownEmailFailures(new RedisLimiter(redis, `${prefix}${randomBytes(4).toString('hex')}:`), limiterKeys), true);
  t.test('two instances on one Redis count together', async (t) => {
    const shared = `${prefix}shared:`;
    const a = limiterUnknownEmailFailures(new RedisLimiter(redis, shared), limiterKeys);
    const b = limiterUnknownEmailFailures(new RedisLimiter(redis, shared), limiterKeys);
    t.same([...await failN(a, 'f@example.test', 1, T), ...await failN(b, 'f@example.test', 1, T), ...await failN(a, 'f@example.test', 1, T)],
      ['1', '2', '3 locked']);
    t.equal(await b.lockedFor('f@example.test', T + 1, limits), limits.lockMs - 1, 'the other instance sees the lock');
  });
});
