import t from 'tap';
import { buildTestApp, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { IP, PASSWORD, UA, loginAs, openDb, verifiedUser } from '../users/fixtures.js';
import { keyBody, verify } from './setup.js';

/*
 * Cascades (SPEC §4.2) through the real user and session actions: deleting a session revokes
 * its session keys; lock, delete, password change and reset revoke every key of the user; a
 * role change makes existing keys answer user_inactive.
 */

const at = { ip_address: IP, user_agent: UA };

async function keysFor(h: TestApp, session: string, userId: number) {
  const s = await h.call('issue_apikey', { session_token: session, ...at, ...keyBody });
  if (s.statusCode !== 201) throw new Error(`issue_apikey: ${show(s)}`);
  const n = await h.call('issue_apikey_nosession', { user_id: userId, ...at, ...keyBody, refresh_expires_in: 7200 });
  if (n.statusCode !== 201) throw new Error(`issue_apikey_nosession: ${show(n)}`);
  return { sessionKey: json<{ apikey: string }>(s).apikey, standaloneKey: json<{ apikey: string }>(n).apikey };
}

const reasonOf = async (h: TestApp, apikey: string): Promise<string> => {
  const r = await verify(h, apikey, at);
  return r.valid ? 'valid' : r.reason ?? 'no reason';
};

t.test('deleting a session revokes its session keys only: logout, login rotation, expiry purge', async (t) => {
  const h = await buildTestApp(t);
  const uid = await verifiedUser(h, 'carol@example.test');

  const s1 = await loginAs(h, 'carol@example.test');
  const k1 = await keysFor(h, s1, uid);
  t.equal((await h.call('user_logout', { session_token: s1 })).statusCode, 200);
  t.equal(await reasonOf(h, k1.sessionKey), 'revoked', 'logout');
  t.equal(await reasonOf(h, k1.standaloneKey), 'valid', 'standalone keys do not depend on a session');

  const s2 = await loginAs(h, 'carol@example.test');
  const k2 = await keysFor(h, s2, uid);
  const relogin = await h.call('user_login', { session_token: s2, email: 'carol@example.test', password: PASSWORD });
  t.equal(relogin.statusCode, 200, show(relogin));
  t.equal(await reasonOf(h, k2.sessionKey), 'revoked', 'login rotation deletes the presented session');

  const s3 = json<{ session_token: string }>(relogin).session_token;
  const k3 = await keysFor(h, s3, uid);
  const db = openDb(h);
  t.teardown(() => db.close());
  db.prepare('UPDATE sessions SET expires_at = ? WHERE user_id = ?').run(h.clock.now() - 1, uid);
  await h.app.purgeExpiredSessions();
  t.equal(await reasonOf(h, k3.sessionKey), 'revoked', 'expiry purge');
  const row = db.prepare("SELECT revoked_reason FROM api_keys WHERE kind = 'session' AND revoked_at IS NOT NULL").all();
  t.equal(row.length, 3);
});

t.test('lock, delete, password change and reset revoke every key; lock, delete and a role change answer user_inactive', async (t) => {
  const h = await buildTestApp(t);
  const root = await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  const cases: [string, (uid: number, email: string, session: string) => Promise<{ statusCode: number; body: string }>, string][] = [
    // SPEC §4.2 lists "owner locked, deleted" under user_inactive: the keys are revoked, and the
    // reason a caller sees is the owner's state while it lasts.
    ['user_lock', (uid) => h.call('user_lock', { session_token: root, target_user_id: uid, locked: true }), 'user_inactive'],
    ['user_delete', (uid, _e, session) => h.call('user_delete', { session_token: session, target_user_id: uid, password: PASSWORD }), 'user_inactive'],
    ['user_changepass', (_u, _e, session) => h.call('user_changepass', { session_token: session, current_password: PASSWORD, new_password: 'another-Long-passphrase-93' }), 'revoked'],
    ['user_resetpass', async (_u, email) => {
      const tok = json<{ reset_token: string }>(await h.call('user_resetpass_token', { email })).reset_token;
      return h.call('user_resetpass', { reset_token: tok, new_password: 'another-Long-passphrase-93' });
    }, 'revoked'],
    ['role change (user_edit)', (uid) => h.call('user_edit', { session_token: root, target_user_id: uid, update: { role: 'staff' } }), 'user_inactive'],
  ];
  let i = 0;
  for (const [name, act, expected] of cases) {
    const email = `dave${i++}@example.test`;
    const uid = await verifiedUser(h, email);
    const session = await loginAs(h, email);
    const keys = await keysFor(h, session, uid);
    t.equal(await reasonOf(h, keys.standaloneKey), 'valid', `${name}: valid before`);
    const res = await act(uid, email, session);
    t.equal(res.statusCode, 200, `${name}: ${res.statusCode} ${res.body}`);
    t.equal(await reasonOf(h, keys.standaloneKey), expected, `${name}: standalone key`);
    t.ok(['revoked', expected].includes(await reasonOf(h, keys.sessionKey)), `${name}: session key`);
  }
});

t.test('keys revoked by a lock stay revoked after the unlock', async (t) => {
  const h = await buildTestApp(t);
  const root = await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  const uid = await verifiedUser(h, 'erin@example.test');
  const keys = await keysFor(h, await loginAs(h, 'erin@example.test'), uid);
  t.equal((await h.call('user_lock', { session_token: root, target_user_id: uid, locked: true })).statusCode, 200);
  t.equal(await reasonOf(h, keys.standaloneKey), 'user_inactive', 'while locked');
  t.equal((await h.call('user_lock', { session_token: root, target_user_id: uid, locked: false })).statusCode, 200);
  t.equal(await reasonOf(h, keys.standaloneKey), 'revoked', 'after the unlock the key is still revoked');
});
