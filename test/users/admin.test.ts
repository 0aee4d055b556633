import t from 'tap';
import { ANONYMOUS_USER_ID, SUPERUSER_ID } from '../../src/core/bootstrap.js';
import { buildTestApp, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { anonSession, insertKey, keyState, loginAs, openDb, PASSWORD, sessionIdOf, verifiedUser } from './fixtures.js';

async function setup(t: Parameters<typeof buildTestApp>[0]) {
  const h = await buildTestApp(t);
  h.app.logins.sleep = async () => {};
  const su = await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  return { h, su };
}

type U = { user: Record<string, unknown> };

async function setRole(h: TestApp, su: string, id: number, role: string) {
  const res = await h.call('user_edit', { session_token: su, target_user_id: id, update: { role } });
  if (res.statusCode !== 200) throw new Error(show(res));
}

t.test('user_verify_email keeps a role an admin gave before verification', async (t) => {
  const { h, su } = await setup(t);
  const created = await h.call('user_new', { email: 'early@example.com', password: PASSWORD, full_name: 'Early Bird' });
  t.equal(created.statusCode, 201, show(created));
  const { user_id: id, verification_token: token } = json<{ user_id: number; verification_token: string }>(created);
  await setRole(h, su, id, 'staff');
  const verified = await h.call('user_verify_email', { verification_token: token });
  t.equal(verified.statusCode, 200, show(verified));
  t.same(json(verified), { user_id: id, role: 'staff' }, 'the verification does not undo the promotion');
  const got = await h.call('user_get', { user_id: id });
  t.match(json<U>(got).user, { role: 'staff', is_active: true, email_verified: true });
});

t.test('user_edit: self may change name and email; only a superuser the rest', async (t) => {
  const { h, su } = await setup(t);
  const id = await verifiedUser(h, 'edit@example.com');
  const other = await verifiedUser(h, 'other@example.com');
  const me = await loginAs(h, 'edit@example.com');

  const self = await h.call('user_edit', { session_token: me, target_user_id: id, update: { full_name: ' New Name ', email: ' Edited@Example.com' } });
  t.equal(self.statusCode, 200, show(self));
  t.match(json<U>(self).user, { user_id: id, full_name: 'New Name', email: 'edited@example.com', email_verified: false });
  t.notMatch(self.body, /argon2|password/, 'no hash in the answer');

  for (const update of [{ role: 'superuser' }, { is_active: true }, { email_verified: true }]) {
    const res = await h.call('user_edit', { session_token: me, target_user_id: id, update });
    t.equal(res.statusCode, 403, `self ${JSON.stringify(update)}: ${show(res)}`);
    t.equal(json(res).code, 'permission_denied');
  }
  const foreign = await h.call('user_edit', { session_token: me, target_user_id: other, update: { full_name: 'Hacked' } });
  t.equal(foreign.statusCode, 403, show(foreign));
  const taken = await h.call('user_edit', { session_token: me, target_user_id: id, update: { email: 'OTHER@example.com' } });
  t.equal(taken.statusCode, 409, show(taken));
  t.equal(json(taken).code, 'conflict');

  const promote = await h.call('user_edit', { session_token: su, target_user_id: id, update: { role: 'staff', email_verified: true } });
  t.equal(promote.statusCode, 200, show(promote));
  t.match(json<U>(promote).user, { role: 'staff', email_verified: true });
  const badRole = await h.call('user_edit', { session_token: su, target_user_id: id, update: { role: 'emperor' } });
  t.equal(badRole.statusCode, 400, show(badRole));
  const lockedRole = await h.call('user_edit', { session_token: su, target_user_id: id, update: { role: 'locked' } });
  t.equal(lockedRole.statusCode, 400, `locking goes through user_lock: ${show(lockedRole)}`);
  const selfDemote = await h.call('user_edit', { session_token: su, target_user_id: SUPERUSER_ID, update: { role: 'staff' } });
  t.equal(selfDemote.statusCode, 403, `a superuser cannot demote themselves: ${show(selfDemote)}`);
  const anon = await h.call('user_edit', { session_token: su, target_user_id: ANONYMOUS_USER_ID, update: { role: 'staff' } });
  t.equal(anon.statusCode, 403, show(anon));
  const missing = await h.call('user_edit', { session_token: su, target_user_id: 999, update: { full_name: 'x' } });
  t.equal(missing.statusCode, 404, show(missing));
  const empty = await h.call('user_edit', { session_token: su, target_user_id: id, update: {} });
  t.equal(empty.statusCode, 400, show(empty));
  const noSession = await h.call('user_edit', { session_token: 'azs_x', target_user_id: id, update: { full_name: 'x' } });
  t.equal(noSession.statusCode, 401, show(noSession));

  const audit = await h.call('audit_query', { event: 'role_change', target_user_id: id });
  t.match(json(audit).events, [{ actor_user_id: SUPERUSER_ID, details: { from: 'authenticated', to: 'staff' } }], show(audit));

  // The role of the session's user comes from the database: staff can now do what staff may, no more.
  const staffEdit = await h.call('user_edit', { session_token: me, target_user_id: other, update: { full_name: 'x' } });
  t.equal(staffEdit.statusCode, 403, `staff may not edit others under the default policy: ${show(staffEdit)}`);
});

t.test('user_edit: a superuser cannot unverify their own email (login needs a verified email)', async (t) => {
  const { h, su } = await setup(t);
  const unverify = await h.call('user_edit', { session_token: su, target_user_id: SUPERUSER_ID, update: { email_verified: false } });
  t.equal(unverify.statusCode, 403, show(unverify));
  t.match(json(unverify), { code: 'permission_denied', message: /email/ }, show(unverify));
  // The same refusal when it rides along with an allowed change, and the allowed change is not applied.
  const mixed = await h.call('user_edit', { session_token: su, target_user_id: SUPERUSER_ID, update: { full_name: 'Renamed', email_verified: false } });
  t.equal(mixed.statusCode, 403, show(mixed));
  const got = await h.call('user_get', { user_id: SUPERUSER_ID });
  t.match(json<U>(got).user, { email_verified: true, is_active: true }, show(got));
  t.not(json<U>(got).user.full_name, 'Renamed');
  t.ok(await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD), 'the superuser can still log in');

  const verify = await h.call('user_edit', { session_token: su, target_user_id: SUPERUSER_ID, update: { email_verified: true } });
  t.equal(verify.statusCode, 200, `setting it to true on yourself stays allowed: ${show(verify)}`);
  // On someone else it stays a superuser's power.
  const id = await verifiedUser(h, 'unverify@example.com');
  const other = await h.call('user_edit', { session_token: su, target_user_id: id, update: { email_verified: false } });
  t.equal(other.statusCode, 200, show(other));
  t.match(json<U>(other).user, { email_verified: false });
});

