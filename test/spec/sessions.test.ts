import t from 'tap';
import { json, show, SUPERUSER_EMAIL } from '../helper.js';
import { IP, ISO_Z, UA, activeUser, allStoredText, anon, login, specApp } from './util.js';

/* SPEC §3: session actions, exact answer shapes. */

t.test('session_new: 201 {session_token, expires_at}, defaults to the anonymous user', async (t) => {
  const h = await specApp(t);
  const res = await h.call('session_new', { ip_address: IP, user_agent: UA, expires_in: 120, extra: { a: 1 } });
  t.equal(res.statusCode, 201, show(res));
  const b = json<{ session_token: string; expires_at: string }>(res);
  t.same(Object.keys(b).sort(), ['expires_at', 'session_token']);
  t.match(b.expires_at, ISO_Z);
  t.equal(Date.parse(b.expires_at), h.clock.now() + 120_000);
  const ex = json<{ exists: boolean; session: Record<string, unknown>; user: Record<string, unknown> }>(await h.call('session_exists', { session_token: b.session_token }));
  t.equal(ex.exists, true);
  t.equal(ex.session.role, 'anonymous');
  t.equal(ex.user.role, 'anonymous');
  t.same(ex.session.extra, { a: 1 });
  t.notMatch((await allStoredText(h)), b.session_token, 'the session token is not stored');
  t.notMatch((await allStoredText(h)), b.session_token.replace(/^azs_/, ''), 'nor its random part');
});

t.test('session_exists: the exact shape of both answers', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const token = await login(h, u.email);
  const res = await h.call('session_exists', { session_token: token });
  t.equal(res.statusCode, 200, show(res));
  const b = json<{ exists: boolean; session: Record<string, unknown>; user: Record<string, unknown> }>(res);
  t.same(Object.keys(b).sort(), ['exists', 'session', 'user']);
  t.same(Object.keys(b.session).sort(), ['created_at', 'expires_at', 'extra', 'ip_address', 'role', 'user_agent', 'user_id']);
  t.same(Object.keys(b.user).sort(), ['email', 'email_verified', 'full_name', 'is_active', 'role', 'user_id']);
  t.match(b.session, { user_id: u.id, role: 'authenticated', ip_address: IP, user_agent: UA });
  t.match(b.user, { user_id: u.id, email: u.email, full_name: 'Spec Person', role: 'authenticated', is_active: true, email_verified: true });
  t.match(b.session.created_at, ISO_Z);
  t.match(b.session.expires_at, ISO_Z);
  t.notOk('session_token' in b.session, 'no token in the answer');

  const no = await h.call('session_exists', { session_token: 'azs_does-not-exist' });
  t.equal(no.statusCode, 200, 'a no is a 200');
  const nb = json<{ exists: boolean; reason: string }>(no);
  t.same(Object.keys(nb).sort(), ['exists', 'reason']);
  t.equal(nb.exists, false);
  t.type(nb.reason, 'string');
});

t.test('session_delete and session_delete_user', async (t) => {
  const h = await specApp(t);
  const s = await anon(h);
  t.same(json(await h.call('session_delete', { session_token: s })), { deleted: true });
  t.same(json(await h.call('session_delete', { session_token: s })), { deleted: false });
  t.equal(json(await h.call('session_exists', { session_token: s })).exists, false);

  const u = await activeUser(h);
  const a = await login(h, u.email);
  const b = await login(h, u.email);
  const c = await login(h, u.email);
  const r = await h.call('session_delete_user', { user_id: u.id, keep_session_token: b });
  t.equal(r.statusCode, 200, show(r));
  t.same(json(r), { deleted: 2 });
  t.equal(json(await h.call('session_exists', { session_token: a })).exists, false);
  t.equal(json(await h.call('session_exists', { session_token: b })).exists, true, 'kept');
  t.equal(json(await h.call('session_exists', { session_token: c })).exists, false);
  t.same(json(await h.call('session_delete_user', { user_id: u.id })), { deleted: 1 });
  const missing = await h.call('session_delete_user', { user_id: 99999 });
  t.equal(missing.statusCode, 404, show(missing));
  t.equal(json(missing).code, 'not_found');
});

t.test('session_list: no tokens, an id per session', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const a = await login(h, u.email);
  const b = await login(h, u.email, undefined, '2001:db8::7', 'other agent');
  const res = await h.call('session_list', { user_id: u.id });
  t.equal(res.statusCode, 200, show(res));
  const list = json<{ sessions: Record<string, unknown>[] }>(res).sessions;
  t.equal(list.length, 2);
  const ids = new Set(list.map((s) => Object.values(s).find((v) => typeof v === 'string' && /id/.test(String(Object.keys(s).find((k) => s[k] === v))))));
  t.equal(ids.size, 2, `distinct ids: ${res.body}`);
  t.notMatch(res.body, a, 'no token a');
  t.notMatch(res.body, b, 'no token b');
  t.notMatch(res.body, /token/i, 'no token field');
  for (const s of list) {
    t.match(s, { user_id: u.id, role: 'authenticated' });
    t.match(s.created_at, ISO_Z);
    t.match(s.expires_at, ISO_Z);
  }
  t.ok(list.some((s) => s.ip_address === '2001:db8::7' && s.user_agent === 'other agent'));
});

t.test('session_edit merges extra, null deletes a key', async (t) => {
  const h = await specApp(t);
  const res0 = await h.call('session_new', { ip_address: IP, user_agent: UA, extra: { keep: 1, drop: 'x', nested: { a: 1 } } });
  const s = json<{ session_token: string }>(res0).session_token;
  const res = await h.call('session_edit', { session_token: s, extra: { drop: null, added: [1, 2], nested: { b: 2 } } });
  t.equal(res.statusCode, 200, show(res));
  const b = json<{ session: Record<string, unknown> }>(res);
  t.same(Object.keys(b), ['session']);
  t.same(b.session.extra, { keep: 1, added: [1, 2], nested: { b: 2 } }, show(res));
  t.match(b.session, { user_id: 2, role: 'anonymous', ip_address: IP, user_agent: UA });
  const ex = json<{ session: { extra: unknown } }>(await h.call('session_exists', { session_token: s }));
  t.same(ex.session.extra, { keep: 1, added: [1, 2], nested: { b: 2 } }, 'stored');
  const gone = await h.call('session_edit', { session_token: 'azs_unknown', extra: { a: 1 } });
  t.equal(gone.statusCode, 401, show(gone));
  t.equal(json(gone).code, 'invalid_session');
  t.equal((await h.call('session_edit', { session_token: s, extra: 'x' })).statusCode, 400, 'extra must be an object');
});

t.test('session_new for an inactive or unknown user', async (t) => {
  const h = await specApp(t);
  const res = await h.call('user_new', { email: 'pending@example.org', password: 'orchid-Lantern-quietly-507', full_name: 'P' });
  const id = json<{ user_id: number }>(res).user_id;
  const s = await h.call('session_new', { ip_address: IP, user_agent: UA, user_id: id });
  t.equal(s.statusCode, 403, show(s));
  t.equal(json(s).code, 'user_inactive');
  const su = await h.call('session_new', { ip_address: IP, user_agent: UA, user_id: 1 });
  t.equal(su.statusCode, 201, `superuser session: ${show(su)}`);
  t.ok(SUPERUSER_EMAIL);
});
