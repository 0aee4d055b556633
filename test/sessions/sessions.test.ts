import t from 'tap';
import { ANONYMOUS_USER_ID, SUPERUSER_ID } from '../../src/core/bootstrap.js';
import { findSession } from '../../src/core/sessions.js';
import { buildTestApp, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { insertKey, keyState, openDb, sessionIdOf } from '../users/fixtures.js';

const IP = '203.0.113.7';
const UA = 'Mozilla/5.0 test';

async function newSession(h: TestApp, body: Record<string, unknown> = {}) {
  const res = await h.call('session_new', { ip_address: IP, user_agent: UA, ...body });
  if (res.statusCode !== 201) throw new Error(show(res));
  return json<{ session_token: string; expires_at: string }>(res);
}

t.test('session_new and session_exists', async (t) => {
  const h = await buildTestApp(t);
  const res = await h.call('session_new', { ip_address: IP, user_agent: UA, extra: { csrf: 'abc' } });
  t.equal(res.statusCode, 201, show(res));
  const s = json<{ session_token: string; expires_at: string }>(res);
  t.ok(s.session_token.length >= 43, 'token carries at least 256 bits');
  t.equal(s.expires_at, new Date(h.clock.now() + h.config.sessionTtlSeconds * 1000).toISOString());

  const ex = await h.call('session_exists', { session_token: s.session_token });
  t.equal(ex.statusCode, 200, show(ex));
  t.same(json(ex), {
    exists: true,
    session: { user_id: ANONYMOUS_USER_ID, role: 'anonymous', ip_address: IP, user_agent: UA, created_at: new Date(h.clock.now()).toISOString(), expires_at: s.expires_at, extra: { csrf: 'abc' } },
    user: { user_id: ANONYMOUS_USER_ID, email: 'anonymous@authnzd.invalid', full_name: 'Anonymous', role: 'anonymous', is_active: true, email_verified: false },
  }, show(ex));

  const unknown = await h.call('session_exists', { session_token: 'azs_nope' });
  t.same(json(unknown), { exists: false, reason: 'unknown' }, show(unknown));

  const su = await newSession(h, { user_id: SUPERUSER_ID, expires_in: 60 });
  t.equal(json<{ user: { role: string } }>(await h.call('session_exists', { session_token: su.session_token })).user.role, 'superuser');
  h.clock.advance(61);
  const expired = await h.call('session_exists', { session_token: su.session_token });
  t.same(json(expired), { exists: false, reason: 'expired' }, show(expired));

  const missing = await h.call('session_new', { ip_address: IP, user_agent: UA, user_id: 9999 });
  t.equal(missing.statusCode, 404, show(missing));
  t.equal(json(missing).code, 'not_found');
  const badIp = await h.call('session_new', { ip_address: '300.1.1.1', user_agent: UA });
  t.equal(badIp.statusCode, 400, show(badIp));
});

t.test('the token is stored only as a hash', async (t) => {
  const h = await buildTestApp(t);
  const s = await newSession(h);
  const row = await h.app.store.sessions.listByUser(ANONYMOUS_USER_ID, h.clock.now());
  t.equal(row.length, 1);
  t.not(row[0]!.tokenHash, s.session_token);
  t.notMatch(JSON.stringify(row), s.session_token.slice(4));
});

t.test('login over HTTP (smoke)', async (t) => {
  const h = await buildTestApp(t);
  const anon = await newSession(h);
  const res = await h.call('user_login', { session_token: anon.session_token, email: SUPERUSER_EMAIL, password: SUPERUSER_PASSWORD });
  t.equal(res.statusCode, 200, show(res));
  t.equal(json(res).user_id, SUPERUSER_ID);
  t.equal(json(res).role, 'superuser');
});

t.test('session_delete', async (t) => {
  const h = await buildTestApp(t);
  const s = await newSession(h);
  const del = await h.call('session_delete', { session_token: s.session_token });
  t.same(json(del), { deleted: true }, show(del));
  t.same(json(await h.call('session_exists', { session_token: s.session_token })), { exists: false, reason: 'unknown' });
  t.same(json(await h.call('session_delete', { session_token: s.session_token })), { deleted: false });
});

t.test('expired sessions: session_delete answers false, session_delete_user does not count them', async (t) => {
  const h = await buildTestApp(t);
  const short = await newSession(h, { user_id: SUPERUSER_ID, expires_in: 60 });
  const short2 = await newSession(h, { user_id: SUPERUSER_ID, expires_in: 60 });
  await newSession(h, { user_id: SUPERUSER_ID, expires_in: 3600 });
  h.clock.advance(61);
  t.equal(json<{ sessions: unknown[] }>(await h.call('session_list', { user_id: SUPERUSER_ID })).sessions.length, 1, 'one live session');
  const del = await h.call('session_delete', { session_token: short.session_token });
  t.same(json(del), { deleted: false }, show(del));
  const all = await h.call('session_delete_user', { user_id: SUPERUSER_ID });
  t.same(json(all), { deleted: 1 }, `the count matches what session_list showed: ${show(all)}`);
  t.same(json(await h.call('session_exists', { session_token: short2.session_token })), { exists: false, reason: 'unknown' }, 'the expired session is gone');
});

t.test('session_delete_user with and without a kept session; session_list', async (t) => {
  const h = await buildTestApp(t);
  const tokens = [];
  for (let i = 0; i < 3; i++) {
    tokens.push((await newSession(h, { user_id: SUPERUSER_ID, user_agent: `agent ${i}` })).session_token);
    h.clock.advance(1);
  }
  const list = await h.call('session_list', { user_id: SUPERUSER_ID });
  t.equal(list.statusCode, 200, show(list));
  const sessions = json<{ sessions: { session_id: string; user_agent: string; role: string }[] }>(list).sessions;
  t.equal(sessions.length, 3);
  t.match(sessions[0], { session_id: /^ses_/, user_agent: 'agent 0', role: 'superuser' });
  t.notMatch(list.body, /azs_/, 'no tokens in a list');

  const kept = await h.call('session_delete_user', { user_id: SUPERUSER_ID, keep_session_token: tokens[1] });
  t.same(json(kept), { deleted: 2 }, show(kept));
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: tokens[1]! })).exists, true, 'the kept session lives');
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: tokens[0]! })).exists, false);

  const anon = await newSession(h);
  const foreign = await h.call('session_delete_user', { user_id: SUPERUSER_ID, keep_session_token: anon.session_token });
  t.same(json(foreign), { deleted: 1 }, 'a kept token of another user keeps nothing');
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: anon.session_token })).exists, true, "other users' sessions are untouched");
  t.same(json(await h.call('session_delete_user', { user_id: SUPERUSER_ID })), { deleted: 0 });

  const none = await h.call('session_delete_user', { user_id: 4242 });
  t.equal(none.statusCode, 404, show(none));
  const noneList = await h.call('session_list', { user_id: 4242 });
  t.equal(noneList.statusCode, 404, show(noneList));
  t.equal(json(noneList).code, 'not_found');
});

