import t from 'tap';
import { json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD } from '../helper.js';
import { IP, ISO_Z, PASSWORD, UA, activeUser, allStoredText, anon, email, issueKey, login, superLogin, verify, specApp, query } from './util.js';

/* SPEC §3: users. Exact shapes, error order, email normalisation on every action. */

const USER_FIELDS_FORBIDDEN = /password|hash|failed|temp_?lock/i;

t.test('user_new: 201 shape, inactive until verified, verify gives role authenticated', async (t) => {
  const h = await specApp(t);
  const res = await h.call('user_new', { email: '  Ｍixed.Case@Example.ORG ', password: PASSWORD, full_name: 'New Person', system_id: 'ext-42', ip_address: IP, extra: { plan: 'free' } });
  t.equal(res.statusCode, 201, show(res));
  const b = json<{ user_id: number; system_id: string; email: string; verification_token: string; verification_expires_at: string }>(res);
  t.same(Object.keys(b).sort(), ['email', 'system_id', 'user_id', 'verification_expires_at', 'verification_token']);
  t.equal(b.email, 'mixed.case@example.org', 'NFKC, trimmed, lower-cased');
  t.equal(b.system_id, 'ext-42');
  t.match(b.verification_expires_at, ISO_Z);
  t.notMatch((await allStoredText(h)), b.verification_token, 'verification token not stored');
  t.notMatch((await allStoredText(h)), PASSWORD, 'password not stored');

  const s = await anon(h);
  const early = await h.call('user_login', { session_token: s, email: b.email, password: PASSWORD });
  t.equal(early.statusCode, 403, show(early));
  t.equal(json(early).code, 'user_inactive');

  const v = await h.call('user_verify_email', { verification_token: b.verification_token });
  t.equal(v.statusCode, 200, show(v));
  t.same(json(v), { user_id: b.user_id, role: 'authenticated' });
  const again = await h.call('user_verify_email', { verification_token: b.verification_token });
  t.ok(again.statusCode >= 400 && again.statusCode < 500, `a spent token is refused: ${show(again)}`);
  const ok = await h.call('user_login', { session_token: await anon(h), email: 'MIXED.case@example.org', password: PASSWORD });
  t.equal(ok.statusCode, 200, show(ok));

  const noSys = json<{ system_id: string }>(await h.call('user_new', { email: email(), password: PASSWORD, full_name: 'X' }));
  t.type(noSys.system_id, 'string', 'a system_id is generated');
  t.ok(noSys.system_id.length > 0);
});

t.test('duplicate sign-up is 409 and changes nothing', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h, 'dup@example.org');
  for (const variant of ['dup@example.org', ' DUP@Example.org ', 'ｄup@example.org']) {
    const res = await h.call('user_new', { email: variant, password: 'another-Secret-passphrase-99', full_name: 'Intruder' });
    t.equal(res.statusCode, 409, `${variant}: ${show(res)}`);
    t.equal(json(res).code, 'conflict');
  }
  t.ok(await login(h, 'dup@example.org'), 'the original password still works');
  const g = json<{ user: Record<string, unknown> }>(await h.call('user_get', { user_id: u.id }));
  t.equal(g.user.full_name, 'Spec Person', 'name unchanged');
  t.equal(g.user.is_active, true, 'still active');
  const sys1 = await h.call('user_new', { email: email(), password: PASSWORD, full_name: 'S', system_id: 'same-sys' });
  t.equal(sys1.statusCode, 201, show(sys1));
  const sys2 = await h.call('user_new', { email: email(), password: PASSWORD, full_name: 'S', system_id: 'same-sys' });
  t.equal(sys2.statusCode, 409, `duplicate system_id: ${show(sys2)}`);
  for (const system_id of ['auth0|5f7c8ec7c33c6c004bbafe82', 'google-oauth2|1234567890', 'uid=jdoe,ou=people', '{x}~#%']) {
    const ext = await h.call('user_new', { email: email(), password: PASSWORD, full_name: 'S', system_id });
    t.equal(ext.statusCode, 201, `an id from another system: ${show(ext)}`);
    t.equal(json<{ user: { system_id: string } }>(await h.call('user_get', { system_id })).user.system_id, system_id);
  }
  for (const system_id of ['', 'a b', 'tab\there', 'ünï', 'x'.repeat(129)]) {
    const bad = await h.call('user_new', { email: email(), password: PASSWORD, full_name: 'S', system_id });
    t.equal(bad.statusCode, 400, `system_id ${JSON.stringify(system_id)}: ${show(bad)}`);
  }
});

