import t from 'tap';
import { json, show } from '../helper.js';
import { IP, ISO_Z, UA, activeUser, allStoredText, anon, issueKey, issueStandalone, keyBody, login, superLogin, verify, specApp, query } from './util.js';

/* SPEC §4: API keys over HTTP. Exact shapes, reasons, nothing usable at rest. */

const b64json = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;

t.test('issue_apikey: 201 shape, the key format, verify answer shape', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const s = await login(h, u.email);
  const res = await h.call('issue_apikey', { session_token: s, ip_address: IP, user_agent: UA, ...keyBody, api_version: 'v2', not_before: 5, scopes: ['read', 'write'], subject: ['/a', '/b'] });
  t.equal(res.statusCode, 201, show(res));
  const k = json<{ apikey: string; key_id: string; expires_at: string; not_before: string }>(res);
  t.same(Object.keys(k).sort(), ['apikey', 'expires_at', 'key_id', 'not_before']);
  t.match(k.expires_at, ISO_Z);
  t.match(k.not_before, ISO_Z);
  t.equal(Date.parse(k.not_before), h.clock.now() + 5000);
  t.equal(Date.parse(k.expires_at), h.clock.now() + 3600_000);
  t.match(k.apikey, /^azk_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'azk_ + compact JWE');
  const header = b64json(k.apikey.slice(4).split('.')[0]!);
  t.equal(header.alg, 'dir');
  t.equal(header.enc, 'A256GCM');
  t.type(header.kid, 'string');

  t.same(await verify(h, k.apikey), { valid: false, reason: 'not_yet_valid' });
  h.clock.advance(5);
  const v = await h.call('verify_apikey', { apikey: k.apikey, ip_address: IP, user_agent: UA, audience: 'svc', subject: '/b', api_version: 'v2', scope: 'write' });
  t.equal(v.statusCode, 200, show(v));
  const vb = json<{ valid: boolean; key: Record<string, unknown> }>(v);
  t.same(Object.keys(vb).sort(), ['key', 'valid']);
  t.same(Object.keys(vb.key).sort(), ['api_version', 'audience', 'expires_at', 'key_id', 'kind', 'role', 'scopes', 'subject', 'user_id']);
  t.match(vb.key, { key_id: k.key_id, kind: 'session', user_id: u.id, role: 'authenticated', audience: 'svc', api_version: 'v2', expires_at: k.expires_at });
  t.same(vb.key.scopes, ['read', 'write']);
  t.same(vb.key.subject, ['/a', '/b']);

  const std = await issueStandalone(h, u.id);
  t.same(Object.keys(std).sort(), ['apikey', 'expires_at', 'key_id', 'refresh_expires_at', 'refresh_token']);
  t.match(std.refresh_expires_at, ISO_Z);
  const sv = await verify(h, std.apikey);
  t.equal(sv.valid, true, JSON.stringify(sv));
  t.equal(sv.key?.kind, 'standalone');
  t.equal(sv.key?.api_version, 1, 'an integer api_version comes back as given');
});

t.test('no usable key, token or refresh token at rest', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const s = await login(h, u.email);
  const k = await issueKey(h, s);
  const std = await issueStandalone(h, u.id);
  const stored = (await allStoredText(h));
  for (const secret of [k.apikey, std.apikey, std.refresh_token, s]) {
    t.notOk(stored.includes(secret), 'secret not stored');
    t.notOk(stored.includes(secret.slice(4, 40)), 'no prefix-stripped part either');
  }
  const rows = await query(h, 'SELECT * FROM api_keys');
  t.equal(rows.length, 2);
  for (const r of rows) {
    const hash = Object.entries(r).find(([c]) => /token_hash/.test(c))?.[1];
    t.ok(typeof hash === 'string' || Buffer.isBuffer(hash), 'a token hash column');
  }
});

t.test('issue_apikey refusals: session, match, policy', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const s = await login(h, u.email);
  const cases: [string, Record<string, unknown>, number, string][] = [
    ['unknown session', { session_token: 'azs_nope' }, 401, 'invalid_session'],
    ['other ip', { ip_address: '192.0.2.99' }, 401, 'invalid_session'],
    ['other user agent', { user_agent: 'else' }, 401, 'invalid_session'],
  ];
  for (const [name, over, status, code] of cases) {
    const r = await h.call('issue_apikey', { session_token: s, ip_address: IP, user_agent: UA, ...keyBody, ...over });
    t.equal(r.statusCode, status, `${name}: ${show(r)}`);
    t.equal(json(r).code, code, name);
  }
  const a = await anon(h);
  const an = await h.call('issue_apikey', { session_token: a, ip_address: IP, user_agent: UA, ...keyBody });
  t.equal(an.statusCode, 403, `anonymous: ${show(an)}`);
  t.equal(json(an).code, 'permission_denied');
  h.clock.advance(40 * 86400);
  const expired = await h.call('issue_apikey', { session_token: s, ip_address: IP, user_agent: UA, ...keyBody });
  t.equal(json(expired).code, 'invalid_session', `expired session: ${show(expired)}`);
});