t.test('user_edit audit row names the fields as the request does (full_name, is_active, email_verified)', async (t) => {
  const { h, su } = await setup(t);
  const id = await verifiedUser(h, 'fields@example.com');
  const res = await h.call('user_edit', { session_token: su, target_user_id: id, update: { full_name: 'New Name', email: 'fields2@example.com', email_verified: true, is_active: true, role: 'staff' } });
  t.equal(res.statusCode, 200, show(res));
  const audit = await h.call('audit_query', { event: 'user_edit', target_user_id: id });
  const [row] = json<{ events: { details: { fields: string[] } }[] }>(audit).events;
  t.same([...row!.details.fields].sort(), ['email', 'email_verified', 'full_name', 'is_active', 'role'], show(audit));
});

t.test('deactivation ends sessions (and their keys); standalone keys stay but cannot be used', async (t) => {
  const { h, su } = await setup(t);
  const id = await verifiedUser(h, 'deact@example.com');
  const s = await loginAs(h, 'deact@example.com');
  const db = openDb(h);
  t.teardown(() => db.close());
  insertKey(db, 'k-d', id, null, h.clock.now());
  const [sid] = sessionIdOf(db, id);
  insertKey(db, 'k-s', id, sid!, h.clock.now());
  const res = await h.call('user_edit', { session_token: su, target_user_id: id, update: { is_active: false } });
  t.equal(res.statusCode, 200, show(res));
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: s })).exists, false);
  t.match(keyState(db, 'k-s'), { revoked_reason: 'user_deactivated' }, 'session keys end with the session');
  t.match(keyState(db, 'k-d'), { revoked_at: null }, 'standalone keys are not revoked (verify answers user_inactive)');
  const session = await h.call('session_new', { ip_address: '192.0.2.1', user_agent: 'x', user_id: id });
  t.equal(session.statusCode, 403, `no new session for a deactivated user: ${show(session)}`);
  const login = await h.call('user_login', { session_token: await anonSession(h), email: 'deact@example.com', password: PASSWORD });
  t.equal(login.statusCode, 403, show(login));
  t.equal(json(login).code, 'user_inactive');
});

