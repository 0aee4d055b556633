import t from 'tap';
import { buildTestApp, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD } from '../helper.js';
import { anonSession, loginAs, PASSWORD, verifiedUser } from './fixtures.js';

/**
 * An email that is not verified keeps a user from logging in (SPEC §2: 403 `user_inactive`, "the
 * user has not verified the email"). A changed address is unverified, so `user_edit` answers a
 * fresh verification token for it; a completed password reset also proves the mailbox.
 */

type Edit = { user: Record<string, unknown>; verification_token?: string; verification_expires_at?: string };

async function setup(t: Parameters<typeof buildTestApp>[0]) {
  const h = await buildTestApp(t);
  h.app.logins.sleep = async () => {};
  const su = await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
  const login = async (email: string, password = PASSWORD) =>
    h.call('user_login', { session_token: await anonSession(h), email, password });
  return { h, su, login };
}

t.test('a changed email: login waits for the new verification token; the session goes on', async (t) => {
  const { h, login } = await setup(t);
  const id = await verifiedUser(h, 'move@example.com');
  const me = await loginAs(h, 'move@example.com');

  const edited = await h.call('user_edit', { session_token: me, target_user_id: id, update: { email: 'Moved@Example.com' } });
  t.equal(edited.statusCode, 200, show(edited));
  const first = json<Edit>(edited);
  t.match(first.user, { email: 'moved@example.com', email_verified: false, is_active: true });
  t.match(first.verification_token, /^azv_/, 'a verification token for the new address');
  t.equal(Date.parse(first.verification_expires_at!) - Date.parse(first.user.updated_at as string), 48 * 3600_000,
    'valid for 48 hours from the edit, like a sign-up token');

  const refused = await login('moved@example.com');
  t.equal(refused.statusCode, 403, show(refused));
  t.equal(json(refused).code, 'user_inactive');
  const old = await login('move@example.com');
  t.equal(old.statusCode, 401, `the old address is no account any more: ${show(old)}`);
  const exists = await h.call('session_exists', { session_token: me });
  t.match(json(exists), { exists: true, user: { email_verified: false } }, 'the current session goes on');
  const passcheck = await h.call('user_passcheck', { session_token: me, password: PASSWORD });
  t.match(json(passcheck), { ok: true }, 'and so do password checks');

  // The same unverified address again is a resend: the pending token is replaced.
  const again = await h.call('user_edit', { session_token: me, target_user_id: id, update: { email: 'moved@example.com' } });
  t.equal(again.statusCode, 200, show(again));
  const second = json<Edit>(again).verification_token!;
  t.match(second, /^azv_/);
  t.not(second, first.verification_token);
  const stale = await h.call('user_verify_email', { verification_token: first.verification_token });
  t.equal(stale.statusCode, 400, `the replaced token is dead: ${show(stale)}`);

  const verified = await h.call('user_verify_email', { verification_token: second });
  t.equal(verified.statusCode, 200, show(verified));
  t.same(json(verified), { user_id: id, role: 'authenticated' });
  const ok = await login('moved@example.com');
  t.equal(ok.statusCode, 200, show(ok));

  const rename = await h.call('user_edit', { session_token: me, target_user_id: id, update: { full_name: 'Moved Person' } });
  t.equal(json<Edit>(rename).verification_token, undefined, 'an edit that leaves the verified email alone answers no token');
  const same = await h.call('user_edit', { session_token: me, target_user_id: id, update: { email: 'moved@example.com' } });
  t.match(json<Edit>(same), { user: { email_verified: true } }, 'nor does sending the verified address again');
  t.equal(json<Edit>(same).verification_token, undefined);
});

