import t from 'tap';
import type { Claims } from '../../src/crypto/envelope.js';
import { verifyApiKey, verifyApiKeyNow } from '../../src/core/apikey-verify.js';
import { UsageBuffer } from '../../src/core/usage-buffer.js';
import { VerifyCache, type OpenedKey } from '../../src/core/verify-cache.js';
import { buildTestApp } from '../helper.js';
import { IP, UA, issueStandalone, newUser, rawDb, verify } from './setup.js';

/* What the verify path must not do (SPEC §4.3). */

t.test('one indexed read, no write, cached crypto, usage flushed later', async (t) => {
  const h = await buildTestApp(t);
  const k = await issueStandalone(h, await newUser(h));
  const calls: string[] = [];
  const store = h.app.store as unknown as Record<string, Record<string, unknown>>;
  for (const area of ['apikeys', 'users', 'sessions', 'clients', 'audit', 'keyring']) {
    for (const [name, fn] of Object.entries(store[area]!)) {
      if (typeof fn !== 'function') continue;
      store[area]![name] = (...args: unknown[]) => {
        calls.push(`${area}.${name}`);
        return (fn as (...a: unknown[]) => unknown).apply(store[area], args);
      };
    }
  }
  let finds = 0;
  const find = h.app.keyring.find.bind(h.app.keyring);
  h.app.keyring.find = async (...args) => {
    finds++;
    return find(...args);
  };
  await verify(h, k.apikey); // warms the client cache and the verify cache
  const cryptoAfterFirst = finds;
  calls.length = 0;
  for (let i = 0; i < 5; i++) t.equal((await verify(h, k.apikey)).valid, true);
  // SQLite answers through getForVerifyNow (no promise); either way one read of the key per verify.
  const reads = calls.filter((c) => !c.startsWith('clients.')).map((c) => c.replace(/Now$/, ''));
  t.same(reads, Array(5).fill('apikeys.getForVerify'), 'exactly one read per verify, no write');
  t.equal(finds, cryptoAfterFirst, 'decrypt+verify served from the cache');

  const db = rawDb(h);
  t.teardown(() => db.close());
  const useCount = () => (db.prepare('SELECT use_count FROM api_keys WHERE id = ?').get(k.key_id) as { use_count: number }).use_count;
  t.equal(useCount(), 0, 'nothing written during verifies');
  await h.app.apikeys.usage.flush();
  t.equal(useCount(), 6, 'one flush writes every buffered use');
});

t.test('the verify cache: keyed by the whole key, bounded, never past exp', async (t) => {
  const claims = (exp: number): OpenedKey => ({ claims: { jti: 'k', exp } as Claims, tknHash: 'h', expiresIso: new Date(exp * 1000).toISOString() });
  const cache = new VerifyCache(4);
  cache.set('a', claims(100), 0);
  cache.set('b', claims(100), 0);
  t.ok(cache.get('a', 0), 'a is used');
  cache.set('c', claims(100), 0);
  cache.set('d', claims(100), 0);
  t.ok(cache.size <= 4, 'bounded');
  t.notOk(cache.get('b', 0), 'the oldest entry not used again went first');
  t.ok(cache.get('a', 99_999), 'the one in use stays');
  t.notOk(cache.get('a', 100_000), 'gone at exp');
  cache.set('a', claims(100), 0);
  t.ok(cache.get('a', 99_999));
  t.notOk(cache.get('a', 100_000), 'gone at exp');
  cache.set('e', claims(1), 5_000);
  t.notOk(cache.get('e', 5_000), 'an expired result is never stored');
});

t.test('the verify cache: keys sharing their last 22 characters (the slot) never answer for each other', async (t) => {
  const tail = 'T'.repeat(22);
  const genuine = `azk_genuine.${tail}`;
  const forged = `azk_forged..${tail}`;
  const opened: OpenedKey = { claims: { jti: 'k', exp: 100 } as Claims, tknHash: 'h', expiresIso: 'x' };
  const cache = new VerifyCache(10);
  cache.set(genuine, opened, 0);
  t.equal(cache.get(genuine, 0), opened);
  t.equal(cache.get(forged, 0), undefined, 'same slot, different key: a miss');
  t.equal(cache.get(genuine.slice(1), 0), undefined, 'a suffix of the key: a miss');
  cache.set(forged, { ...opened, tknHash: 'other' }, 0);
  t.equal(cache.get(genuine, 0), undefined, 'the slot now holds the other key');
  t.equal(cache.get(forged, 0)?.tknHash, 'other');
  t.equal(cache.size, 1);
});

