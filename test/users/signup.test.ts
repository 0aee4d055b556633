import t from 'tap';
import { buildTestApp, json, show } from '../helper.js';
import { anonSession, loginAs, PASSWORD, verifiedUser } from './fixtures.js';

t.test('user_new creates an inactive user; verification activates it', async (t) => {
  const h = await buildTestApp(t);
  const res = await h.call('user_new', { email: '  Alice@Example.COM ', password: PASSWORD, full_name: 'Alice Liddell', extra: { plan: 'free' }, ip_address: '192.0.2.1' });
  t.equal(res.statusCode, 201, show(res));
  const body = json<{ user_id: number; system_id: string; email: string; verification_token: string; verification_expires_at: string }>(res);
  t.equal(body.email, 'alice@example.com', 'email is normalised');
  t.match(body.system_id, /^[0-9a-f-]{36}$/);
  t.ok(body.verification_token.length >= 43);
  t.equal(body.verification_expires_at, new Date(h.clock.now() + 2 * 86400_000).toISOString());
  t.notMatch(res.body, /argon2|password/);

  const got = await h.call('user_get', { user_id: body.user_id });
  t.match(json(got).user, { email: 'alice@example.com', is_active: false, email_verified: false, full_name: 'Alice Liddell', extra: { plan: 'free' } }, show(got));
  t.notMatch(got.body, /argon2/, 'no password hash in a user object');

  // authnzerver: login before verification fails
  const early = await h.call('user_login', { session_token: await anonSession(h), email: 'alice@example.com', password: PASSWORD });
  t.equal(early.statusCode, 403, show(early));
  t.equal(json(early).code, 'user_inactive');

  const v = await h.call('user_verify_email', { verification_token: body.verification_token });
  t.equal(v.statusCode, 200, show(v));
  t.same(json(v), { user_id: body.user_id, role: 'authenticated' });
  const again = await h.call('user_verify_email', { verification_token: body.verification_token });
  t.equal(again.statusCode, 400, `a verification token works once: ${show(again)}`);
  t.equal(json(again).code, 'invalid_request');

  const login = await h.call('user_login', { session_token: await anonSession(h), email: 'ALICE@example.com', password: PASSWORD });
  t.equal(login.statusCode, 200, show(login));
});

t.test('email normalisation is NFKC + trim + lower-case on every action', async (t) => {
  const h = await buildTestApp(t);
  // Fullwidth letters collapse under NFKC.
  const res = await h.call('user_new', { email: 'ＢＯＢ@example.com', password: PASSWORD, full_name: 'Bob' });
  t.equal(res.statusCode, 201, show(res));
  t.equal(json(res).email, 'bob@example.com');
  const byEmail = await h.call('user_get', { email: ' BOB@EXAMPLE.COM' });
  t.equal(byEmail.statusCode, 200, show(byEmail));
  t.equal(json<{ user: { user_id: number } }>(byEmail).user.user_id, json(res).user_id);
  const dup = await h.call('user_new', { email: 'bob@ｅxample.com', password: 'another-Long-passphrase-77', full_name: 'Mallory' });
  t.equal(dup.statusCode, 409, `the same address in another spelling is a duplicate: ${show(dup)}`);
});

t.test('duplicate sign-up is 409 conflict and never overwrites the account', async (t) => {
  const h = await buildTestApp(t);
  const first = await h.call('user_new', { email: 'carol@example.com', password: PASSWORD, full_name: 'Carol' });
  t.equal(first.statusCode, 201, show(first));
  const dup = await h.call('user_new', { email: 'carol@example.com', password: 'totally-Different-pass-99', full_name: 'Mallory' });
  t.equal(dup.statusCode, 409, show(dup));
  t.equal(json(dup).code, 'conflict');
  const got = await h.call('user_get', { email: 'carol@example.com' });
  t.equal(json<{ user: { full_name: string } }>(got).user.full_name, 'Carol', 'the first account is unchanged');
  const ok = await h.call('user_passcheck_nosession', { email: 'carol@example.com', password: PASSWORD });
  t.notOk(json(ok).ok, 'still inactive, but the password was not replaced');
  t.equal(json(ok).reason, 'user_inactive', show(ok));

  const sys = await h.call('user_new', { email: 'dave@example.com', password: PASSWORD, full_name: 'Dave', system_id: 'ext-1' });
  t.equal(sys.statusCode, 201, show(sys));
  const sysDup = await h.call('user_new', { email: 'erin@example.com', password: PASSWORD, full_name: 'Erin', system_id: 'ext-1' });
  t.equal(sysDup.statusCode, 409, show(sysDup));
  const bySys = await h.call('user_get', { system_id: 'ext-1' });
  t.equal(json<{ user: { email: string } }>(bySys).user.email, 'dave@example.com');
});

