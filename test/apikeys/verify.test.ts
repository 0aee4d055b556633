import t from 'tap';
import { sealApiKey } from '../../src/crypto/envelope.js';
import { newToken } from '../../src/core/tokens.js';
import { buildTestApp, json, show } from '../helper.js';
import { IP, UA, issueSessionKey, issueStandalone, newSession, newUser, permissionsWithVerifyLimit, rawDb, verify } from './setup.js';

/* verify_apikey: every reason of SPEC §4.2, and their order. Attacks on the envelope are in envelope.test.ts. */

/** The longest string verify_apikey takes for a key (docs/apikeys.md; MAX_APIKEY_LENGTH). */
const MAX_APIKEY_LENGTH = 32_768;

t.test('a valid key answers its claims', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const k = await issueSessionKey(h, await newSession(h, uid), { scopes: ['read', 'write'], subject: ['/a', '/b'], api_version: 'v2' });
  const r = await verify(h, k.apikey, { audience: 'svc', subject: '/b', api_version: 'v2', scope: 'write' });
  t.same(r, {
    valid: true,
    key: { key_id: k.key_id, kind: 'session', user_id: uid, role: 'authenticated', scopes: ['read', 'write'], audience: 'svc', subject: ['/a', '/b'], api_version: 'v2', expires_at: k.expires_at },
  });
  t.equal(k.expires_at, new Date(h.clock.now() + 3600_000).toISOString());
});

t.test('malformed: not azk_ + a JWE', async (t) => {
  const h = await buildTestApp(t);
  for (const bad of ['nope', 'azk_', 'azk_abc', 'azk_a.b.c', 'azk_a.b.c.d.e.f', 'azk_!!.b.c.d.e', 'Bearer azk_a.b.c.d.e']) {
    t.equal((await verify(h, bad)).reason, 'malformed', bad);
  }
  const res = await h.call('verify_apikey', { apikey: 'x', ip_address: 'not-an-ip', user_agent: UA });
  t.equal(res.statusCode, 400, `a bad call is a 400, not a reason: ${show(res)}`);
});

t.test('malformed, not 400: an empty apikey, and one longer than any key this service issues (SPEC §4.2: decisions are values)', async (t) => {
  const h = await buildTestApp(t);
  t.same(await verify(h, ''), { valid: false, reason: 'malformed' }, 'empty');
  const k = await issueStandalone(h, await newUser(h));
  const [header, , iv, ct, tag] = k.apikey.slice(4).split('.') as [string, string, string, string, string];
  // JWE-shaped (five base64url parts), only too long: refused on its length, before any other work.
  const long = `azk_${header}..${iv}.${ct}${'A'.repeat(MAX_APIKEY_LENGTH)}.${tag}`;
  t.same(await verify(h, long), { valid: false, reason: 'malformed' }, `${long.length} characters`);
  t.same(await verify(h, 'x'.repeat(60_000)), { valid: false, reason: 'malformed' }, 'as long as the body limit allows');
  t.equal((await verify(h, k.apikey)).valid, true);
});

t.test('keys longer than 8,192 characters (many subjects) verify, refresh and revoke by apikey', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const subject = Array.from({ length: 40 }, (_, i) => `/reports/${i}/${'x'.repeat(240)}`);
  const k = await issueStandalone(h, uid, { subject });
  t.ok(k.apikey.length > 8192 && k.apikey.length <= MAX_APIKEY_LENGTH, `${k.apikey.length} characters`);
  t.equal((await verify(h, k.apikey, { subject: subject[39] })).valid, true);
  const res = await h.call('refresh_apikey', { apikey: k.apikey, refresh_token: k.refresh_token, ip_address: IP, user_agent: UA });
  t.equal(res.statusCode, 201, `refresh: ${res.statusCode}`);
  const next = json<{ apikey: string }>(res).apikey;
  t.equal((await verify(h, next)).valid, true);
  const revoked = await h.call('revoke_apikey', { session_token: await newSession(h, uid), apikey: next });
  t.equal(revoked.statusCode, 200, show(revoked));
  t.equal((await verify(h, next)).reason, 'revoked');
});

t.test('issue refuses a key longer than verify accepts (400 invalid_request)', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const res = await h.call('issue_apikey_nosession', {
    user_id: uid, ip_address: IP, user_agent: UA, audience: 'svc', api_version: 1, expires_in: 60, refresh_expires_in: 60,
    subject: Array.from({ length: 64 }, (_, i) => `/${i}/${'s'.repeat(250)}`), scopes: Array.from({ length: 64 }, (_, i) => `${i}:${'c'.repeat(120)}`),
  });
  t.equal(res.statusCode, 400, `${res.statusCode} ${json<{ code: string }>(res).code}`);
  t.equal(json<{ code: string }>(res).code, 'invalid_request');
  t.match(json<{ message: string }>(res).message, /longer than/);
});