t.test('lock then unlock restores the previous role and login works again', async (t) => {
  const { h, su } = await setup(t);
  const id = await verifiedUser(h, 'locked@example.com');
  await setRole(h, su, id, 'staff');
  const s1 = await loginAs(h, 'locked@example.com');
  const db = openDb(h);
  t.teardown(() => db.close());
  const [sid] = sessionIdOf(db, id);
  insertKey(db, 'k-sess', id, sid!, h.clock.now());
  insertKey(db, 'k-alone', id, null, h.clock.now());

  const byStaff = await h.call('user_lock', { session_token: s1, target_user_id: SUPERUSER_ID, locked: true });
  t.equal(byStaff.statusCode, 403, `only superusers lock: ${show(byStaff)}`);
  t.equal(json(byStaff).code, 'permission_denied');
  const self = await h.call('user_lock', { session_token: su, target_user_id: SUPERUSER_ID, locked: true });
  t.equal(self.statusCode, 403, show(self));

  const lock = await h.call('user_lock', { session_token: su, target_user_id: id, locked: true });
  t.equal(lock.statusCode, 200, show(lock));
  t.match(json<U>(lock).user, { role: 'locked', locked: true });
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: s1 })).exists, false, 'sessions revoked');
  t.match(keyState(db, 'k-sess'), { revoked_at: h.clock.now() });
  t.match(keyState(db, 'k-alone'), { revoked_reason: 'user_locked' });
  const login = await h.call('user_login', { session_token: await anonSession(h), email: 'locked@example.com', password: PASSWORD });
  t.equal(login.statusCode, 423, show(login));
  const sessionForLocked = await h.call('session_new', { ip_address: '192.0.2.1', user_agent: 'x', user_id: id });
  t.equal(sessionForLocked.statusCode, 403, `no new session for a locked user: ${show(sessionForLocked)}`);
  t.equal(json(sessionForLocked).code, 'user_inactive');

  const unlock = await h.call('user_lock', { session_token: su, target_user_id: id, locked: false });
  t.equal(unlock.statusCode, 200, show(unlock));
  t.match(json<U>(unlock).user, { role: 'staff', locked: false });
  const again = await h.call('user_login', { session_token: await anonSession(h), email: 'locked@example.com', password: PASSWORD });
  t.equal(again.statusCode, 200, show(again));
  t.equal(json(again).role, 'staff');

  const events = json<{ events: { event: string; details: Record<string, unknown> }[] }>(await h.call('audit_query', { target_user_id: id })).events.map((e) => e.event);
  t.ok(events.includes('user_lock') && events.includes('user_unlock'), `lock and unlock audited: ${events.join()}`);
  const missing = await h.call('user_lock', { session_token: su, target_user_id: 999, locked: true });
  t.equal(missing.statusCode, 404, show(missing));
});

