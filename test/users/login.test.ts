import t from 'tap';
import { SUPERUSER_ID } from '../../src/core/bootstrap.js';
import { hashPassword } from '../../src/core/passwords.js';
import { buildTestApp, FakeClock, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { anonSession, IP, loginAs, openDb, PASSWORD, UA, verifiedUser } from './fixtures.js';

/** Records backoff delays instead of sleeping. */
function recordDelays(h: TestApp): number[] {
  const delays: number[] = [];
  h.app.logins.sleep = async (ms) => {
    delays.push(ms);
  };
  return delays;
}

const loginBody = async (h: TestApp, email: string, password: string) => ({ session_token: await anonSession(h), email, password });

t.test('login rotates the session: the presented one is gone, a new one is returned', async (t) => {
  const h = await buildTestApp(t);
  const anon = await anonSession(h, { extra: { cart: 3 } });
  const res = await h.call('user_login', { session_token: anon, email: SUPERUSER_EMAIL, password: SUPERUSER_PASSWORD });
  t.equal(res.statusCode, 200, show(res));
  const body = json<{ user_id: number; role: string; session_token: string; expires_at: string }>(res);
  t.match(body, { user_id: SUPERUSER_ID, role: 'superuser' });
  t.not(body.session_token, anon);
  const old = await h.call('session_exists', { session_token: anon });
  t.same(json(old), { exists: false, reason: 'unknown' }, 'authnzerver: the login session is gone after login');
  const now = await h.call('session_exists', { session_token: body.session_token });
  t.match(json(now), { exists: true, session: { user_id: SUPERUSER_ID, role: 'superuser', ip_address: IP, user_agent: UA } }, show(now));

  const reuse = await h.call('user_login', { session_token: anon, email: SUPERUSER_EMAIL, password: SUPERUSER_PASSWORD });
  t.equal(reuse.statusCode, 401, show(reuse));
  t.equal(json(reuse).code, 'invalid_session');

  const audit = await h.call('audit_query', { event: 'login' });
  t.match(json(audit).events, [{ event: 'login', outcome: 'success', actor_user_id: SUPERUSER_ID }], show(audit));
});

t.test('a presented session is spent by one login only, even when two race', async (t) => {
  const h = await buildTestApp(t);
  const anon = await anonSession(h);
  const body = { session_token: anon, email: SUPERUSER_EMAIL, password: SUPERUSER_PASSWORD };
  const [a, b] = await Promise.all([h.call('user_login', body), h.call('user_login', body)]);
  t.same([a.statusCode, b.statusCode].sort(), [200, 401], `${show(a)} / ${show(b)}`);
  const list = await h.call('session_list', { user_id: SUPERUSER_ID });
  t.equal(json<{ sessions: unknown[] }>(list).sessions.length, 1, 'one new session, not two');
});

t.test('logout removes the session', async (t) => {
  const h = await buildTestApp(t);
  const token = await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  const out = await h.call('user_logout', { session_token: token });
  t.equal(out.statusCode, 200, show(out));
  t.same(json(out), { user_id: SUPERUSER_ID });
  t.same(json(await h.call('session_exists', { session_token: token })), { exists: false, reason: 'unknown' });
  const again = await h.call('user_logout', { session_token: token });
  t.equal(again.statusCode, 401, show(again));
  t.equal(json(again).code, 'invalid_session');
});

t.test('wrong email and wrong password answer the same; expired sessions are refused', async (t) => {
  const h = await buildTestApp(t);
  recordDelays(h);
  const wrongPw = await h.call('user_login', await loginBody(h, SUPERUSER_EMAIL, 'not-the-password-123'));
  const wrongEmail = await h.call('user_login', await loginBody(h, 'nobody@example.com', 'not-the-password-123'));
  for (const res of [wrongPw, wrongEmail]) {
    t.equal(res.statusCode, 401, show(res));
    t.equal(json(res).code, 'invalid_credentials');
    t.equal(json(res).message, 'Wrong email or password.');
  }
  const short = await anonSession(h, { expires_in: 10 });
  h.clock.advance(11);
  const expired = await h.call('user_login', { session_token: short, email: SUPERUSER_EMAIL, password: SUPERUSER_PASSWORD });
  t.equal(expired.statusCode, 401, show(expired));
  t.equal(json(expired).code, 'invalid_session');
  const anonymous = await h.call('user_login', await loginBody(h, 'anonymous@authnzd.invalid', ''.padEnd(12, 'x')));
  t.equal(anonymous.statusCode, 401, `the anonymous user cannot log in: ${show(anonymous)}`);
  const failures = await h.call('audit_query', { event: 'login' });
  t.equal(json<{ events: { outcome: string }[] }>(failures).events.filter((e) => e.outcome === 'failure').length, 3, 'failed logins are audited');
});

t.test('five wrong passwords answer ever more slowly; the right one then succeeds and resets the count', async (t) => {
  const h = await buildTestApp(t);
  const delays = recordDelays(h);
  await verifiedUser(h, 'slow@example.com');
  for (let i = 0; i < 5; i++) {
    const res = await h.call('user_login', await loginBody(h, 'slow@example.com', 'wrong-password-' + i));
    t.equal(res.statusCode, 401, show(res));
  }
  t.equal(delays.length, 5);
  for (let i = 1; i < delays.length; i++) t.ok(delays[i]! > delays[i - 1]!, `delay ${i} (${delays[i]} ms) > delay ${i - 1} (${delays[i - 1]} ms)`);
  const db = openDb(h);
  t.teardown(() => db.close());
  t.equal((db.prepare("SELECT failed_logins FROM users WHERE email = 'slow@example.com'").get() as { failed_logins: number }).failed_logins, 5);
  const ok = await h.call('user_login', await loginBody(h, 'slow@example.com', PASSWORD));
  t.equal(ok.statusCode, 200, show(ok));
  t.equal((db.prepare("SELECT failed_logins FROM users WHERE email = 'slow@example.com'").get() as { failed_logins: number }).failed_logins, 0, 'success resets the count');
  const next = await h.call('user_login', await loginBody(h, 'slow@example.com', 'wrong-again-123'));
  t.equal(next.statusCode, 401);
  t.equal(delays.at(-1), delays[0], 'after a success the backoff starts over');
});

t.test('the backoff does not block the event loop', async (t) => {
  const h = await buildTestApp(t);
  await verifiedUser(h, 'loop@example.com');
  let release: () => void = () => {};
  let waiting = false;
  h.app.logins.sleep = () => new Promise<void>((resolve) => {
    waiting = true;
    release = resolve;
  });
  let settled = false;
  const slow = h.call('user_login', await loginBody(h, 'loop@example.com', 'wrong-password-x')).then((r) => {
    settled = true;
    return r;
  });
  while (!waiting) await new Promise((r) => setImmediate(r));
  const other = await h.call('session_new', { ip_address: IP, user_agent: UA });
  t.equal(other.statusCode, 201, 'another request is served while the failed login waits');
  t.notOk(settled, 'the failed login is still waiting');
  release();
  t.equal((await slow).statusCode, 401);
});

t.test('after N failures the account is locked; after the lock time the right password works', async (t) => {
  const clock = new FakeClock();
  const h = await buildTestApp(t, { clock, env: { AUTHNZD_LOGIN_MAX_FAILURES: '3', AUTHNZD_LOGIN_LOCK_SECONDS: '600' } });
  recordDelays(h);
  await verifiedUser(h, 'lock@example.com');
  for (let i = 0; i < 2; i++) t.equal((await h.call('user_login', await loginBody(h, 'lock@example.com', 'wrong-password-' + i))).statusCode, 401);
  const third = await h.call('user_login', await loginBody(h, 'lock@example.com', 'wrong-password-3'));
  t.equal(third.statusCode, 401, `the failure that locks came to an unlocked account: a plain failure (${show(third)})`);
  t.equal(json(third).code, 'invalid_credentials');
  const fourth = await h.call('user_login', await loginBody(h, 'lock@example.com', 'wrong-password-4'));
  t.equal(fourth.statusCode, 423, `the next login is to a locked account: ${show(fourth)}`);
  t.equal(json(fourth).code, 'account_locked');
  t.equal(json(fourth).retry_after, 600);

  clock.advance(100);
  const right = await h.call('user_login', await loginBody(h, 'lock@example.com', PASSWORD));
  t.equal(right.statusCode, 423, `even the right password is refused while locked: ${show(right)}`);
  t.equal(json(right).retry_after, 500);
  const check = await h.call('user_passcheck_nosession', { email: 'lock@example.com', password: PASSWORD });
  t.same(json(check), { ok: false, user_id: null, reason: 'account_locked' }, show(check));

  clock.advance(501);
  const after = await h.call('user_login', await loginBody(h, 'lock@example.com', PASSWORD));
  t.equal(after.statusCode, 200, show(after));
});

t.test('parallel guesses get no more password checks than the lock allows; a right one after them is refused', async (t) => {
  const h = await buildTestApp(t, { env: { AUTHNZD_LOGIN_MAX_FAILURES: '3', AUTHNZD_LOGIN_LOCK_SECONDS: '600' } });
  recordDelays(h);
  const id = await verifiedUser(h, 'burst@example.com');
  // All sent at once: each reads the account (not locked yet) before any argon2 check ends.
  const bodies = await Promise.all(Array.from({ length: 9 }, (_, i) => loginBody(h, 'burst@example.com', i < 8 ? 'wrong-password-' + i : PASSWORD)));
  const answers = await Promise.all(bodies.map((b) => h.call('user_login', b)));
  const codes = answers.map((r) => r.statusCode);
  t.same(codes.slice(0, 8).filter((c) => c === 401).length, 3, `three failures are answered as such, the rest find the lock: ${codes.join(',')}`);
  const right = answers[8]!;
  t.equal(right.statusCode, 423, `the right password, checked after the lock began, is refused: ${show(right)}`);
  t.equal(json(right).code, 'account_locked');
  t.type(json(right).retry_after, 'number');
  const sessions = await h.call('session_list', { user_id: id });
  t.same(json<{ sessions: unknown[] }>(sessions).sessions, [], 'no session was created');
});

t.test('unknown emails back off and lock like real accounts (no enumeration through the lock)', async (t) => {
  const clock = new FakeClock();
  const h = await buildTestApp(t, { clock, env: { AUTHNZD_LOGIN_MAX_FAILURES: '3', AUTHNZD_LOGIN_LOCK_SECONDS: '600' } });
  const delays = recordDelays(h);
  await verifiedUser(h, 'real@example.com');
  const answers = async (email: string) => {
    const out: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await h.call('user_login', await loginBody(h, email, 'wrong-password-' + i));
      out.push(`${res.statusCode} ${json(res).code} ${json(res).retry_after ?? '-'}`);
    }
    return out;
  };
  const real = await answers('real@example.com');
  const realDelays = delays.splice(0);
  const ghost = await answers('ghost@example.com');
  t.same(ghost, real, `same answers: ${real.join(' | ')}`);
  t.same(delays, realDelays, 'same backoff');
  t.same(real.slice(2), ['401 invalid_credentials -', '423 account_locked 600'], 'the third failure locks; the fourth login is refused');
  clock.advance(601);
  const later = await h.call('user_login', await loginBody(h, 'ghost@example.com', 'wrong-password-x'));
  t.equal(later.statusCode, 401, `after the lock time the count starts over: ${show(later)}`);
});

