import t from 'tap';
import { SUPERUSER_EMAIL, SUPERUSER_PASSWORD, buildTestApp, json, show } from '../helper.js';

/* Cases found by the SPEC audit; each failed before its fix. */

async function superSession(h: Awaited<ReturnType<typeof buildTestApp>>): Promise<string> {
  const anon = json<{ session_token: string }>(await h.call('session_new', { ip_address: '203.0.113.1', user_agent: 'edge' })).session_token;
  const res = await h.call('user_login', { session_token: anon, email: SUPERUSER_EMAIL, password: SUPERUSER_PASSWORD });
  t.equal(res.statusCode, 200, show(res));
  return json<{ session_token: string }>(res).session_token;
}

t.test('a superuser cannot delete their own account', async (t) => {
  const h = await buildTestApp(t);
  const su = await superSession(h);
  const res = await h.call('user_delete', { session_token: su, target_user_id: 1, password: SUPERUSER_PASSWORD });
  t.equal(res.statusCode, 403, show(res));
  t.equal(json(res).code, 'permission_denied');
  t.equal((await h.call('user_get', { user_id: 1 })).statusCode, 200, 'the superuser still exists');
});

t.test('the anonymous user\'s sessions cannot be listed or ended in bulk', async (t) => {
  const h = await buildTestApp(t);
  const visitor = json<{ session_token: string }>(await h.call('session_new', { ip_address: '203.0.113.2', user_agent: 'edge' })).session_token;
  for (const action of ['session_delete_user', 'session_list']) {
    const res = await h.call(action, { user_id: 2 });
    t.equal(res.statusCode, 400, `${action}: ${show(res)}`);
    t.equal(json(res).code, 'invalid_request');
  }
  const still = await h.call('session_exists', { session_token: visitor });
  t.equal(json(still).exists, true, 'visitors keep their sessions');
});

t.test('an empty password is a password: weak where the policy judges it, wrong where it is checked', async (t) => {
  const h = await buildTestApp(t);
  const call = async (action: string, body: Record<string, unknown>) => {
    const res = await h.call(action, body);
    return { status: res.statusCode, body: json<{ code?: string; ok?: boolean; reason?: string; details?: { rule?: string }[] }>(res), shown: show(res) };
  };
  const anon = async () => json<{ session_token: string }>(await h.call('session_new', { ip_address: '203.0.113.9', user_agent: 'edge' })).session_token;

  const signUp = await call('user_new', { email: 'empty@example.test', password: '', full_name: 'Empty Password' });
  t.equal(signUp.status, 400, signUp.shown);
  t.equal(signUp.body.code, 'weak_password', 'the policy refuses it (SPEC §3), not the schema');
  t.same(signUp.body.details?.map((d) => d.rule), ['min_length'], 'the length rule alone: an empty password resembles no name');

  const password = 'velvet-Trombone-sunrise-81';
  const created = json<{ user_id: number; verification_token: string }>(await h.call('user_new', { email: 'person@example.test', password, full_name: 'Some Person' }));
  await h.call('user_verify_email', { verification_token: created.verification_token });

  const login = await call('user_login', { session_token: await anon(), email: 'person@example.test', password: '' });
  t.equal(login.status, 401, login.shown);
  t.equal(login.body.code, 'invalid_credentials');
  const check = await call('user_passcheck_nosession', { email: 'person@example.test', password: '' });
  t.equal(check.status, 200, check.shown);
  t.equal(check.body.ok, false, 'a decision: ok false, not a 400');

  const session = json<{ session_token: string }>(await h.call('user_login', { session_token: await anon(), email: 'person@example.test', password })).session_token;
  const passcheck = await call('user_passcheck', { session_token: session, password: '' });
  t.equal(passcheck.status, 200, passcheck.shown);
  t.equal(passcheck.body.ok, false);
  const change = await call('user_changepass', { session_token: session, current_password: password, new_password: '' });
  t.equal(change.status, 400, change.shown);
  t.equal(change.body.code, 'weak_password');
  const wrongCurrent = await call('user_changepass', { session_token: session, current_password: '', new_password: 'another-Long-passphrase-93' });
  t.equal(wrongCurrent.status, 401, wrongCurrent.shown);
  t.equal(wrongCurrent.body.code, 'invalid_credentials');

  const reset = json<{ reset_token: string }>(await h.call('user_resetpass_token', { email: 'person@example.test' })).reset_token;
  const resetEmpty = await call('user_resetpass', { reset_token: reset, new_password: '' });
  t.equal(resetEmpty.status, 400, resetEmpty.shown);
  t.equal(resetEmpty.body.code, 'weak_password');
});
