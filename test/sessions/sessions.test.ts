import t from 'tap';
import { ANONYMOUS_USER_ID, SUPERUSER_ID } from '../../src/core/bootstrap.js';
import { buildTestApp, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';

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