t.test('weak_password lists every failed rule', async (t) => {
  const h = await specApp(t);
  const short = await h.call('user_new', { email: email(), password: '1111', full_name: 'W' });
  t.equal(short.statusCode, 400, show(short));
  t.equal(json(short).code, 'weak_password');
  const details = json<{ details: unknown[] }>(short).details;
  t.ok(Array.isArray(details) && details.length >= 3, `short, all digits, repeated char: ${show(short)}`);
  for (const pw of ['password1234', '123456789012345', 'aaaaaaaaaaaaaaab', 'short-Pw1']) {
    const r = await h.call('user_new', { email: email(), password: pw, full_name: 'W' });
    t.equal(r.statusCode, 400, `${pw}: ${show(r)}`);
    t.equal(json(r).code, 'weak_password', pw);
  }
  const mail = email('similar');
  const sim = await h.call('user_new', { email: mail, password: `${mail}`, full_name: 'W' });
  t.equal(json(sim).code, 'weak_password', `similar to the email: ${show(sim)}`);
});

t.test('user_login: answer shape, rotation, and error order', async (t) => {
  const h = await specApp(t, { env: { AUTHNZD_LOGIN_MAX_FAILURES: '3', AUTHNZD_LOGIN_LOCK_SECONDS: '600' } });
  h.app.logins.sleep = async () => {};
  const u = await activeUser(h);
  const s = await anon(h, '2001:db8::5', 'agent-x');
  const res = await h.call('user_login', { session_token: s, email: ` ${u.email.toUpperCase()} `, password: PASSWORD });
  t.equal(res.statusCode, 200, show(res));
  const b = json<{ user_id: number; role: string; session_token: string; expires_at: string }>(res);
  t.same(Object.keys(b).sort(), ['expires_at', 'role', 'session_token', 'user_id']);
  t.equal(b.user_id, u.id);
  t.equal(b.role, 'authenticated');
  t.match(b.expires_at, ISO_Z);
  t.not(b.session_token, s, 'a new session');
  t.equal(json(await h.call('session_exists', { session_token: s })).exists, false, 'the presented session is deleted');
  const ex = json<{ session: Record<string, unknown> }>(await h.call('session_exists', { session_token: b.session_token }));
  t.match(ex.session, { user_id: u.id, ip_address: '2001:db8::5', user_agent: 'agent-x' }, 'same ip and user agent');

  // invalid_session comes first, whatever the credentials.
  for (const pw of [PASSWORD, 'wrong-password-entirely']) {
    const r = await h.call('user_login', { session_token: s, email: u.email, password: pw });
    t.equal(r.statusCode, 401, show(r));
    t.equal(json(r).code, 'invalid_session');
  }
  const wrong = await h.call('user_login', { session_token: await anon(h), email: u.email, password: 'wrong-password-entirely' });
  t.equal(wrong.statusCode, 401);
  t.equal(json(wrong).code, 'invalid_credentials');
  const nobody = await h.call('user_login', { session_token: await anon(h), email: 'nobody-here@example.org', password: PASSWORD });
  t.equal(nobody.statusCode, 401);
  t.same({ ...json(nobody), request_id: '' }, { ...json(wrong), request_id: '' }, 'the same answer for an unknown email');

  // inactive: right password on an unverified account
  const pending = email('pending');
  await h.call('user_new', { email: pending, password: PASSWORD, full_name: 'P' });
  const inact = await h.call('user_login', { session_token: await anon(h), email: pending, password: PASSWORD });
  t.equal(inact.statusCode, 403, show(inact));
  t.equal(json(inact).code, 'user_inactive');

  // temporary lock after max failures, with retry_after; survives; right password refused while locked
  const victim = await activeUser(h);
  const codes: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await h.call('user_login', { session_token: await anon(h, '198.51.100.99'), email: victim.email, password: 'wrong-password-entirely' });
    codes.push(`${r.statusCode} ${json(r).code}`);
  }
  t.equal(codes[0], '401 invalid_credentials');
  const locked = await h.call('user_login', { session_token: await anon(h, '198.51.100.99'), email: victim.email, password: PASSWORD });
  t.equal(locked.statusCode, 423, show(locked));
  t.equal(json(locked).code, 'account_locked');
  t.type(json(locked).retry_after, 'number');
  t.ok(Number(json(locked).retry_after) > 0 && Number(json(locked).retry_after) <= 600, show(locked));
  h.clock.advance(601);
  t.equal((await h.call('user_login', { session_token: await anon(h, '198.51.100.99'), email: victim.email, password: PASSWORD })).statusCode, 200, 'lock expires');

  // admin lock: 423 without retry_after
  const target = await activeUser(h);
  const su = await superLogin(h);
  const lk = await h.call('user_lock', { session_token: su, target_user_id: target.id, locked: true });
  t.equal(lk.statusCode, 200, show(lk));
  const adminLocked = await h.call('user_login', { session_token: await anon(h), email: target.email, password: PASSWORD });
  t.equal(adminLocked.statusCode, 423, show(adminLocked));
  t.equal(json(adminLocked).code, 'account_locked');
  t.notOk('retry_after' in json(adminLocked), 'no retry_after on an admin lock');
});