t.test('the temporary lock survives a restart', async (t) => {
  const clock = new FakeClock();
  const env = { AUTHNZD_LOGIN_MAX_FAILURES: '2', AUTHNZD_LOGIN_LOCK_SECONDS: '3600' };
  const first = await buildTestApp(t, { clock, env });
  recordDelays(first);
  await verifiedUser(first, 'restart@example.com');
  await first.call('user_login', await loginBody(first, 'restart@example.com', 'wrong-password-1'));
  await first.call('user_login', await loginBody(first, 'restart@example.com', 'wrong-password-2'));
  const locked = await first.call('user_login', await loginBody(first, 'restart@example.com', PASSWORD));
  t.equal(locked.statusCode, 423, show(locked));
  const dataDir = first.dataDir;
  await first.app.close();
  const second = await buildTestApp(t, { clock, env, dataDir });
  const res = await second.call('user_login', await loginBody(second, 'restart@example.com', PASSWORD));
  t.equal(res.statusCode, 423, `still locked after a restart: ${show(res)}`);
});

t.test('an admin lock is never lifted by the temporary-lock expiry', async (t) => {
  const clock = new FakeClock();
  const h = await buildTestApp(t, { clock, env: { AUTHNZD_LOGIN_MAX_FAILURES: '2', AUTHNZD_LOGIN_LOCK_SECONDS: '60' } });
  recordDelays(h);
  const id = await verifiedUser(h, 'admlock@example.com');
  await h.call('user_login', await loginBody(h, 'admlock@example.com', 'wrong-password-1'));
  await h.call('user_login', await loginBody(h, 'admlock@example.com', 'wrong-password-2'));
  const su = await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  const lock = await h.call('user_lock', { session_token: su, target_user_id: id, locked: true });
  t.equal(lock.statusCode, 200, show(lock));
  clock.advance(3600);
  const res = await h.call('user_login', await loginBody(h, 'admlock@example.com', PASSWORD));
  t.equal(res.statusCode, 423, show(res));
  t.equal(json(res).code, 'account_locked');
  t.notOk('retry_after' in json(res), 'an admin lock has no retry_after');
  const wrong = await h.call('user_login', await loginBody(h, 'admlock@example.com', 'wrong-password-3'));
  t.equal(wrong.statusCode, 423, 'the answer is the same whatever the password');
});