t.test('revoke_apikey by apikey or key_id; revoke_all_apikeys; list_apikeys never leaks secrets', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const s = await login(h, u.email);
  const k1 = await issueKey(h, s, { scopes: ['x'] });
  const k2 = await issueKey(h, s);
  const k3 = await issueStandalone(h, u.id);
  const list = await h.call('list_apikeys', { session_token: s });
  t.equal(list.statusCode, 200, show(list));
  const keys = json<{ keys: Record<string, unknown>[] }>(list).keys;
  t.equal(keys.length, 3);
  for (const k of keys) {
    t.same(Object.keys(k).sort(), ['api_version', 'audience', 'expires_at', 'issued_at', 'key_id', 'kind', 'last_used_at', 'revoked_at', 'scopes', 'subject']);
    t.match(k.issued_at, ISO_Z);
    t.equal(k.revoked_at, null);
  }
  for (const secret of [k1.apikey, k2.apikey, k3.apikey, k3.refresh_token]) t.notOk(list.body.includes(secret));
  t.notMatch(list.body, /hash|tkn|azk_|azr_/i);

  const byKey = await h.call('revoke_apikey', { session_token: s, apikey: k1.apikey, reason: 'lost laptop' });
  t.equal(byKey.statusCode, 200, show(byKey));
  t.same(json(byKey), { revoked: true });
  t.same(await verify(h, k1.apikey), { valid: false, reason: 'revoked' });
  const byId = await h.call('revoke_apikey', { session_token: s, key_id: k2.key_id });
  t.same(json(byId), { revoked: true }, show(byId));
  t.same(await verify(h, k2.apikey), { valid: false, reason: 'revoked' });
  const neither = await h.call('revoke_apikey', { session_token: s });
  t.equal(neither.statusCode, 400, show(neither));
  const unknown = await h.call('revoke_apikey', { session_token: s, key_id: 'key_unknown' });
  t.equal(unknown.statusCode, 404, show(unknown));
  t.equal(json(unknown).code, 'not_found');
  const listed = json<{ keys: { key_id: string; revoked_at: string | null }[] }>(await h.call('list_apikeys', { session_token: s })).keys;
  t.match(listed.find((k) => k.key_id === k1.key_id)?.revoked_at, ISO_Z, 'revoked_at shown');

  const other = await activeUser(h);
  const os = await login(h, other.email);
  const notMine = await h.call('revoke_apikey', { session_token: os, key_id: k3.key_id });
  t.equal(notMine.statusCode, 403, show(notMine));
  t.equal(json(notMine).code, 'permission_denied');
  const targetOther = await h.call('revoke_all_apikeys', { session_token: os, target_user_id: u.id });
  t.equal(targetOther.statusCode, 403, `target_user_id is superuser only: ${show(targetOther)}`);
  const listOther = await h.call('list_apikeys', { session_token: os, target_user_id: u.id });
  t.equal(listOther.statusCode, 403, show(listOther));

  const k4 = await issueKey(h, s);
  const all = await h.call('revoke_all_apikeys', { session_token: s });
  t.equal(all.statusCode, 200, show(all));
  t.same(json(all), { revoked: 2 }, 'k3 and k4 were live');
  t.same(await verify(h, k4.apikey), { valid: false, reason: 'revoked' });

  const k5 = await issueStandalone(h, u.id);
  const su = await superLogin(h);
  const suAll = await h.call('revoke_all_apikeys', { session_token: su, target_user_id: u.id });
  t.same(json(suAll), { revoked: 1 }, show(suAll));
  t.same(await verify(h, k5.apikey), { valid: false, reason: 'revoked' });
  const suList = await h.call('list_apikeys', { session_token: su, target_user_id: u.id });
  t.equal(suList.statusCode, 200, show(suList));
  t.equal(json<{ keys: unknown[] }>(suList).keys.length, 5);
});