t.test('session_edit merges extra; a null deletes the key', async (t) => {
  const h = await buildTestApp(t);
  const s = await newSession(h, { extra: { a: 1, b: { nested: true }, c: 'keep' } });
  const res = await h.call('session_edit', { session_token: s.session_token, extra: { a: null, b: 2, d: [1, 2] } });
  t.equal(res.statusCode, 200, show(res));
  t.same(json<{ session: { extra: unknown } }>(res).session.extra, { b: 2, c: 'keep', d: [1, 2] });
  const ex = await h.call('session_exists', { session_token: s.session_token });
  t.same(json<{ session: { extra: unknown } }>(ex).session.extra, { b: 2, c: 'keep', d: [1, 2] }, 'stored');
  const bad = await h.call('session_edit', { session_token: 'azs_nope', extra: {} });
  t.equal(bad.statusCode, 401, show(bad));
  t.equal(json(bad).code, 'invalid_session');
  const notObject = await h.call('session_edit', { session_token: s.session_token, extra: [1] });
  t.equal(notObject.statusCode, 400, show(notObject));
});

t.test('expired sessions are purged with their keys; live ones stay', async (t) => {
  const h = await buildTestApp(t);
  const short = await newSession(h, { user_id: SUPERUSER_ID, expires_in: 60 });
  h.clock.advance(1);
  const long = await newSession(h, { user_id: SUPERUSER_ID, expires_in: 3600 });
  const db = openDb(h);
  t.teardown(() => db.close());
  const [shortId, longId] = sessionIdOf(db, SUPERUSER_ID);
  insertKey(db, 'k-short', SUPERUSER_ID, shortId!, h.clock.now());
  insertKey(db, 'k-long', SUPERUSER_ID, longId!, h.clock.now());
  t.same(await h.app.purgeExpiredSessions(), { sessions: 0, tokens: 0, unknownLoginFailures: 0 });
  h.clock.advance(60);
  t.same(await h.app.purgeExpiredSessions(), { sessions: 1, tokens: 0, unknownLoginFailures: 0 });
  t.same(sessionIdOf(db, SUPERUSER_ID), [longId]);
  t.match(keyState(db, 'k-short'), { revoked_reason: 'session_expired', revoked_at: h.clock.now() });
  t.match(keyState(db, 'k-long'), { revoked_at: null });
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: long.session_token })).exists, true);
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: short.session_token })).exists, false);
});