t.test('a superuser may clear or set email_verified; an unverified email cannot log in', async (t) => {
  const { h, su, login } = await setup(t);
  const id = await verifiedUser(h, 'flag@example.com');

  const cleared = await h.call('user_edit', { session_token: su, target_user_id: id, update: { email_verified: false } });
  t.equal(cleared.statusCode, 200, show(cleared));
  t.match(json<Edit>(cleared).user, { email_verified: false, is_active: true });
  t.equal(json<Edit>(cleared).verification_token, undefined, 'no email in the edit: no token');
  const refused = await login('flag@example.com');
  t.equal(refused.statusCode, 403, show(refused));
  t.equal(json(refused).code, 'user_inactive');
  const wrong = await login('flag@example.com', 'not the right password 1');
  t.equal(wrong.statusCode, 401, `a wrong password still answers invalid_credentials: ${show(wrong)}`);

  const audit = await h.call('audit_query', { event: 'login', target_user_id: id });
  t.match(json<{ events: unknown[] }>(audit).events, [{ outcome: 'failure' }], show(audit));
  t.ok(json<{ events: Array<{ details: { reason?: string } }> }>(audit).events.some((e) => e.details.reason === 'email_unverified'),
    'the audit log tells an unverified email from a deactivated account');

  const moved = await h.call('user_edit', { session_token: su, target_user_id: id, update: { email: 'flag2@example.com', email_verified: true } });
  t.match(json<Edit>(moved), { user: { email: 'flag2@example.com', email_verified: true } });
  t.equal(json<Edit>(moved).verification_token, undefined, 'a superuser who vouches for the address gets no token');
  t.equal((await login('flag2@example.com')).statusCode, 200);
});

t.test('a completed password reset verifies the email of an active user', async (t) => {
  const { h, login } = await setup(t);
  const id = await verifiedUser(h, 'reset@example.com');
  const me = await loginAs(h, 'reset@example.com');
  const edited = await h.call('user_edit', { session_token: me, target_user_id: id, update: { email: 'reset2@example.com' } });
  t.equal(edited.statusCode, 200, show(edited));
  t.equal((await login('reset2@example.com')).statusCode, 403);

  const tokenRes = await h.call('user_resetpass_token', { email: 'reset2@example.com' });
  t.equal(tokenRes.statusCode, 200, show(tokenRes));
  const newPassword = 'a fresh correct horse battery';
  const reset = await h.call('user_resetpass', { reset_token: json<{ reset_token: string }>(tokenRes).reset_token, new_password: newPassword });
  t.equal(reset.statusCode, 200, show(reset));
  const got = await h.call('user_get', { user_id: id });
  t.match(json<Edit>(got).user, { email_verified: true });
  t.equal((await login('reset2@example.com', newPassword)).statusCode, 200);
});

t.test('a deactivated user gets no verification token, so none can reactivate them', async (t) => {
  const { h, su, login } = await setup(t);
  const created = await h.call('user_new', { email: 'spam@example.com', password: PASSWORD, full_name: 'Spam Sender' });
  t.equal(created.statusCode, 201, show(created));
  const { user_id: id, verification_token: signupToken } = json<{ user_id: number; verification_token: string }>(created);

  // An admin changes the address of a sign-up not yet verified: the verification moves with it.
  const moved = await h.call('user_edit', { session_token: su, target_user_id: id, update: { email: 'spam2@example.com' } });
  t.equal(moved.statusCode, 200, show(moved));
  const movedToken = json<Edit>(moved).verification_token;
  t.match(movedToken, /^azv_/, 'a sign-up not yet verified gets a token for its new address');
  const oldToken = await h.call('user_verify_email', { verification_token: signupToken });
  t.equal(oldToken.statusCode, 400, `the sign-up token was for the old address: ${show(oldToken)}`);

  const off = await h.call('user_edit', { session_token: su, target_user_id: id, update: { is_active: false } });
  t.equal(off.statusCode, 200, show(off));
  const late = await h.call('user_verify_email', { verification_token: movedToken });
  t.equal(late.statusCode, 400, `deactivation drops the pending verification: ${show(late)}`);
  const again = await h.call('user_edit', { session_token: su, target_user_id: id, update: { email: 'spam3@example.com' } });
  t.equal(again.statusCode, 200, show(again));
  t.equal(json<Edit>(again).verification_token, undefined, 'a deactivated user gets no token');
  t.match(json<Edit>(again).user, { is_active: false, email_verified: false });
  t.equal((await login('spam3@example.com')).statusCode, 403);
});
