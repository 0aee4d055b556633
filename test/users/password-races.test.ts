import { json, show, type TestApp } from '../helper.js';
import { activeUser, DELAYS_MS, eachDatabase, liveSessions, login, NEW_PASSWORD, PASSWORD, sleep } from '../races.js';

/*
 * Passwords under parallel requests: reset tokens asked for at once, a change racing a reset, two
 * changes at once. One outcome must win whole: one live token, the reset's password, the
 * winner's password and session (SPEC §3); on SQLite and PostgreSQL. Split from races.test.ts
 * so that each file stays well inside tap's per-file timeout.
 */

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
