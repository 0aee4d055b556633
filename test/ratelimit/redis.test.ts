import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Redis } from 'ioredis';
import type { Limiter } from '../../src/ratelimit/limiter.js';
import { MemoryLimiter } from '../../src/ratelimit/memory.js';
import { RedisLimiter } from '../../src/ratelimit/redis.js';
import { createTestDatabase } from '../db/pg.js';
import { buildTestApp, show } from '../helper.js';

const redisUrl = process.env.AUTHNZD_TEST_REDIS_URL;
const skip = redisUrl ? false : 'AUTHNZD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379): Redis-backed limits not tested';
/** One namespace per test run, so runs (and other engineers' runs) never share counters. */
const prefix = `authnzd-test:${randomBytes(6).toString('hex')}:`;

async function burst(l: Limiter, key: string, n: number, max: number, windowMs: number, now: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < n; i++) if ((await l.hit(key, max, windowMs, now)).allowed) allowed++;
  return allowed;
}

t.test('Redis limiter: the same sliding window as in memory', { skip }, async (t) => {
  const redis = new Redis(redisUrl!);
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });
  const l = new RedisLimiter(redis, prefix);
  t.equal(await burst(l, 'k', 25, 10, 60_000, 1_000_000), 10, 'exactly max of a burst');
  t.same(await l.hit('k', 10, 60_000, 1_000_000), { allowed: false, limit: 10, remaining: 0, resetMs: 60_000 });
  t.same(await l.peek('k', 10, 60_000, 1_030_000), { allowed: false, limit: 10, remaining: 0, resetMs: 30_000 });

  t.equal(await burst(l, 'edge', 5, 5, 60_000, 59_900), 5);
  t.equal(await burst(l, 'edge', 5, 5, 60_000, 60_000), 0, 'a burst at the window edge cannot double the limit');
  t.equal(await burst(l, 'edge', 5, 5, 60_000, 119_899), 0);
  t.equal(await burst(l, 'edge', 10, 5, 60_000, 119_900), 5, 'the whole limit is back once the window passed');

  const a = await l.hit('count', 3, 10_000, 0);
  t.same(a, { allowed: true, limit: 3, remaining: 2, resetMs: 10_000 });
  const b = await l.hit('count', 3, 10_000, 4_000);
  t.same(b, { allowed: true, limit: 3, remaining: 1, resetMs: 6_000 });
  await l.reset('count');
  t.same(await l.peek('count', 3, 10_000, 4_000), { allowed: true, limit: 3, remaining: 3, resetMs: 0 });
  t.ok((await redis.pttl(`${prefix}edge`)) > 0, 'keys carry a TTL: Redis forgets them');

  let admitted = 0;
  for (let now = 0; now < 120_000; now += 100) admitted += await burst(l, 'big', 2, 1000, 60_000, now);
  t.ok(admitted <= 2000 && admitted >= 1900, `coarse slots for large limits (${admitted} admitted in 2 windows)`);
});

t.test('Redis and memory limiters agree on a random sequence of hits and peeks', { skip }, async (t) => {
  const redis = new Redis(redisUrl!);
  t.teardown(() => redis.quit());
  const r = new RedisLimiter(redis, prefix + 'agree:');
  const m = new MemoryLimiter();
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  let now = 5_000_000;
  let mismatches = 0;
  const seen = { allowed: 0, refused: 0 };
  for (let i = 0; i < 3000; i++) {
    now += rand(40);
    // An exact window on three keys and a coarse-slot one on one key, both driven past their limit.
    const [max, windowMs, key] = i % 2 ? [7, 2_000, `exact${rand(3)}`] : [120, 10_000, 'coarse'];
    const op = rand(10) === 0 ? 'peek' : 'hit';
    const [a, b] = [await r[op](key, max, windowMs, now), await m[op](key, max, windowMs, now)];
    seen[b.allowed ? 'allowed' : 'refused']++;
    if (JSON.stringify(a) !== JSON.stringify(b) && mismatches++ < 3) t.same(a, b, `${op} ${key} at ${now}`);
  }
  t.equal(mismatches, 0, 'identical answers');
  t.ok(seen.allowed > 500 && seen.refused > 500, `both outcomes exercised (${JSON.stringify(seen)})`);
});