t.test('user_logout, user_passcheck, user_passcheck_nosession', async (t) => {
  const h = await specApp(t);
  h.app.logins.sleep = async () => {};
  const u = await activeUser(h);
  const s = await login(h, u.email);
  const ok = await h.call('user_passcheck', { session_token: s, password: PASSWORD });
  t.equal(ok.statusCode, 200, show(ok));
  t.same(json(ok), { ok: true, user_id: u.id });
  const no = await h.call('user_passcheck', { session_token: s, password: 'wrong-password-entirely' });
  t.equal(no.statusCode, 200, show(no));
  t.equal(json(no).ok, false);
  t.equal(json(no).user_id, u.id);
  t.type(json(no).reason, 'string');
  const badSession = await h.call('user_passcheck', { session_token: 'azs_nope', password: PASSWORD });
  t.equal(badSession.statusCode, 401, `the call itself is wrong: ${show(badSession)}`);
  t.equal(json(badSession).code, 'invalid_session');

  const ns = await h.call('user_passcheck_nosession', { email: `  ${u.email.toUpperCase()}`, password: PASSWORD });
  t.equal(ns.statusCode, 200, show(ns));
  t.same(json(ns), { ok: true, user_id: u.id }, 'email normalised');
  const nsNo = await h.call('user_passcheck_nosession', { email: u.email, password: 'wrong-password-entirely' });
  t.equal(json(nsNo).ok, false);
  t.type(json(nsNo).reason, 'string');
  t.ok('user_id' in json(nsNo), show(nsNo));
  const unknown = await h.call('user_passcheck_nosession', { email: 'ghost@example.org', password: PASSWORD });
  t.equal(unknown.statusCode, 200);
  t.equal(json(unknown).ok, false);
  t.equal(json(unknown).reason, json(nsNo).reason, 'same reason for unknown email and wrong password');

  const out = await h.call('user_logout', { session_token: s });
  t.equal(out.statusCode, 200, show(out));
  t.same(json(out), { user_id: u.id });
  t.equal(json(await h.call('session_exists', { session_token: s })).exists, false);
  const twice = await h.call('user_logout', { session_token: s });
  t.equal(twice.statusCode, 401, show(twice));
  t.equal(json(twice).code, 'invalid_session');
});

