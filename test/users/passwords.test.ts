import t from 'tap';
import { buildTestApp, json, show, type TestApp } from '../helper.js';
import { anonSession, insertKey, keyState, loginAs, openDb, PASSWORD, sessionIdOf, verifiedUser } from './fixtures.js';

const NEW_PASSWORD = 'marble-Lantern-orchard-62';

function quiet(h: TestApp): void {
  h.app.logins.sleep = async () => {};
}

t.test('user_changepass: other sessions and all keys are revoked, this session stays', async (t) => {
  const h = await buildTestApp(t);
  quiet(h);
  const id = await verifiedUser(h, 'change@example.com');
  const mine = await loginAs(h, 'change@example.com');
  h.clock.advance(1);
  const other = await loginAs(h, 'change@example.com');
  const db = openDb(h);
  t.teardown(() => db.close());
  const [mineId, otherId] = sessionIdOf(db, id);
  insertKey(db, 'k-mine', id, mineId!, h.clock.now());
  insertKey(db, 'k-other', id, otherId!, h.clock.now());
  insertKey(db, 'k-standalone', id, null, h.clock.now());

  const wrong = await h.call('user_changepass', { session_token: mine, current_password: 'wrong-password-1', new_password: NEW_PASSWORD });
  t.equal(wrong.statusCode, 401, show(wrong));
  t.equal(json(wrong).code, 'invalid_credentials');
  const weak = await h.call('user_changepass', { session_token: mine, current_password: PASSWORD, new_password: 'password1234' });
  t.equal(weak.statusCode, 400, show(weak));
  t.equal(json(weak).code, 'weak_password');
  t.match(json(weak).details, [{ rule: 'common_password' }]);
  t.same(json<{ details: { path: string }[] }>(weak).details.map((d) => d.path), ['/new_password'], `details name the field sent: ${show(weak)}`);
  const noSession = await h.call('user_changepass', { session_token: 'azs_x', current_password: PASSWORD, new_password: NEW_PASSWORD });
  t.equal(noSession.statusCode, 401, show(noSession));
  t.equal(json(noSession).code, 'invalid_session');
  t.match(keyState(db, 'k-standalone'), { revoked_at: null }, 'failed attempts change nothing');

  const ok = await h.call('user_changepass', { session_token: mine, current_password: PASSWORD, new_password: NEW_PASSWORD });
  t.equal(ok.statusCode, 200, show(ok));
  t.same(json(ok), { user_id: id });
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: mine })).exists, true, 'the acting session stays');
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: other })).exists, false, 'other sessions are gone');
  for (const k of ['k-mine', 'k-standalone']) t.match(keyState(db, k), { revoked_reason: 'password_changed' }, `${k} revoked`);
  t.match(keyState(db, 'k-other'), { revoked_reason: 'password_changed' });

  t.equal((await h.call('user_passcheck_nosession', { email: 'change@example.com', password: NEW_PASSWORD })).json().ok, true);
  t.equal((await h.call('user_passcheck_nosession', { email: 'change@example.com', password: PASSWORD })).json().ok, false);
  const audit = await h.call('audit_query', { event: 'password_change', target_user_id: id });
  t.match(json(audit).events, [{ outcome: 'success', actor_user_id: id }], show(audit));
});

t.test('reset: token for known and unknown emails alike; reset revokes everything; single use; expiry', async (t) => {
  const h = await buildTestApp(t);
  quiet(h);
  const id = await verifiedUser(h, 'reset@example.com');
  const session = await loginAs(h, 'reset@example.com');
  const db = openDb(h);
  t.teardown(() => db.close());
  insertKey(db, 'k-1', id, null, h.clock.now());

  const known = await h.call('user_resetpass_token', { email: ' RESET@example.com' });
  const unknown = await h.call('user_resetpass_token', { email: 'ghost@example.com' });
  t.equal(known.statusCode, 200, show(known));
  t.equal(unknown.statusCode, 200, show(unknown));
  const shape = (r: typeof known) => Object.keys(json(r)).sort().join() + ':' + json<{ reset_token: string }>(r).reset_token.length;
  t.equal(shape(known), shape(unknown), 'unknown emails answer the same shape');
  const token = json<{ reset_token: string; expires_at: string }>(known);
  t.equal(token.expires_at, new Date(h.clock.now() + 3600_000).toISOString());

  const ghost = await h.call('user_resetpass', { reset_token: json<{ reset_token: string }>(unknown).reset_token, new_password: NEW_PASSWORD });
  t.equal(ghost.statusCode, 400, show(ghost));
  t.equal(json(ghost).code, 'invalid_request');

  const weak = await h.call('user_resetpass', { reset_token: token.reset_token, new_password: 'reset@example.com' });
  t.equal(weak.statusCode, 400, show(weak));
  t.equal(json(weak).code, 'weak_password');
  t.match(json(weak).details, [{ rule: 'similar_to_user' }]);
  t.same(json<{ details: { path: string }[] }>(weak).details.map((d) => d.path), ['/new_password'], `details name the field sent: ${show(weak)}`);

  const ok = await h.call('user_resetpass', { reset_token: token.reset_token, new_password: NEW_PASSWORD });
  t.equal(ok.statusCode, 200, `a weak attempt does not spend the token: ${show(ok)}`);
  t.same(json(ok), { user_id: id });
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: session })).exists, false, 'all sessions revoked');
  t.match(keyState(db, 'k-1'), { revoked_reason: 'password_reset' });
  const twice = await h.call('user_resetpass', { reset_token: token.reset_token, new_password: 'another-Fresh-passphrase-5' });
  t.equal(twice.statusCode, 400, `single use: ${show(twice)}`);
  t.equal((await h.call('user_passcheck_nosession', { email: 'reset@example.com', password: NEW_PASSWORD })).json().ok, true);

  const late = json<{ reset_token: string }>(await h.call('user_resetpass_token', { email: 'reset@example.com' })).reset_token;
  h.clock.advance(3601);
  const expired = await h.call('user_resetpass', { reset_token: late, new_password: 'another-Fresh-passphrase-5' });
  t.equal(expired.statusCode, 400, `expired: ${show(expired)}`);
  t.same(await h.app.purgeExpiredSessions(), { sessions: 0, tokens: 3, unknownLoginFailures: 0 }, 'spent (verification, reset) and expired tokens are purged');
  const audit = await h.call('audit_query', { event: 'password_reset' });
  t.equal(json<{ events: unknown[] }>(audit).events.length, 1, show(audit));
});

t.test('a reset lifts the temporary lock but never the admin lock', async (t) => {
  const h = await buildTestApp(t, { env: { AUTHNZD_LOGIN_MAX_FAILURES: '2' } });
  quiet(h);
  await verifiedUser(h, 'templock@example.com');
  for (const pw of ['wrong-password-1', 'wrong-password-2']) {
    await h.call('user_login', { session_token: await anonSession(h), email: 'templock@example.com', password: pw });
  }
  const locked = await h.call('user_login', { session_token: await anonSession(h), email: 'templock@example.com', password: PASSWORD });
  t.equal(locked.statusCode, 423, show(locked));
  const token = json<{ reset_token: string }>(await h.call('user_resetpass_token', { email: 'templock@example.com' })).reset_token;
  t.equal((await h.call('user_resetpass', { reset_token: token, new_password: NEW_PASSWORD })).statusCode, 200);
  const after = await h.call('user_login', { session_token: await anonSession(h), email: 'templock@example.com', password: NEW_PASSWORD });
  t.equal(after.statusCode, 200, show(after));
});