t.test('user_delete: own password required; self or superuser', async (t) => {
  const { h, su } = await setup(t);
  const id = await verifiedUser(h, 'delete@example.com');
  const other = await verifiedUser(h, 'keep@example.com');
  const me = await loginAs(h, 'delete@example.com');
  const db = openDb(h);
  t.teardown(() => db.close());
  insertKey(db, 'k-del', id, null, h.clock.now());

  const foreign = await h.call('user_delete', { session_token: me, target_user_id: other, password: PASSWORD });
  t.equal(foreign.statusCode, 403, show(foreign));
  const wrong = await h.call('user_delete', { session_token: me, target_user_id: id, password: 'wrong-password-1' });
  t.equal(wrong.statusCode, 401, show(wrong));
  t.equal(json(wrong).code, 'invalid_credentials');
  const ok = await h.call('user_delete', { session_token: me, target_user_id: id, password: PASSWORD });
  t.equal(ok.statusCode, 200, show(ok));
  t.same(json(ok), { user_id: id });
  t.equal((await h.call('user_get', { user_id: id })).statusCode, 404);
  t.match(keyState(db, 'k-del'), { revoked_reason: 'user_deleted' });
  t.equal(json<{ exists: boolean }>(await h.call('session_exists', { session_token: me })).exists, false);

  const bySu = await h.call('user_delete', { session_token: su, target_user_id: other, password: SUPERUSER_PASSWORD });
  t.equal(bySu.statusCode, 200, show(bySu));
  const gone = await h.call('user_delete', { session_token: su, target_user_id: other, password: SUPERUSER_PASSWORD });
  t.equal(gone.statusCode, 404, show(gone));
  const anon = await h.call('user_delete', { session_token: su, target_user_id: ANONYMOUS_USER_ID, password: SUPERUSER_PASSWORD });
  t.equal(anon.statusCode, 403, show(anon));
  const audit = await h.call('audit_query', { event: 'user_delete' });
  t.same(json<{ events: { outcome: string }[] }>(audit).events.map((e) => e.outcome), ['success', 'success', 'failure'], show(audit));
});

t.test('user_list: policy-checked, staff and superuser only, paged', async (t) => {
  const { h, su } = await setup(t);
  const ids = [];
  for (const n of ['l1', 'l2', 'l3']) ids.push(await verifiedUser(h, `${n}@example.com`));
  const plain = await loginAs(h, 'l1@example.com');
  const denied = await h.call('user_list', { session_token: plain });
  t.equal(denied.statusCode, 403, show(denied));
  t.equal(json(denied).code, 'permission_denied');
  const anon = await h.call('user_list', { session_token: await anonSession(h) });
  t.equal(anon.statusCode, 403, show(anon));

  const page1 = await h.call('user_list', { session_token: su, limit: 3 });
  t.equal(page1.statusCode, 200, show(page1));
  const p1 = json<{ users: { user_id: number }[]; next_cursor: string | null }>(page1);
  t.same(p1.users.map((u) => u.user_id), [1, 2, ids[0]]);
  t.notMatch(page1.body, /argon2/);
  const page2 = json<{ users: { user_id: number }[]; next_cursor: string | null }>(await h.call('user_list', { session_token: su, limit: 3, cursor: p1.next_cursor }));
  t.same(page2.users.map((u) => u.user_id), [ids[1], ids[2]]);
  t.equal(page2.next_cursor, null);

  await setRole(h, su, ids[1]!, 'staff');
  const staff = await loginAs(h, 'l2@example.com');
  const byStaff = await h.call('user_list', { session_token: staff });
  t.equal(byStaff.statusCode, 200, show(byStaff));
  t.equal(json<{ users: unknown[] }>(byStaff).users.length, 5);
});