t.test('user_changepass and user_resetpass revoke sessions and keys', async (t) => {
  const h = await specApp(t);
  h.app.logins.sleep = async () => {};
  const u = await activeUser(h);
  const keep = await login(h, u.email);
  const other = await login(h, u.email);
  const key = await issueKey(h, other);
  const keptKey = await issueKey(h, keep);
  const standaloneRes = await h.call('issue_apikey_nosession', { user_id: u.id, ip_address: IP, user_agent: UA, audience: 'svc', subject: '/x', api_version: 1, expires_in: 3600, refresh_expires_in: 7200 });
  t.equal(standaloneRes.statusCode, 201, show(standaloneRes));
  const standalone = json<{ apikey: string }>(standaloneRes).apikey;
  const newPw = 'glacier-Harmonica-steadily-314';
  const weak = await h.call('user_changepass', { session_token: keep, current_password: PASSWORD, new_password: '123' });
  t.equal(json(weak).code, 'weak_password', show(weak));
  const wrong = await h.call('user_changepass', { session_token: keep, current_password: 'wrong-password-entirely', new_password: newPw });
  t.equal(wrong.statusCode, 401, show(wrong));
  t.equal(json(wrong).code, 'invalid_credentials');
  const res = await h.call('user_changepass', { session_token: keep, current_password: PASSWORD, new_password: newPw });
  t.equal(res.statusCode, 200, show(res));
  t.same(json(res), { user_id: u.id });
  t.equal(json(await h.call('session_exists', { session_token: keep })).exists, true, 'the current session stays');
  t.equal(json(await h.call('session_exists', { session_token: other })).exists, false, 'other sessions revoked');
  t.same(await verify(h, key.apikey), { valid: false, reason: 'revoked' });
  t.same(await verify(h, keptKey.apikey), { valid: false, reason: 'revoked' }, 'all keys, even those of the kept session');
  t.same(await verify(h, standalone), { valid: false, reason: 'revoked' });
  t.ok(await login(h, u.email, newPw));

  const unknownTok = await h.call('user_resetpass_token', { email: 'nobody@example.org' });
  const knownTok = await h.call('user_resetpass_token', { email: ` ${u.email.toUpperCase()} ` });
  t.equal(unknownTok.statusCode, 200, show(unknownTok));
  t.equal(knownTok.statusCode, 200, show(knownTok));
  t.same(Object.keys(json(unknownTok)).sort(), ['expires_at', 'reset_token']);
  t.same(Object.keys(json(knownTok)).sort(), ['expires_at', 'reset_token']);
  t.equal(String(json(unknownTok).reset_token).length, String(json(knownTok).reset_token).length, 'same shape');
  t.match(json(knownTok).expires_at, ISO_Z);
  const s2 = await login(h, u.email, newPw);
  const key2 = await issueKey(h, s2);
  const reset = await h.call('user_resetpass', { reset_token: json(knownTok).reset_token, new_password: 'meadow-Quartz-lantern-2718' });
  t.equal(reset.statusCode, 200, show(reset));
  t.same(json(reset), { user_id: u.id });
  t.equal(json(await h.call('session_exists', { session_token: s2 })).exists, false, 'all sessions revoked');
  t.equal(json(await h.call('session_exists', { session_token: keep })).exists, false, 'all sessions revoked');
  t.same(await verify(h, key2.apikey), { valid: false, reason: 'revoked' });
  const reuse = await h.call('user_resetpass', { reset_token: json(knownTok).reset_token, new_password: 'another-Fresh-passphrase-55' });
  t.ok(reuse.statusCode >= 400 && reuse.statusCode < 500, `a reset token is single-use: ${show(reuse)}`);
  const fake = await h.call('user_resetpass', { reset_token: json(unknownTok).reset_token, new_password: 'another-Fresh-passphrase-55' });
  t.ok(fake.statusCode >= 400 && fake.statusCode < 500, show(fake));
});

