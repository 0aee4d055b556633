import { json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { activeUser, anonSession, DELAYS_MS, eachDatabase, IP, liveSessions, login, NEW_PASSWORD, PASSWORD, sleep, UA } from '../races.js';

/*
 * Sessions of a user under parallel requests: a session created or logged into while the user
 * is locked, or while the password is reset or changed, must not survive the lock or the
 * change (SPEC §3: locking revokes the user's sessions, a reset all of them, a change all but
 * the caller's). The logins wait for argon2, so the lock or reset is sent after a delay that
 * varies over the rounds, to land in the middle of a login; on SQLite and PostgreSQL.
 * Password changes racing each other are in password-races.test.ts.
 */

/** Starts `count` logins of `email` at once (each on its own anonymous session). */
async function startLogins(h: TestApp, email: string, count: number, password = PASSWORD) {
  const anons = await Promise.all(Array.from({ length: count }, () => anonSession(h)));
  return anons.map((session_token) => h.call('user_login', { session_token, email, password }));
}

eachDatabase('session_new for a user racing user_lock: no session of the user survives the lock', async (t, h) => {
  const admin = await login(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  for (const delay of DELAYS_MS) {
    const user = await activeUser(h);
    const create = () => h.call('session_new', { ip_address: IP, user_agent: UA, user_id: user.id });
    const creates = [create(), create(), create()];
    await sleep(delay / 5);
    const lock = h.call('user_lock', { session_token: admin, target_user_id: user.id, locked: true });
    creates.push(create(), create(), create());
    const answers = await Promise.all([...creates, lock]);
    for (const r of answers) t.ok([200, 201].includes(r.statusCode) || json(r).code === 'user_inactive', `delay ${delay}: ${show(r)}`);
    t.equal(await liveSessions(h, user.id), 0, `delay ${delay}: the lock ended every session`);
  }
});

eachDatabase('user_login racing user_lock: no session of the user survives the lock', async (t, h) => {
  const admin = await login(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  for (const delay of DELAYS_MS) {
    const user = await activeUser(h);
    const logins = await startLogins(h, user.email, 3);
    await sleep(delay);
    const lock = await h.call('user_lock', { session_token: admin, target_user_id: user.id, locked: true });
    t.equal(lock.statusCode, 200, show(lock));
    for (const r of await Promise.all(logins)) t.ok([200, 423].includes(r.statusCode), `delay ${delay}: ${show(r)}`);
    t.equal(await liveSessions(h, user.id), 0, `delay ${delay}: the lock ended every session`);
  }
});

eachDatabase('user_login with the old password racing user_resetpass: no session survives the reset', async (t, h) => {
  for (const delay of DELAYS_MS) {
    const user = await activeUser(h);
    const token = json<{ reset_token: string }>(await h.call('user_resetpass_token', { email: user.email })).reset_token;
    const anons = await Promise.all([anonSession(h), anonSession(h), anonSession(h)]);
    // The reset hashes the new password first: logins sent meanwhile read the old hash.
    const reset = h.call('user_resetpass', { reset_token: token, new_password: NEW_PASSWORD });
    await sleep(delay);
    const logins = anons.map((session_token) => h.call('user_login', { session_token, email: user.email, password: PASSWORD }));
    t.equal((await reset).statusCode, 200, show(await reset));
    for (const r of await Promise.all(logins)) t.ok([200, 401].includes(r.statusCode), `delay ${delay}: ${show(r)}`);
    t.equal(await liveSessions(h, user.id), 0, `delay ${delay}: the reset ended every session`);
  }
});

eachDatabase('user_login with the old password racing user_changepass: only the changing session survives', async (t, h) => {
  for (const delay of DELAYS_MS) {
    const user = await activeUser(h);
    const mine = await login(h, user.email);
    const anons = await Promise.all([anonSession(h), anonSession(h), anonSession(h)]);
    const change = h.call('user_changepass', { session_token: mine, current_password: PASSWORD, new_password: NEW_PASSWORD });
    await sleep(delay);
    const logins = anons.map((session_token) => h.call('user_login', { session_token, email: user.email, password: PASSWORD }));
    t.equal((await change).statusCode, 200, show(await change));
    for (const r of await Promise.all(logins)) t.ok([200, 401].includes(r.statusCode), `delay ${delay}: ${show(r)}`);
    t.equal(await liveSessions(h, user.id), 1, `delay ${delay}: only the session that changed the password is left`);
  }
});