t.test('two instances on one Redis share the client limits', { skip }, async (t) => {
  const env = { AUTHNZD_REDIS_URL: redisUrl!, AUTHNZD_RATE_LIMITS: JSON.stringify({ audit_query: { max: 5, window: 60 } }) };
  // Two instances: one database (the same SQLite file), one Redis.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'authnzd-rl-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const a = await buildTestApp(t, { env, dataDir, rateLimitKeyPrefix: prefix + 'shared:' });
  const b = await buildTestApp(t, { env, dataDir, rateLimitKeyPrefix: prefix + 'shared:', clock: a.clock });
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await (i % 2 ? b : a).call('audit_query', {})).statusCode);
  t.same(statuses, [200, 200, 200, 200, 200, 429, 429, 429], 'five in total across both instances');
  const ready = await a.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.json().parts.rate_limits.ok, true, show(ready));
  t.notOk(ready.json().rate_limits, 'no warning while Redis answers');
});

t.test('end-user counters in Redis hold keyed digests of emails and IPs, not plain hashes', { skip }, async (t) => {
  // A plain SHA-256 of an IPv4 address (2^32 of them) or of an email (a dictionary away) is as
  // good as the value to anyone who can read Redis; the keys are keyed with AUTHNZD_PII_SALT.
  const ns = prefix + 'pii:';
  const redis = new Redis(redisUrl!);
  t.teardown(async () => {
    const keys = await redis.keys(`${ns}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });
  const keysFor = async (salt: string) => {
    const h = await buildTestApp(t, { env: { AUTHNZD_REDIS_URL: redisUrl!, AUTHNZD_RATE_LIMITS: '{}', AUTHNZD_PII_SALT: salt }, rateLimitKeyPrefix: `${ns}${salt}:` });
    const res = await h.call('user_new', { email: 'Counted.Person@Example.com', password: 'a long and unusual passphrase 93', full_name: 'Counted Person', ip_address: '198.51.100.7' });
    t.equal(res.statusCode, 201, show(res));
    return (await redis.keys(`${ns}${salt}:*`)).map((k) => k.slice(`${ns}${salt}:`.length)).filter((k) => k.startsWith('user:')).sort();
  };
  const a = await keysFor('first-salt-0123456789');
  const plain = (v: string) => createHash('sha256').update(v).digest('base64url').slice(0, 22);
  t.ok(a.some((k) => k.startsWith('user:user_new:email:')) && a.some((k) => k.startsWith('user:user_new:ip:')), `both counters were written: ${a.join(' ')}`);
  for (const k of a) {
    t.notOk(k.includes(plain('counted.person@example.com')), `${k}: not the plain hash of the email`);
    t.notOk(k.includes(plain('198.51.100.7')), `${k}: not the plain hash of the IP`);
  }
  const b = await keysFor('second-salt-0123456789');
  t.equal(b.length, 2);
  t.notSame(b, a, 'another salt, other keys');
});

const pgUrl = process.env.AUTHNZD_TEST_PG_URL;
t.test('PostgreSQL and Redis without AUTHNZD_PII_SALT: a warning at start, since per-instance salts split the counts', { skip: skip || (pgUrl ? false : 'AUTHNZD_TEST_PG_URL is not set') }, async (t) => {
  const db = await createTestDatabase(pgUrl!);
  t.teardown(() => db.drop());
  const env = { AUTHNZD_DATABASE_URL: db.url, AUTHNZD_REDIS_URL: redisUrl! };
  const warned = (h: { logs: Record<string, unknown>[] }) => h.logs.filter((l) => l.level === 40 && /AUTHNZD_PII_SALT/.test(String(l.msg)));
  const unset = await buildTestApp(t, { env, rateLimitKeyPrefix: prefix + 'salt-warning:' });
  t.equal(warned(unset).length, 1, 'one warning naming the setting');
  t.notMatch(JSON.stringify(warned(unset)), /[A-Za-z0-9_-]{43}/, 'the generated salt is not in it');
  await unset.close();
  const set = await buildTestApp(t, { env: { ...env, AUTHNZD_PII_SALT: 'one-salt-for-every-instance' }, rateLimitKeyPrefix: prefix + 'salt-warning:' });
  t.equal(warned(set).length, 0, 'no warning once it is set');
});