t.test('user_get by user_id, email, system_id; never a hash', async (t) => {
  const h = await specApp(t);
  const res = await h.call('user_new', { email: 'lookup@example.org', password: PASSWORD, full_name: 'Look Up', system_id: 'sys-lookup' });
  const id = json<{ user_id: number }>(res).user_id;
  for (const by of [{ user_id: id }, { email: 'lookup@example.org' }, { email: ' LookUp@EXAMPLE.org ' }, { system_id: 'sys-lookup' }]) {
    const g = await h.call('user_get', by);
    t.equal(g.statusCode, 200, `${JSON.stringify(by)}: ${show(g)}`);
    const u = json<{ user: Record<string, unknown> }>(g).user;
    t.same(Object.keys(json(g)), ['user']);
    t.match(u, { user_id: id, email: 'lookup@example.org', full_name: 'Look Up', role: 'authenticated', is_active: false, email_verified: false });
    t.notMatch(Object.keys(u).join(','), USER_FIELDS_FORBIDDEN, 'no password or lockout fields');
    t.notMatch(g.body, /\$argon2/);
  }
  for (const by of [{ user_id: 99999 }, { email: 'none@example.org' }, { system_id: 'nope' }]) {
    const g = await h.call('user_get', by);
    t.equal(g.statusCode, 404, show(g));
    t.equal(json(g).code, 'not_found');
  }
  const none = await h.call('user_get', {});
  t.equal(none.statusCode, 400, show(none));
  const su = json<{ user: Record<string, unknown> }>(await h.call('user_get', { user_id: 1 }));
  t.equal(su.user.role, 'superuser');
  t.equal(json<{ user: Record<string, unknown> }>(await h.call('user_get', { user_id: 2 })).user.role, 'anonymous');
});

t.test('user_list: policy-checked, cursor paging', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  for (let i = 0; i < 4; i++) await h.call('user_new', { email: email('list'), password: PASSWORD, full_name: 'L' });
  const mine = await login(h, u.email);
  const denied = await h.call('user_list', { session_token: mine });
  t.equal(denied.statusCode, 403, show(denied));
  t.equal(json(denied).code, 'permission_denied');
  const bad = await h.call('user_list', { session_token: 'azs_nope' });
  t.equal(json(bad).code, 'invalid_session');

  const su = await superLogin(h);
  const seen: number[] = [];
  let cursor: string | null | undefined;
  let pages = 0;
  do {
    const res = await h.call('user_list', { session_token: su, limit: 2, ...(cursor ? { cursor } : {}) });
    t.equal(res.statusCode, 200, show(res));
    const b = json<{ users: { user_id: number }[]; next_cursor: string | null }>(res);
    t.same(Object.keys(b).sort(), ['next_cursor', 'users']);
    t.ok(b.users.length <= 2);
    t.notMatch(res.body, /\$argon2|password/);
    seen.push(...b.users.map((x) => x.user_id));
    cursor = b.next_cursor;
    pages++;
  } while (cursor && pages < 10);
  t.equal(seen.length, 7, `superuser, anonymous?, and 5 users: ${seen}`);
  t.equal(new Set(seen).size, seen.length, 'no user twice');
  t.ok(seen.includes(1) && seen.includes(u.id));
});

