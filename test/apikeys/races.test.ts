import { json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { activeUser, eachDatabase, IP, keyBody, login, ROUNDS, UA } from '../races.js';

/*
 * API keys under parallel requests: a key issued while its session ends, or while its owner is
 * locked, must not outlive the end or the lock. Each case sends the racing requests at once, a
 * few rounds, on SQLite and (with AUTHNZD_TEST_PG_URL) on PostgreSQL, where the store code
 * differs: there the issuing transaction and the ending one serialise on row locks.
 */

const issue = (h: TestApp, session: string) => h.call('issue_apikey', { session_token: session, ip_address: IP, user_agent: UA, ...keyBody });

/** The keys of the 201 answers that verify_apikey still takes. */
async function validKeys(h: TestApp, answers: { statusCode: number; body: string }[]): Promise<string[]> {
  const keys = answers.filter((r) => r.statusCode === 201).map((r) => JSON.parse(r.body) as { apikey: string; key_id: string });
  const valid: string[] = [];
  for (const k of keys) {
    const v = json<{ valid: boolean }>(await h.call('verify_apikey', { apikey: k.apikey, ip_address: IP, user_agent: UA }));
    if (v.valid) valid.push(k.key_id);
  }
  return valid;
}

eachDatabase('issue_apikey racing the end of its session: no key outlives the session', async (t, h) => {
  for (const end of ['session_delete', 'user_logout'] as const) {
    for (let round = 0; round < ROUNDS; round++) {
      const user = await activeUser(h);
      const session = await login(h, user.email);
      const answers = await Promise.all([
        issue(h, session), issue(h, session),
        h.call(end, { session_token: session }),
        issue(h, session), issue(h, session), issue(h, session),
      ]);
      t.equal(answers[2]!.statusCode, 200, `${end}: ${show(answers[2]!)}`);
      for (const r of answers) t.ok([200, 201, 401].includes(r.statusCode), `${end} round ${round}: ${show(r)}`);
      t.same(await validKeys(h, answers), [], `${end} round ${round}: every key issued on the ended session is dead`);
    }
  }
});

eachDatabase('issue_apikey racing user_lock: no session key survives the lock (nor the unlock after it)', async (t, h) => {
  const admin = await login(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  for (let round = 0; round < ROUNDS; round++) {
    const user = await activeUser(h);
    const session = await login(h, user.email);
    const answers = await Promise.all([
      issue(h, session),
      h.call('user_lock', { session_token: admin, target_user_id: user.id, locked: true }),
      issue(h, session), issue(h, session), issue(h, session),
    ]);
    t.equal(answers[1]!.statusCode, 200, show(answers[1]!));
    t.equal((await h.call('user_lock', { session_token: admin, target_user_id: user.id, locked: false })).statusCode, 200);
    t.same(await validKeys(h, answers), [], `round ${round}: an unlock brings no key back`);
  }
});

const issueStandalone = (h: TestApp, userId: number) => h.call('issue_apikey_nosession', {
  user_id: userId, ip_address: IP, user_agent: UA, refresh_expires_in: 7200, ...keyBody,
});

eachDatabase('issue_apikey_nosession racing user_lock: no standalone key survives the lock (nor the unlock after it)', async (t, h) => {
  const admin = await login(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  for (let round = 0; round < ROUNDS; round++) {
    const user = await activeUser(h);
    const answers = await Promise.all([
      issueStandalone(h, user.id),
      h.call('user_lock', { session_token: admin, target_user_id: user.id, locked: true }),
      issueStandalone(h, user.id), issueStandalone(h, user.id), issueStandalone(h, user.id),
    ]);
    t.equal(answers[1]!.statusCode, 200, show(answers[1]!));
    for (const r of answers) t.ok([200, 201].includes(r.statusCode) || json(r).code === 'user_inactive', `round ${round}: ${show(r)}`);
    t.equal((await h.call('user_lock', { session_token: admin, target_user_id: user.id, locked: false })).statusCode, 200);
    t.same(await validKeys(h, answers), [], `round ${round}: an unlock brings no key back`);
  }
});

eachDatabase('issue_apikey_nosession racing user_delete: no key is left of the user, no 5xx', async (t, h) => {
  const admin = await login(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  for (let round = 0; round < ROUNDS; round++) {
    const user = await activeUser(h);
    const answers = await Promise.all([
      issueStandalone(h, user.id),
      h.call('user_delete', { session_token: admin, target_user_id: user.id, password: SUPERUSER_PASSWORD }),
      issueStandalone(h, user.id), issueStandalone(h, user.id),
    ]);
    t.equal(answers[1]!.statusCode, 200, show(answers[1]!));
    for (const r of answers) t.ok(r.statusCode < 500, `round ${round}: ${show(r)}`);
    t.same(await validKeys(h, answers), [], `round ${round}: no key of the deleted user verifies`);
  }
});

eachDatabase('refresh_apikey racing user_lock or revoke_all_apikeys: the successor key does not outlive them', async (t, h) => {
  const admin = await login(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  for (const by of ['user_lock', 'revoke_all_apikeys'] as const) {
    for (let round = 0; round < ROUNDS; round++) {
      const user = await activeUser(h);
      const session = await login(h, user.email);
      const issued = await issueStandalone(h, user.id);
      const key = json<{ apikey: string; refresh_token: string }>(issued);
      const answers = await Promise.all([
        h.call('refresh_apikey', { apikey: key.apikey, refresh_token: key.refresh_token, ip_address: IP, user_agent: UA }),
        by === 'user_lock'
          ? h.call('user_lock', { session_token: admin, target_user_id: user.id, locked: true })
          : h.call('revoke_all_apikeys', { session_token: session }),
      ]);
      t.equal(answers[1]!.statusCode, 200, show(answers[1]!));
      t.ok([201, 401].includes(answers[0]!.statusCode), `${by} round ${round}: ${show(answers[0]!)}`);
      if (by === 'user_lock') t.equal((await h.call('user_lock', { session_token: admin, target_user_id: user.id, locked: false })).statusCode, 200);
      t.same(await validKeys(h, [issued, answers[0]!]), [], `${by} round ${round}: neither the old key nor its successor verifies`);
    }
  }
});