t.test('refresh_apikey: 201, old key and token dead, reuse revokes descendants, session keys refuse', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const k = await issueStandalone(h, u.id);
  const r1 = await h.call('refresh_apikey', { apikey: k.apikey, refresh_token: k.refresh_token, ip_address: IP, user_agent: UA });
  t.equal(r1.statusCode, 201, show(r1));
  const n1 = json<{ apikey: string; key_id: string; expires_at: string; refresh_token: string; refresh_expires_at: string }>(r1);
  t.same(Object.keys(n1).sort(), ['apikey', 'expires_at', 'key_id', 'refresh_expires_at', 'refresh_token']);
  t.not(n1.key_id, k.key_id);
  t.equal((await verify(h, k.apikey)).valid, false, 'the old key stops working');
  t.equal((await verify(h, n1.apikey)).valid, true);
  const reuse = await h.call('refresh_apikey', { apikey: k.apikey, refresh_token: k.refresh_token, ip_address: IP, user_agent: UA });
  t.equal(reuse.statusCode, 401, show(reuse));
  t.equal(json(reuse).code, 'invalid_refresh_token');
  t.same(await verify(h, n1.apikey), { valid: false, reason: 'revoked' }, 'reuse revokes every descendant');
  const after = await h.call('refresh_apikey', { apikey: n1.apikey, refresh_token: n1.refresh_token, ip_address: IP, user_agent: UA });
  t.equal(json(after).code, 'invalid_refresh_token', `the descendant's refresh dies too: ${show(after)}`);

  const s = await login(h, u.email);
  const sk = await issueKey(h, s);
  const bogus = await h.call('refresh_apikey', { apikey: sk.apikey, refresh_token: 'azr_whatever', ip_address: IP, user_agent: UA });
  t.equal(bogus.statusCode, 401, `a session key cannot be refreshed: ${show(bogus)}`);
  t.equal(json(bogus).code, 'invalid_refresh_token');
  const k2 = await issueStandalone(h, u.id);
  const crossed = await h.call('refresh_apikey', { apikey: sk.apikey, refresh_token: k2.refresh_token, ip_address: IP, user_agent: UA });
  t.equal(crossed.statusCode, 401, `session key with a real refresh token: ${show(crossed)}`);
  t.equal(json(crossed).code, 'invalid_refresh_token');
  const garbage = await h.call('refresh_apikey', { apikey: 'azk_garbage', refresh_token: k2.refresh_token, ip_address: IP, user_agent: UA });
  t.equal(garbage.statusCode, 401, show(garbage));
  t.equal(json(garbage).code, 'invalid_refresh_token');
});

t.test('verify reasons are values, never 4xx', async (t) => {
  const h = await specApp(t);
  t.same(await verify(h, 'not-a-key'), { valid: false, reason: 'malformed' });
  const u = await activeUser(h);
  const k = await issueStandalone(h, u.id, { scopes: ['read'] });
  const parts = k.apikey.split('.');
  parts[4] = (parts[4]![0] === 'A' ? 'B' : 'A') + parts[4]!.slice(1);
  t.same(await verify(h, parts.join('.')), { valid: false, reason: 'invalid' }, 'a tampered tag');
  t.same(await verify(h, k.apikey, { ip_address: '192.0.2.200' }), { valid: false, reason: 'ip_mismatch' });
  t.same(await verify(h, k.apikey, { user_agent: 'x' }), { valid: false, reason: 'user_agent_mismatch' });
  t.same(await verify(h, k.apikey, { audience: 'x' }), { valid: false, reason: 'audience_mismatch' });
  t.same(await verify(h, k.apikey, { subject: '/x' }), { valid: false, reason: 'subject_mismatch' });
  t.same(await verify(h, k.apikey, { api_version: 2 }), { valid: false, reason: 'version_mismatch' });
  t.same(await verify(h, k.apikey, { api_version: '1' }), { valid: true, key: (await verify(h, k.apikey)).key }, 'version "1" equals 1');
  t.same(await verify(h, k.apikey, { scope: 'write' }), { valid: false, reason: 'insufficient_scope' });
  h.clock.advance(3601);
  t.same(await verify(h, k.apikey), { valid: false, reason: 'expired' });
  const cidr = await issueStandalone(h, 1, { bind: { ip: ['10.0.0.0/8', '2001:db8::/32'], user_agent: false } });
  t.equal((await verify(h, cidr.apikey, { ip_address: '10.9.8.7', user_agent: 'any' })).valid, true);
  t.equal((await verify(h, cidr.apikey, { ip_address: '2001:db8::42' })).valid, true);
  t.same(await verify(h, cidr.apikey, { ip_address: '11.0.0.1' }), { valid: false, reason: 'ip_mismatch' });
  const unbound = await issueStandalone(h, 1, { bind: { ip: false, user_agent: false } });
  t.equal((await verify(h, unbound.apikey, { ip_address: '203.0.113.200', user_agent: 'whatever' })).valid, true);
});

// SPEC §4.2 lists "deactivated" under user_inactive, and deactivation is not among the events that
// revoke all keys: deactivation ends the sessions (and their session keys) but leaves standalone
// keys. Every key of the deactivated owner answers user_inactive while the owner is inactive, the
// session key too (as for a lock); after reactivation the session key stays revoked.
t.test('a deactivated owner makes keys answer user_inactive', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const k = await issueStandalone(h, u.id);
  const sk = await issueKey(h, await login(h, u.email));
  const su = await superLogin(h);
  const off = await h.call('user_edit', { session_token: su, target_user_id: u.id, update: { is_active: false } });
  t.equal(off.statusCode, 200, show(off));
  t.same(await verify(h, k.apikey), { valid: false, reason: 'user_inactive' }, 'deactivated owner');
  t.same(await verify(h, sk.apikey), { valid: false, reason: 'user_inactive' }, 'deactivated owner: session key');
  const on = await h.call('user_edit', { session_token: su, target_user_id: u.id, update: { is_active: true } });
  t.equal(on.statusCode, 200, show(on));
  t.equal((await verify(h, k.apikey)).valid, true, 'reactivated: the standalone key works again');
  t.same(await verify(h, sk.apikey), { valid: false, reason: 'revoked' }, 'reactivated: the session key ended with its session');
});
