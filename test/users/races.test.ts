import { json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { activeUser, anonSession, eachDatabase, IP, login, PASSWORD, UA } from '../races.js';

/*
 * Sessions of a user under parallel requests: a session created or logged into while the user
 * is locked, or while the password is reset or changed, must not survive the lock or the
 * change (SPEC §3: locking revokes the user's sessions, a reset all of them, a change all but
 * the caller's). The logins wait for argon2, so the lock or reset is sent after a delay that
 * varies over the rounds, to land in the middle of a login; on SQLite and PostgreSQL.
 */

const DELAYS_MS = [0, 5, 10, 15, 20, 30, 40, 60];
const NEW_PASSWORD = 'Zr4$ocean-Crimson-88x';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function liveSessions(h: TestApp, userId: number): Promise<number> {
  const res = await h.call('session_list', { user_id: userId });
  if (res.statusCode !== 200) throw new Error(`session_list: ${show(res)}`);
  return json<{ sessions: unknown[] }>(res).sessions.length;
}

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

eachDatabase('user_resetpass_token sent several times at once: one token works, the others are replaced', async (t, h) => {
  for (let round = 0; round < 4; round++) {
    const user = await activeUser(h);
    const answers = await Promise.all(Array.from({ length: 5 }, () => h.call('user_resetpass_token', { email: user.email })));
    const tokens = answers.map((r) => json<{ reset_token: string }>(r).reset_token);
    // A weak new password is refused without spending the token: 400 weak_password says the
    // token is live, 400 invalid_request that it is not.
    const live: string[] = [];
    for (const reset_token of tokens) {
      const r = await h.call('user_resetpass', { reset_token, new_password: 'short' });
      if (json(r).code === 'weak_password') live.push(reset_token);
    }
    t.equal(live.length, 1, `round ${round}: exactly one of the tokens works`);
  }
});

const passwordWorks = async (h: TestApp, email: string, password: string) =>
  json<{ ok: boolean }>(await h.call('user_passcheck_nosession', { email, password })).ok;

eachDatabase('user_changepass with the old password racing user_resetpass: the reset\'s password stands', async (t, h) => {
  for (const delay of DELAYS_MS) {
    const user = await activeUser(h);
    const other = await login(h, user.email);
    const token = json<{ reset_token: string }>(await h.call('user_resetpass_token', { email: user.email })).reset_token;
    const reset = h.call('user_resetpass', { reset_token: token, new_password: NEW_PASSWORD });
    await sleep(delay);
    const change = await h.call('user_changepass', { session_token: other, current_password: PASSWORD, new_password: 'Bk9#river-Saffron-31q' });
    t.equal((await reset).statusCode, 200, show(await reset));
    t.ok([200, 401].includes(change.statusCode), `delay ${delay}: ${show(change)}`);
    // The change either came first (and the reset replaced its password) or was refused.
    t.ok(await passwordWorks(h, user.email, NEW_PASSWORD), `delay ${delay}: the reset's password works (change answered ${change.statusCode})`);
    t.equal(await liveSessions(h, user.id), 0, `delay ${delay}: no session survives the reset`);
  }
});

eachDatabase('user_changepass on two sessions at once: one change wins, on a session that survives', async (t, h) => {
  const passwords = ['Bk9#river-Saffron-31q', 'Lm2&forest-Indigo-57w'];
  for (let round = 0; round < 4; round++) {
    const user = await activeUser(h);
    const sessions = [await login(h, user.email), await login(h, user.email)];
    const answers = await Promise.all(sessions.map((session_token, i) =>
      h.call('user_changepass', { session_token, current_password: PASSWORD, new_password: passwords[i] })));
    const won = answers.map((r, i) => (r.statusCode === 200 ? i : -1)).filter((i) => i >= 0);
    t.equal(won.length, 1, `round ${round}: one change succeeds (${answers.map(show).join(' | ')})`);
    const works = [];
    for (const p of passwords) works.push(await passwordWorks(h, user.email, p));
    t.same(works, passwords.map((_, i) => i === won[0]), `round ${round}: the password is the winner's`);
    t.equal(await liveSessions(h, user.id), 1, `round ${round}: the winner's session is the one left`);
  }
});