t.test('invalid: any flipped character', async (t) => {
  const h = await buildTestApp(t);
  const k = await issueStandalone(h, await newUser(h));
  const body = k.apikey.slice(4);
  const parts = body.split('.');
  // One changed character in each of header, iv, ciphertext and tag.
  for (const [i, part] of parts.entries()) {
    if (part.length === 0) continue;
    const pos = Math.floor(part.length / 2);
    const flipped = part.slice(0, pos) + (part[pos] === 'A' ? 'B' : 'A') + part.slice(pos + 1);
    const tampered = 'azk_' + parts.map((p, j) => (j === i ? flipped : p)).join('.');
    const r = await verify(h, tampered);
    t.ok(r.reason === 'invalid' || (i === 0 && r.reason === 'malformed'), `part ${i}: ${JSON.stringify(r)}`);
  }
  t.equal((await verify(h, k.apikey)).valid, true, 'the genuine key still verifies');
});

t.test('not_yet_valid, then valid, then expired (injected clock)', async (t) => {
  const h = await buildTestApp(t);
  const k = await issueStandalone(h, await newUser(h), { not_before: 1, expires_in: 6 });
  t.equal((await verify(h, k.apikey)).reason, 'not_yet_valid');
  h.clock.advance(1);
  t.equal((await verify(h, k.apikey)).valid, true);
  h.clock.advance(5);
  t.equal((await verify(h, k.apikey)).reason, 'expired', 'a cached result never outlives exp');
});

t.test('revoked: revoked key, deleted session, unknown token', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const session = await newSession(h, uid);
  const k1 = await issueSessionKey(h, session);
  t.equal((await verify(h, k1.apikey)).valid, true, 'cached now');
  const rev = await h.call('revoke_apikey', { session_token: session, key_id: k1.key_id });
  t.equal(rev.statusCode, 200, show(rev));
  t.equal((await verify(h, k1.apikey)).reason, 'revoked', 'revocation is never served from the cache');

  const k2 = await issueSessionKey(h, session);
  const del = await h.call('session_delete', { session_token: session });
  t.equal(del.statusCode, 200, show(del));
  t.equal((await verify(h, k2.apikey)).reason, 'revoked', 'a session key dies with its session');

  // A key the keyring signed whose token is not the stored one (or whose row is gone).
  const s = await issueStandalone(h, uid);
  const claims = { jti: s.key_id, tkn: newToken(), knd: 'standalone' as const, iss: 'authnzd', aud: 'svc', sub: '/things', ver: 1, uid, rol: 'authenticated', iat: 0, nbf: 0, exp: 4102444800 };
  t.equal((await verify(h, await sealApiKey(claims, h.app.keyring))).reason, 'revoked');
  t.equal((await verify(h, await sealApiKey({ ...claims, jti: 'key_gone' }, h.app.keyring))).reason, 'revoked');
});

t.test('user_inactive: deactivated, locked, deleted, role changed', async (t) => {
  const h = await buildTestApp(t);
  const db = rawDb(h);
  t.teardown(() => db.close());
  const cases: [string, string][] = [
    ['deactivated', 'UPDATE users SET is_active = 0 WHERE id = ?'],
    ['admin-locked', 'UPDATE users SET admin_locked = 1 WHERE id = ?'],
    ['role changed', "UPDATE users SET role = 'staff' WHERE id = ?"],
    ['deleted', 'DELETE FROM users WHERE id = ?'],
  ];
  for (const [name, sql] of cases) {
    const uid = await newUser(h);
    const k = await issueStandalone(h, uid);
    t.equal((await verify(h, k.apikey)).valid, true, `${name}: valid before`);
    db.prepare(sql).run(uid);
    t.equal((await verify(h, k.apikey)).reason, 'user_inactive', name);
  }
});