t.test('user_edit, user_lock, user_delete', async (t) => {
  const h = await specApp(t);
  h.app.logins.sleep = async () => {};
  const u = await activeUser(h);
  const s = await login(h, u.email);
  const self = await h.call('user_edit', { session_token: s, target_user_id: u.id, update: { full_name: 'Renamed', email: ' NEW.Addr@Example.org' } });
  t.equal(self.statusCode, 200, show(self));
  const eu = json<{ user: Record<string, unknown> }>(self).user;
  t.match(eu, { user_id: u.id, full_name: 'Renamed', email: 'new.addr@example.org' });
  t.notMatch(self.body, /\$argon2/);
  const selfRole = await h.call('user_edit', { session_token: s, target_user_id: u.id, update: { role: 'staff' } });
  t.equal(selfRole.statusCode, 403, show(selfRole));
  t.equal(json(selfRole).code, 'permission_denied');
  const other = await activeUser(h);
  const onOther = await h.call('user_edit', { session_token: s, target_user_id: other.id, update: { full_name: 'Hacked' } });
  t.equal(onOther.statusCode, 403, show(onOther));

  const su = await superLogin(h);
  const promote = await h.call('user_edit', { session_token: su, target_user_id: other.id, update: { role: 'staff' } });
  t.equal(promote.statusCode, 200, show(promote));
  t.equal(json<{ user: { role: string } }>(promote).user.role, 'staff');
  const taken = await h.call('user_edit', { session_token: su, target_user_id: other.id, update: { email: 'new.addr@example.org' } });
  t.equal(taken.statusCode, 409, `email already used: ${show(taken)}`);

  const otherSession = await login(h, other.email);
  const key = await issueKey(h, otherSession);
  const notSuper = await h.call('user_lock', { session_token: s, target_user_id: other.id, locked: true });
  t.equal(notSuper.statusCode, 403, show(notSuper));
  const lk = await h.call('user_lock', { session_token: su, target_user_id: other.id, locked: true });
  t.equal(lk.statusCode, 200, show(lk));
  t.same(Object.keys(json(lk)), ['user']);
  t.equal(json(await h.call('session_exists', { session_token: otherSession })).exists, false, 'locking revokes sessions');
  t.equal((await verify(h, key.apikey)).valid, false, 'locking revokes keys');
  const unlock = await h.call('user_lock', { session_token: su, target_user_id: other.id, locked: false });
  t.equal(unlock.statusCode, 200, show(unlock));
  t.equal(json<{ user: { role: string } }>(unlock).user.role, 'staff', 'the role comes back');
  t.ok(await login(h, other.email));

  const wrongPw = await h.call('user_delete', { session_token: s, target_user_id: u.id, password: 'wrong-password-entirely' });
  t.equal(wrongPw.statusCode, 401, show(wrongPw));
  t.equal(json(wrongPw).code, 'invalid_credentials');
  const del = await h.call('user_delete', { session_token: s, target_user_id: u.id, password: PASSWORD });
  t.equal(del.statusCode, 200, show(del));
  t.same(json(del), { user_id: u.id });
  t.equal((await h.call('user_get', { user_id: u.id })).statusCode, 404);
  t.equal(json(await h.call('session_exists', { session_token: s })).exists, false);
  const gone = await h.call('user_edit', { session_token: su, target_user_id: u.id, update: { full_name: 'x' } });
  t.equal(gone.statusCode, 404, show(gone));
  t.equal(json(gone).code, 'not_found');
  t.ok(SUPERUSER_EMAIL && SUPERUSER_PASSWORD);
});

t.test('passwords are argon2id at rest', async (t) => {
  const h = await specApp(t);
  await activeUser(h);
  const rows = (await query(h, 'SELECT password_hash FROM users WHERE password_hash IS NOT NULL')) as { password_hash: string }[];
  t.ok(rows.length >= 2);
  for (const r of rows) t.match(r.password_hash, /^\$argon2id\$/);
});

// user_list answers a cursor whenever a page is full, so a caller paging through exactly
// `limit` remaining users gets a cursor to an empty page (src/routes/actions/users.ts user_list:
// `rows.length === limit`). audit_query fetches limit+1 to know; user_list should too.
t.test('user_list: no next_cursor on the last page, even when it is full', async (t) => {
  const h = await specApp(t);
  const su = await superLogin(h);
  await activeUser(h);
  const all = json<{ users: unknown[]; next_cursor: string | null }>(await h.call('user_list', { session_token: su, limit: 100 }));
  const n = all.users.length;
  const exact = await h.call('user_list', { session_token: su, limit: n });
  t.equal(json<{ users: unknown[] }>(exact).users.length, n, show(exact));
  t.equal(json(exact).next_cursor, null, `nothing follows: ${show(exact)}`);
});

// The cursor schema takes up to 15 digits, but user ids are 32-bit: on PostgreSQL a cursor past
// 2147483647 reached the `integer` column and came back as a 400 about unstorable characters,
// while SQLite answered the empty last page. Both should answer the empty page.
t.test('user_list: a cursor past every user id is an empty last page on every database', async (t) => {
  const h = await specApp(t);
  const su = await superLogin(h);
  for (const cursor of ['2147483647', '2147483648', '999999999999999']) {
    const res = await h.call('user_list', { session_token: su, cursor });
    t.equal(res.statusCode, 200, `${cursor}: ${show(res)}`);
    t.same(json(res), { users: [], next_cursor: null }, cursor);
  }
});