t.test('deleting a session revokes its keys; login rotation and logout too', async (t) => {
  const h = await buildTestApp(t);
  const db = openDb(h);
  t.teardown(() => db.close());
  const anon = await newSession(h);
  const [anonId] = sessionIdOf(db, ANONYMOUS_USER_ID);
  insertKey(db, 'k-anon', ANONYMOUS_USER_ID, anonId!, h.clock.now());
  const login = await h.call('user_login', { session_token: anon.session_token, email: SUPERUSER_EMAIL, password: SUPERUSER_PASSWORD });
  t.equal(login.statusCode, 200, show(login));
  t.match(keyState(db, 'k-anon'), { revoked_reason: 'session_deleted' }, 'login rotation revokes the old session keys');
  const [suId] = sessionIdOf(db, SUPERUSER_ID);
  insertKey(db, 'k-su', SUPERUSER_ID, suId!, h.clock.now());
  insertKey(db, 'k-standalone', SUPERUSER_ID, null, h.clock.now());
  await h.call('user_logout', { session_token: json<{ session_token: string }>(login).session_token });
  t.match(keyState(db, 'k-su'), { revoked_reason: 'session_deleted' }, 'logout revokes the session keys');
  t.match(keyState(db, 'k-standalone'), { revoked_at: null }, 'standalone keys survive a logout');

  const more = await newSession(h, { user_id: SUPERUSER_ID });
  t.ok(more);
  const [moreId] = sessionIdOf(db, SUPERUSER_ID);
  insertKey(db, 'k-more', SUPERUSER_ID, moreId!, h.clock.now());
  await h.call('session_delete_user', { user_id: SUPERUSER_ID });
  t.match(keyState(db, 'k-more'), { revoked_reason: 'session_deleted' }, 'session_delete_user revokes the session keys');
});

t.test('findSession matches user, IP (normalised) and user agent', async (t) => {
  const h = await buildTestApp(t);
  const s = await newSession(h, { user_id: SUPERUSER_ID, ip_address: '::ffff:203.0.113.7' });
  const now = h.clock.now();
  const store = h.app.store;
  t.match(await findSession(store, s.session_token, now, { userId: SUPERUSER_ID, ipAddress: IP, userAgent: UA }), { ok: true, user: { id: SUPERUSER_ID } });
  t.match(await findSession(store, s.session_token, now, { userId: ANONYMOUS_USER_ID }), { ok: false, reason: 'user_mismatch' });
  t.match(await findSession(store, s.session_token, now, { ipAddress: '203.0.113.8' }), { ok: false, reason: 'ip_mismatch' });
  t.match(await findSession(store, s.session_token, now, { userAgent: 'curl' }), { ok: false, reason: 'user_agent_mismatch' });
  t.match(await findSession(store, 'azs_x', now), { ok: false, reason: 'unknown' });
});