t.test('user_passcheck and user_passcheck_nosession', async (t) => {
  const h = await buildTestApp(t);
  recordDelays(h);
  const id = await verifiedUser(h, 'check@example.com');
  const token = await loginAs(h, 'check@example.com');
  const ok = await h.call('user_passcheck', { session_token: token, password: PASSWORD });
  t.same(json(ok), { ok: true, user_id: id }, show(ok));
  const bad = await h.call('user_passcheck', { session_token: token, password: 'wrong-password-1' });
  t.equal(bad.statusCode, 200, 'a no is a value, not an error');
  t.same(json(bad), { ok: false, user_id: id, reason: 'invalid_credentials' }, show(bad));
  const noSession = await h.call('user_passcheck', { session_token: 'azs_unknown', password: PASSWORD });
  t.equal(noSession.statusCode, 401, show(noSession));
  t.equal(json(noSession).code, 'invalid_session');

  const ns = await h.call('user_passcheck_nosession', { email: ' Check@Example.com', password: PASSWORD });
  t.same(json(ns), { ok: true, user_id: id }, show(ns));
  const nsBad = await h.call('user_passcheck_nosession', { email: 'check@example.com', password: 'wrong-password-2' });
  t.same(json(nsBad), { ok: false, user_id: null, reason: 'invalid_credentials' }, 'no user id for a failed check without a session');
  const nsUnknown = await h.call('user_passcheck_nosession', { email: 'ghost@example.com', password: PASSWORD });
  t.same(json(nsUnknown), { ok: false, user_id: null, reason: 'invalid_credentials' });
});

t.test('password hashes made with old parameters are upgraded at login', async (t) => {
  const h = await buildTestApp(t);
  const id = await verifiedUser(h, 'rehash@example.com');
  const { hash } = await import('@node-rs/argon2');
  const old = await hash(PASSWORD, { algorithm: 2, memoryCost: 8192, timeCost: 1, parallelism: 1 });
  const db = openDb(h);
  t.teardown(() => db.close());
  db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(old, id);
  const res = await h.call('user_login', await loginBody(h, 'rehash@example.com', PASSWORD));
  t.equal(res.statusCode, 200, show(res));
  const now = (db.prepare('SELECT password_hash FROM users WHERE id = ?').get(id) as { password_hash: string }).password_hash;
  t.not(now, old);
  t.match(now, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  t.ok(await hashPassword('x'), 'hashing still works');
  t.equal((await h.call('user_login', await loginBody(h, 'rehash@example.com', PASSWORD))).statusCode, 200, 'the new hash verifies');
});