t.test('password policy: every failed rule in details', async (t) => {
  const h = await buildTestApp(t);
  const rules = async (password: string, email = 'frank.sinatra@example.com', full_name = 'Frank Sinatra') => {
    const res = await h.call('user_new', { email, password, full_name });
    if (res.statusCode === 201) return [];
    t.equal(res.statusCode, 400, show(res));
    t.equal(json(res).code, 'weak_password', show(res));
    const details = json<{ details: { rule: string; path: string }[] }>(res).details;
    t.ok(details.every((d) => d.path === '/password'), `details name the field sent: ${show(res)}`);
    return details.map((d) => d.rule).sort();
  };
  t.same(await rules('111111', '111111@example.com'), ['all_digits', 'common_password', 'min_length', 'repeated_character', 'similar_to_user'], 'all five rules at once');
  t.same(await rules('Xq7!vB'), ['min_length']);
  t.same(await rules('Xq7'), ['min_length'], 'a character that occurs once is not repeated, however short the password');
  t.same(await rules('Xq7X'), ['min_length', 'repeated_character'], 'one that occurs twice in four is');
  t.same(await rules('password1234'), ['common_password']);
  t.same(await rules('Password1234!'), ['common_password'], 'a common word padded with digits and symbols');
  t.same(await rules('384729105638'), ['all_digits']);
  t.same(await rules('aaaaaaaXbcdefgh'), ['repeated_character']);
  t.same(await rules('franksinatra1'), ['similar_to_user']);
  t.same(await rules('frank.sinatra@example.com'), ['similar_to_user']);
  t.same(await rules('Sinatra-Frank!'), ['similar_to_user']);
  t.same(await rules(PASSWORD, 'grace@example.com', 'Grace'), [], 'a good password passes');
});

t.test('user_new rejects bad input', async (t) => {
  const h = await buildTestApp(t);
  const bad = await h.call('user_new', { email: 'not-an-email', password: PASSWORD, full_name: 'X' });
  t.equal(bad.statusCode, 400, show(bad));
  t.equal(json(bad).code, 'invalid_request');
  const extraField = await h.call('user_new', { email: 'x@example.com', password: PASSWORD, full_name: 'X', role: 'superuser' });
  t.equal(extraField.statusCode, 400, `a role cannot be chosen at sign-up: ${show(extraField)}`);
  const badIp = await h.call('user_new', { email: 'x@example.com', password: PASSWORD, full_name: 'X', ip_address: 'nope' });
  t.equal(badIp.statusCode, 400, show(badIp));
});

// An address with a control character (U+0000, U+001F, U+007F …) is no email address; SQLite
// stored one at sign-up (PostgreSQL refused U+0000 only as an unstorable value), and user_edit
// took one too.
t.test('an email holding a control character is a 400 on user_new and user_edit', async (t) => {
  const h = await buildTestApp(t);
  for (const email of ['nul\u0000@example.com', 'bell\u0007@example.com', 'del\u007f@example.com', 'c1\u0085x@example.com']) {
    const res = await h.call('user_new', { email, password: PASSWORD, full_name: 'X' });
    t.equal(res.statusCode, 400, `${JSON.stringify(email)}: ${show(res)}`);
    // U+0000 is refused with every other unstorable text before the email check (json-body.ts).
    t.match(json(res), { code: 'invalid_request', details: [{ path: '/email' }] });
  }
  const id = await verifiedUser(h, 'ctl@example.com');
  const token = await loginAs(h, 'ctl@example.com');
  const edit = await h.call('user_edit', { session_token: token, target_user_id: id, update: { email: 'ctl\u0000@example.com' } });
  t.equal(edit.statusCode, 400, show(edit));
  t.match(json(edit), { code: 'invalid_request', details: [{ path: '/update/email' }] });
});

t.test('user_get', async (t) => {
  const h = await buildTestApp(t);
  const su = await h.call('user_get', { user_id: 1 });
  t.equal(su.statusCode, 200, show(su));
  t.match(json(su).user, { user_id: 1, role: 'superuser', is_active: true, locked: false });
  const none = await h.call('user_get', { user_id: 999 });
  t.equal(none.statusCode, 404, show(none));
  t.equal(json(none).code, 'not_found');
  const two = await h.call('user_get', { user_id: 1, email: 'a@b.c' });
  t.equal(two.statusCode, 400, show(two));
  const zero = await h.call('user_get', {});
  t.equal(zero.statusCode, 400, show(zero));
});
