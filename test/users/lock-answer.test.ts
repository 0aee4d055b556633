import t from 'tap';
import { buildTestApp, FakeClock, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { anonSession, loginAs, PASSWORD, verifiedUser } from './fixtures.js';

/*
 * SPEC §2: 423 account_locked carries `retry_after` "when temporary". An admin lock is not
 * temporary, so while one is in force the answer has no retry_after, even when a temporary lock
 * from earlier failures has not run out yet: waiting retry_after seconds would not help.
 */

const loginBody = async (h: TestApp, email: string, password: string) => ({ session_token: await anonSession(h), email, password });

t.test('an admin lock over a running temporary lock answers 423 without retry_after', async (t) => {
  const clock = new FakeClock();
  const h = await buildTestApp(t, { clock, env: { AUTHNZD_LOGIN_MAX_FAILURES: '2', AUTHNZD_LOGIN_LOCK_SECONDS: '3600' } });
  h.app.logins.sleep = async () => {};
  const id = await verifiedUser(h, 'both-locks@example.com');
  await h.call('user_login', await loginBody(h, 'both-locks@example.com', 'wrong-password-1'));
  const locking = await h.call('user_login', await loginBody(h, 'both-locks@example.com', 'wrong-password-2'));
  t.equal(locking.statusCode, 401, `the failure that locks is a plain failure: ${show(locking)}`);
  const temp = await h.call('user_login', await loginBody(h, 'both-locks@example.com', PASSWORD));
  t.equal(temp.statusCode, 423, show(temp));
  t.equal(json(temp).retry_after, 3600, 'the temporary lock has its retry_after');
  t.equal(temp.headers['retry-after'], '3600', 'and the Retry-After header says the same');

  const su = await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  const lock = await h.call('user_lock', { session_token: su, target_user_id: id, locked: true });
  t.equal(lock.statusCode, 200, show(lock));

  clock.advance(60);
  for (const password of [PASSWORD, 'wrong-password-3']) {
    const res = await h.call('user_login', await loginBody(h, 'both-locks@example.com', password));
    t.equal(res.statusCode, 423, show(res));
    t.equal(json(res).code, 'account_locked');
    t.notOk('retry_after' in json(res), `an admin lock is not temporary: no retry_after (${show(res)})`);
    t.notOk('retry-after' in res.headers, 'nor a Retry-After header');
  }
  const check = await h.call('user_passcheck_nosession', { email: 'both-locks@example.com', password: PASSWORD });
  t.same(json(check), { ok: false, user_id: null, reason: 'account_locked' }, show(check));

  // An unlock lifts both (users.md: unlocking clears the failed-login count and its lock).
  const unlock = await h.call('user_lock', { session_token: su, target_user_id: id, locked: false });
  t.equal(unlock.statusCode, 200, show(unlock));
  const after = await h.call('user_login', await loginBody(h, 'both-locks@example.com', PASSWORD));
  t.equal(after.statusCode, 200, show(after));
});

t.test('an unlock lifts a temporary lock on a user under no admin lock', async (t) => {
  const clock = new FakeClock();
  const h = await buildTestApp(t, { clock, env: { AUTHNZD_LOGIN_MAX_FAILURES: '2', AUTHNZD_LOGIN_LOCK_SECONDS: '3600' } });
  h.app.logins.sleep = async () => {};
  const id = await verifiedUser(h, 'temp-only@example.com');
  for (const password of ['wrong-password-1', 'wrong-password-2']) {
    await h.call('user_login', await loginBody(h, 'temp-only@example.com', password));
  }
  const temp = await h.call('user_login', await loginBody(h, 'temp-only@example.com', PASSWORD));
  t.equal(temp.statusCode, 423, `temporarily locked: ${show(temp)}`);

  const su = await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  const unlock = await h.call('user_lock', { session_token: su, target_user_id: id, locked: false });
  t.equal(unlock.statusCode, 200, show(unlock));
  t.equal((json(unlock).user as { role: string }).role, 'authenticated', 'the role is untouched');
  const after = await h.call('user_login', await loginBody(h, 'temp-only@example.com', PASSWORD));
  t.equal(after.statusCode, 200, `the unlock lifted the temporary lock: ${show(after)}`);

  // The count started again: one failure is not enough to lock.
  await h.call('user_login', await loginBody(h, 'temp-only@example.com', 'wrong-password-3'));
  const again = await h.call('user_login', await loginBody(h, 'temp-only@example.com', PASSWORD));
  t.equal(again.statusCode, 200, show(again));

  const audit = await h.call('audit_query', { event: 'user_unlock' });
  t.equal(audit.statusCode, 200, show(audit));
  t.equal((json(audit).events as unknown[]).length, 1, 'the unlock is audited');

  // Nothing to lift: an unlock of a user with no lock and no failures is a no-op (no audit event).
  const idle = await h.call('user_lock', { session_token: su, target_user_id: id, locked: false });
  t.equal(idle.statusCode, 200, show(idle));
  t.equal((json(await h.call('audit_query', { event: 'user_unlock' })).events as unknown[]).length, 1, 'no second event');
});