t.test('ip_mismatch: exact address, IPv4-mapped IPv6, CIDR lists, unbound', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const exact = await issueStandalone(h, uid);
  t.equal((await verify(h, exact.apikey, { ip_address: '203.0.113.8' })).reason, 'ip_mismatch');
  t.equal((await verify(h, exact.apikey, { ip_address: `::ffff:${IP}` })).valid, true, 'IPv4-mapped IPv6 is the same client');

  const v6 = await issueStandalone(h, uid, { ip_address: '2001:db8::1' });
  t.equal((await verify(h, v6.apikey, { ip_address: '2001:0db8:0:0::1' })).valid, true, 'IPv6 in another spelling');
  t.equal((await verify(h, v6.apikey, { ip_address: '2001:db8::2' })).reason, 'ip_mismatch');

  const cidr = await issueStandalone(h, uid, { bind: { ip: ['10.1.0.0/16', '2001:db8:abcd::/48', '::ffff:192.0.2.0/120'] } });
  for (const ip of ['10.1.2.3', '::ffff:10.1.200.1', '2001:db8:abcd:12::5', '192.0.2.77']) {
    t.equal((await verify(h, cidr.apikey, { ip_address: ip })).valid, true, `${ip} is inside`);
  }
  for (const ip of ['10.2.0.1', '2001:db8:abce::1', IP, '192.0.3.1']) {
    t.equal((await verify(h, cidr.apikey, { ip_address: ip })).reason, 'ip_mismatch', `${ip} is outside`);
  }
  const bad = await h.call('issue_apikey_nosession', { user_id: uid, ip_address: IP, audience: 'a', subject: 's', api_version: 1, expires_in: 60, refresh_expires_in: 60, bind: { ip: ['10.0.0.0/33'] } });
  t.equal(bad.statusCode, 400, show(bad));
  for (const block of ['10.0.0.0/33', '10.1', 'not-an-ip', '2001:db8::/129', '']) {
    const res = await h.call('issue_apikey_nosession', { user_id: uid, ip_address: IP, audience: 'a', subject: 's', api_version: 1, expires_in: 60, refresh_expires_in: 60, bind: { ip: ['10.0.0.0/8', block] } });
    t.equal(res.statusCode, 400, `${JSON.stringify(block)}: ${show(res)}`);
    t.match(json(res), { code: 'invalid_request', details: [{ path: '/bind/ip/1' }] });
  }

  // A bare address in the list is the block of that one address.
  const hosts = await issueStandalone(h, uid, { bind: { ip: ['198.51.100.7', '2001:db8::7', '::ffff:192.0.2.9'] } });
  for (const ip of ['198.51.100.7', '::ffff:198.51.100.7', '2001:0db8::0007', '192.0.2.9']) {
    t.equal((await verify(h, hosts.apikey, { ip_address: ip })).valid, true, `${ip} is a bound address`);
  }
  for (const ip of ['198.51.100.8', '2001:db8::8', '192.0.2.10', IP]) {
    t.equal((await verify(h, hosts.apikey, { ip_address: ip })).reason, 'ip_mismatch', `${ip} is not`);
  }

  const free = await issueStandalone(h, uid, { bind: { ip: false } });
  t.equal((await verify(h, free.apikey, { ip_address: '198.51.100.1' })).valid, true, 'bind.ip false: any address');
});

t.test('user_agent_mismatch, and keys not bound to a user agent', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const k = await issueStandalone(h, uid);
  t.equal((await verify(h, k.apikey, { user_agent: UA + ' ' })).reason, 'user_agent_mismatch');
  const free = await issueStandalone(h, uid, { bind: { user_agent: false } });
  t.equal((await verify(h, free.apikey, { user_agent: 'curl/8' })).valid, true);
  const res = await h.call('issue_apikey_nosession', { user_id: uid, ip_address: IP, audience: 'svc', subject: '/things', api_version: 1, expires_in: 60, refresh_expires_in: 60 });
  t.equal(res.statusCode, 201, show(res));
  t.equal((await verify(h, res.json().apikey, { user_agent: 'anything' })).valid, true, 'no user_agent given at issue: not bound');
  const asked = await h.call('issue_apikey_nosession', { user_id: uid, ip_address: IP, audience: 'svc', subject: '/things', api_version: 1, expires_in: 60, refresh_expires_in: 60, bind: { user_agent: true } });
  t.equal(asked.statusCode, 400, `bind.user_agent true without a user_agent: ${show(asked)}`);
  t.match(json(asked), { code: 'invalid_request', details: [{ path: '/user_agent' }] });
  const given = await h.call('issue_apikey_nosession', { user_id: uid, ip_address: IP, user_agent: UA, audience: 'svc', subject: '/things', api_version: 1, expires_in: 60, refresh_expires_in: 60, bind: { user_agent: true } });
  t.equal(given.statusCode, 201, show(given));
  t.equal((await verify(h, given.json().apikey, { user_agent: 'anything' })).reason, 'user_agent_mismatch', 'bound when given');
});

