import t from 'tap';
import { buildTestApp, json, show, type TestApp } from '../helper.js';
import { IP, UA, issueStandalone, newSession, newUser, verify, type Standalone } from './setup.js';

/*
 * authnzerver's no-session API-key tests (tests/test_apikey_nosession.py and
 * test_apiclient_apikey_refresh_nosession.py), re-expressed for authnzd with the injected
 * clock instead of sleeps. authnzerver verified with a caller-supplied user id; authnzd binds
 * the key to the owner's IP and user agent and answers the owner, so "another user" is a
 * request from another user's session context. Its revoke-all took the key itself; authnzd's
 * takes the acting session, so the tampered credential is the session token.
 */

const issue = (h: TestApp, uid: number) => issueStandalone(h, uid, { expires_in: 6, not_before: 1, refresh_expires_in: 10 });

t.test('a key with not_before 1 s is not valid at once, valid after, and expires', async (t) => {
  const h = await buildTestApp(t);
  const k = await issue(h, await newUser(h));
  t.equal((await verify(h, k.apikey)).reason, 'not_yet_valid');
  h.clock.advance(1);
  t.equal((await verify(h, k.apikey)).valid, true);
  h.clock.advance(6);
  t.equal((await verify(h, k.apikey)).reason, 'expired');
});

t.test("a key verified for another user's session fails", async (t) => {
  const h = await buildTestApp(t);
  const alice = await newUser(h);
  const bob = await newUser(h);
  const k = await issue(h, alice);
  h.clock.advance(1);
  await newSession(h, bob, '198.51.100.50', 'Bob browser');
  const asBob = await verify(h, k.apikey, { ip_address: '198.51.100.50', user_agent: 'Bob browser' });
  t.equal(asBob.valid, false);
  t.equal(asBob.reason, 'ip_mismatch');
  const asAlice = await verify(h, k.apikey);
  t.equal(asAlice.key?.user_id, alice, 'the key answers its owner, so a frontend can compare it with its session user');
});

t.test('revoke by a non-owner fails; by the owner succeeds; the key then fails for everyone', async (t) => {
  const h = await buildTestApp(t);
  const alice = await newUser(h);
  const bob = await newUser(h);
  const k = await issue(h, alice);
  h.clock.advance(2);
  const byBob = await h.call('revoke_apikey', { session_token: await newSession(h, bob), apikey: k.apikey });
  t.equal(byBob.statusCode, 403, show(byBob));
  const byAlice = await h.call('revoke_apikey', { session_token: await newSession(h, alice), apikey: k.apikey });
  t.same(byAlice.json(), { revoked: true }, show(byAlice));
  t.equal((await verify(h, k.apikey)).reason, 'revoked');
  t.equal((await verify(h, k.apikey, { ip_address: '198.51.100.50' })).valid, false);
});

t.test('revoke-all with a tampered credential fails; with a good one kills all', async (t) => {
  const h = await buildTestApp(t);
  const alice = await newUser(h);
  const keys = [await issue(h, alice), await issue(h, alice)];
  h.clock.advance(1);
  const session = await newSession(h, alice);
  const tampered = await h.call('revoke_all_apikeys', { session_token: session.slice(0, -1) + (session.endsWith('A') ? 'B' : 'A') });
  t.equal(tampered.statusCode, 401, show(tampered));
  for (const k of keys) t.equal((await verify(h, k.apikey)).valid, true);
  const good = await h.call('revoke_all_apikeys', { session_token: session });
  t.same(good.json(), { revoked: 2 }, show(good));
  for (const k of keys) t.equal((await verify(h, k.apikey)).reason, 'revoked');
});

t.test('refresh: before the window fails, wrong token fails, after key expiry succeeds, spent token fails', async (t) => {
  const h = await buildTestApp(t);
  const k = await issue(h, await newUser(h));
  const refresh = (key: Standalone, token = key.refresh_token) =>
    h.call('refresh_apikey', { apikey: key.apikey, refresh_token: token, ip_address: IP, user_agent: UA });

  const early = await refresh(k);
  t.equal(early.statusCode, 401, `before the refresh window: ${show(early)}`);
  h.clock.advance(2);
  const wrong = await refresh(k, 'azr_' + 'x'.repeat(43));
  t.equal(wrong.statusCode, 401, show(wrong));
  h.clock.advance(6);
  t.equal((await verify(h, k.apikey)).reason, 'expired');
  const ok = await refresh(k);
  t.equal(ok.statusCode, 201, `after key expiry, inside the refresh window: ${show(ok)}`);
  t.equal((await verify(h, json<Standalone>(ok).apikey)).valid, true);
  const spent = await refresh(k);
  t.equal(spent.statusCode, 401, show(spent));
  t.equal(json(spent).code, 'invalid_refresh_token');
});