t.test('a failed flush keeps the counts for the next one', async (t) => {
  let fail = true;
  const written: unknown[] = [];
  const buf = new UsageBuffer(async (u) => {
    if (fail) throw new Error('database is locked');
    written.push(...u);
  });
  buf.record('k1', 10);
  buf.record('k1', 20);
  await t.rejects(buf.flush());
  buf.record('k1', 30);
  fail = false;
  await buf.flush();
  t.same(written, [{ id: 'k1', count: 3, lastUsedAt: 30 }]);
  t.equal(buf.size, 0);
});

t.test('/metrics counts verify answers by result', async (t) => {
  const h = await buildTestApp(t);
  const k = await issueStandalone(h, await newUser(h));
  await verify(h, k.apikey);
  await verify(h, 'nope');
  const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
  t.match(metrics, /authnzd_apikey_verifications_total\{result="valid"\} 1/);
  t.match(metrics, /authnzd_apikey_verifications_total\{result="malformed"\} 1/);
  t.match(metrics, /authnzd_apikey_verify_cache_entries 1/);
  t.match(metrics, /authnzd_apikey_usage_pending 1/);
});

t.test('a cached key remembers the user agent it matched, and still refuses another one', async (t) => {
  const h = await buildTestApp(t);
  const k = await issueStandalone(h, await newUser(h));
  t.equal((await verify(h, k.apikey)).valid, true, 'the bound user agent (hashed, then remembered)');
  t.equal((await verify(h, k.apikey)).valid, true, 'the same user agent again (no hash)');
  t.equal((await verify(h, k.apikey, { user_agent: 'curl/8.0' })).reason, 'user_agent_mismatch', 'another one is refused');
  t.equal((await verify(h, k.apikey, { user_agent: 'curl/8.0' })).reason, 'user_agent_mismatch', 'and is not remembered');
  t.equal((await verify(h, k.apikey)).valid, true, 'the bound one still passes');
});

t.test('verifyApiKeyNow answers at once only when nothing has to wait, and then as verifyApiKey does', async (t) => {
  const h = await buildTestApp(t);
  const deps = h.app.apikeys;
  const k = await issueStandalone(h, await newUser(h));
  const q = { apikey: k.apikey, ipAddress: IP, userAgent: UA };
  const other = await issueStandalone(h, await newUser(h));
  const slow = await verifyApiKey(deps, q);
  t.equal(slow.valid, true);
  t.same(verifyApiKeyNow(deps, q), slow, 'opened before: the same answer, at once');
  const fresh = verifyApiKeyNow(deps, { ...q, apikey: other.apikey });
  t.equal(fresh?.valid, true, 'a key not opened before (HS256, keys loaded) opens at once too');
  t.same(verifyApiKeyNow(deps, { ...q, apikey: 'azk_nope' }), { valid: false, reason: 'malformed' }, 'a refusal of the envelope, at once');
  t.same(verifyApiKeyNow(deps, { ...q, userAgent: 'other/1' }), await verifyApiKey(deps, { ...q, userAgent: 'other/1' }));
  t.same(verifyApiKeyNow(deps, { ...q, scope: 'nope' }), { valid: false, reason: 'insufficient_scope' });

  // A store that has to wait (PostgreSQL), or a limiter that has to (Redis): no answer, nothing counted.
  const pending = deps.usage.size;
  const asyncStore = { ...deps.store, apikeys: { ...deps.store.apikeys, getForVerifyNow: undefined } };
  t.equal(verifyApiKeyNow({ ...deps, store: asyncStore }, q), undefined);
  const remoteLimiter = { hit: deps.limiter!.hit.bind(deps.limiter), peek: deps.limiter!.peek.bind(deps.limiter), reset: deps.limiter!.reset.bind(deps.limiter) };
  t.equal(verifyApiKeyNow({ ...deps, limiter: remoteLimiter }, q), undefined, 'the default policy limits authenticated keys per minute');
  t.equal(deps.usage.size, pending, 'no use recorded by a declined attempt');
  t.same(await verifyApiKey({ ...deps, limiter: remoteLimiter, store: asyncStore }, q), slow, 'the async path answers the same');
});