t.test('verify takes user agents up to 16,384 characters: a client with a long User-Agent header gets an answer, not a 400', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const free = await issueStandalone(h, uid, { bind: { user_agent: false } });
  const bound = await issueStandalone(h, uid);
  const longUa = 'Mozilla/5.0 ' + 'x'.repeat(16_384 - 12);
  t.equal(longUa.length, 16_384);
  t.same((await verify(h, free.apikey, { user_agent: longUa })).valid, true, 'a key not bound to a user agent is valid');
  t.same(await verify(h, bound.apikey, { user_agent: longUa }), { valid: false, reason: 'user_agent_mismatch' }, 'a bound key never matches one longer than issue takes');
  t.equal((await verify(h, bound.apikey)).valid, true);
  const over = await h.call('verify_apikey', { apikey: free.apikey, ip_address: IP, user_agent: longUa + 'x' });
  t.equal(over.statusCode, 400, 'over 16,384: the call is wrong');
});

t.test('audience, subject, version and scope mismatches', async (t) => {
  const h = await buildTestApp(t);
  const k = await issueStandalone(h, await newUser(h), { subject: ['/a', '/b'], api_version: 2, scopes: ['read'] });
  t.equal((await verify(h, k.apikey, { audience: 'other' })).reason, 'audience_mismatch');
  t.equal((await verify(h, k.apikey, { subject: '/c' })).reason, 'subject_mismatch');
  t.equal((await verify(h, k.apikey, { subject: '/a' })).valid, true);
  t.equal((await verify(h, k.apikey, { api_version: 3 })).reason, 'version_mismatch');
  t.equal((await verify(h, k.apikey, { api_version: '2' })).valid, true, 'versions compare as strings');
  t.equal((await verify(h, k.apikey, { scope: 'write' })).reason, 'insufficient_scope');
  t.equal((await verify(h, k.apikey, { scope: 'read' })).valid, true);
});

t.test('reasons come in the order of SPEC §4.2', async (t) => {
  const h = await buildTestApp(t);
  const db = rawDb(h);
  t.teardown(() => db.close());
  const uid = await newUser(h);
  const k = await issueStandalone(h, uid, { not_before: 10, expires_in: 20, scopes: ['read'] });
  const wrongs: [string, Record<string, unknown>][] = [
    ['ip_mismatch', { ip_address: '198.51.100.9' }],
    ['user_agent_mismatch', { user_agent: 'other' }],
    ['audience_mismatch', { audience: 'other' }],
    ['subject_mismatch', { subject: '/other' }],
    ['version_mismatch', { api_version: 99 }],
    ['insufficient_scope', { scope: 'admin' }],
  ];
  const all = Object.assign({}, ...wrongs.map(([, w]) => w));
  t.equal((await verify(h, k.apikey, all)).reason, 'not_yet_valid');
  h.clock.advance(10);
  db.prepare('UPDATE users SET is_active = 0 WHERE id = ?').run(uid);
  db.prepare("UPDATE api_keys SET revoked_at = 1 WHERE id = ?").run(k.key_id);
  t.equal((await verify(h, k.apikey, all)).reason, 'revoked', 'revoked before user_inactive');
  db.prepare('UPDATE api_keys SET revoked_at = NULL WHERE id = ?').run(k.key_id);
  t.equal((await verify(h, k.apikey, all)).reason, 'user_inactive', 'user_inactive before the request checks');
  db.prepare('UPDATE users SET is_active = 1 WHERE id = ?').run(uid);
  const wrong = { ...all };
  for (const [reason, fields] of wrongs) {
    t.equal((await verify(h, k.apikey, wrong)).reason, reason);
    for (const f of Object.keys(fields)) delete wrong[f];
  }
  t.equal((await verify(h, k.apikey, wrong)).valid, true);
  h.clock.advance(20);
  t.equal((await verify(h, k.apikey, all)).reason, 'expired', 'expired before everything read from the database');
});

t.test('rate_limited: per key, when the role has max_requests_per_minute', async (t) => {
  const h = await buildTestApp(t, { env: { AUTHNZD_PERMISSIONS: permissionsWithVerifyLimit(2) } });
  const uid = await newUser(h);
  const k = await issueStandalone(h, uid);
  const other = await issueStandalone(h, uid);
  t.equal((await verify(h, k.apikey)).valid, true);
  t.equal((await verify(h, k.apikey)).valid, true);
  const third = await verify(h, k.apikey);
  t.equal(third.reason, 'rate_limited');
  t.ok(typeof third.retry_after === 'number' && third.retry_after >= 1 && third.retry_after <= 60, `retry_after: ${JSON.stringify(third)}`);
  t.equal((await verify(h, other.apikey)).valid, true, 'the limit is per key');
  h.clock.advance(61);
  t.equal((await verify(h, k.apikey)).valid, true, 'the window slides');
});
