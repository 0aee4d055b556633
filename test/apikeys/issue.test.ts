import t from 'tap';
import { buildTestApp, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { loginAs } from '../users/fixtures.js';
import { IP, UA, issueSessionKey, issueStandalone, keyBody, newSession, newUser, rawDb, verify } from './setup.js';

/* issue_apikey, issue_apikey_nosession, list_apikeys, revoke_apikey, revoke_all_apikeys. */

const codeOf = (res: { statusCode: number; json(): unknown }) => `${res.statusCode} ${(res.json() as { code?: string }).code ?? ''}`.trim();

t.test('issue_apikey needs a live session matching the request, and the policy', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const session = await newSession(h, uid);
  const issue = (extra: Record<string, unknown>) => h.call('issue_apikey', { session_token: session, ip_address: IP, user_agent: UA, ...keyBody, ...extra });

  const ok = await issue({ not_before: 30 });
  t.equal(ok.statusCode, 201, show(ok));
  t.equal(json(ok).not_before, new Date(h.clock.now() + 30_000).toISOString());
  t.same(Object.keys(json(ok)).sort(), ['apikey', 'expires_at', 'key_id', 'not_before']);

  t.equal(codeOf(await issue({ session_token: session + 'x' })), '401 invalid_session', 'unknown session');
  t.equal(codeOf(await issue({ ip_address: '198.51.100.1' })), '401 invalid_session', "not the session's IP");
  t.equal(codeOf(await issue({ user_agent: 'other' })), '401 invalid_session', "not the session's user agent");
  t.equal(codeOf(await issue({ api_version: 1.5 })), '400 invalid_request');
  t.equal(codeOf(await issue({ role: 'superuser' })), '400 invalid_request', 'the role is never taken from the caller');

  const anon = await newSession(h, 2);
  t.equal(codeOf(await h.call('issue_apikey', { session_token: anon, ip_address: IP, user_agent: UA, ...keyBody })), '403 permission_denied', 'anonymous');

  const db = rawDb(h);
  t.teardown(() => db.close());
  db.prepare("UPDATE users SET admin_locked = 1, role = 'locked' WHERE id = ?").run(uid);
  t.equal(codeOf(await issue({})), '403 permission_denied', 'locked');
});

t.test('a session key never outlives its session', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const res = await h.call('session_new', { ip_address: IP, user_agent: UA, user_id: uid, expires_in: 600 });
  const k = await issueSessionKey(h, res.json().session_token, { expires_in: 86400 });
  t.equal(k.expires_at, new Date(h.clock.now() + 600_000).toISOString());
});

t.test('a key that could never be valid is refused: not_before at or after its expiry (400 naming not_before)', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const session = await newSession(h, uid);
  const refusedOn = (res: Awaited<ReturnType<TestApp['call']>>, what: string) => {
    t.equal(codeOf(res), '400 invalid_request', what);
    t.match(json<{ details: { path: string }[] }>(res).details, [{ path: '/not_before' }], `${what}: details name not_before`);
  };
  const issue = (extra: Record<string, unknown>) => h.call('issue_apikey', { session_token: session, ip_address: IP, user_agent: UA, ...keyBody, ...extra });
  const nosession = (extra: Record<string, unknown>) => h.call('issue_apikey_nosession', {
    user_id: uid, ip_address: IP, user_agent: UA, refresh_expires_in: 7200, ...keyBody, ...extra,
  });

  refusedOn(await issue({ expires_in: 30, not_before: 60 }), 'issue_apikey, not_before after expires_in');
  refusedOn(await issue({ expires_in: 30, not_before: 30 }), 'issue_apikey, not_before equal to expires_in');
  refusedOn(await issue({ expires_in: 200_000, not_before: 90_000 }), "issue_apikey, not_before after the session's expiry (86,400 s) that caps the key");
  refusedOn(await nosession({ expires_in: 30, not_before: 60 }), 'issue_apikey_nosession, not_before after expires_in');
  refusedOn(await nosession({ expires_in: 30, not_before: 30 }), 'issue_apikey_nosession, not_before equal to expires_in');
  refusedOn(await nosession({ expires_in: 300, not_before: 100, refresh_expires_in: 100 }), 'issue_apikey_nosession, a refresh window that never opens');
  const listed = await h.call('list_apikeys', { session_token: session });
  t.same(json(listed).keys, [], 'nothing was issued');

  t.equal((await issue({ expires_in: 30, not_before: 29 })).statusCode, 201, 'one second of validity is enough');
  t.equal((await nosession({ expires_in: 30, not_before: 29, refresh_expires_in: 30 })).statusCode, 201);
});

t.test('issue_apikey_nosession: owner must exist and be allowed', async (t) => {
  const h = await buildTestApp(t);
  const body = { ip_address: IP, refresh_expires_in: 60, ...keyBody };
  t.equal(codeOf(await h.call('issue_apikey_nosession', { user_id: 999, ...body })), '404 not_found');
  t.equal(codeOf(await h.call('issue_apikey_nosession', { user_id: 2, ...body })), '403 permission_denied', 'anonymous');
  const inactive = await newUser(h, { active: false });
  t.equal(codeOf(await h.call('issue_apikey_nosession', { user_id: inactive, ...body })), '403 user_inactive', 'not verified (as session_new answers)');
  const locked = await newUser(h);
  t.equal((await h.call('user_lock', { session_token: await loginAs(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD), target_user_id: locked, locked: true })).statusCode, 200);
  t.equal(codeOf(await h.call('issue_apikey_nosession', { user_id: locked, ...body })), '403 user_inactive', 'admin-locked');
  const ok = await h.call('issue_apikey_nosession', { user_id: 1, ...body });
  t.equal(ok.statusCode, 201, show(ok));
  t.same(Object.keys(json(ok)).sort(), ['apikey', 'expires_at', 'key_id', 'refresh_expires_at', 'refresh_token']);
  const audit = json<{ events: { event: string; subject: string; target_user_id: number }[] }>(await h.call('audit_query', { event: 'apikey_issue' })).events;
  t.equal(audit[0]?.subject, json(ok).key_id);
  t.equal(audit[0]?.target_user_id, 1);
});

async function twoUsers(h: TestApp) {
  const alice = await newUser(h);
  const bob = await newUser(h);
  return { alice, bob, aliceSession: await newSession(h, alice), bobSession: await newSession(h, bob), rootSession: await newSession(h, 1) };
}

t.test('list_apikeys: own keys without secrets; others\' only when the policy allows', async (t) => {
  const h = await buildTestApp(t);
  const { alice, aliceSession, bobSession, rootSession } = await twoUsers(h);
  const k1 = await issueSessionKey(h, aliceSession, { scopes: ['read'] });
  const k2 = await issueStandalone(h, alice);
  await verify(h, k2.apikey);
  await verify(h, k2.apikey);
  await h.app.apikeys.usage.flush();
  await h.call('revoke_apikey', { session_token: aliceSession, key_id: k1.key_id });

  const res = await h.call('list_apikeys', { session_token: aliceSession });
  t.equal(res.statusCode, 200, show(res));
  const keys = json<{ keys: Record<string, unknown>[] }>(res).keys;
  t.same(keys.map((k) => k.key_id), [k1.key_id, k2.key_id]);
  t.same(Object.keys(keys[0]!).sort(), ['api_version', 'audience', 'expires_at', 'issued_at', 'key_id', 'kind', 'last_used_at', 'revoked_at', 'scopes', 'subject']);
  t.equal(keys[0]!.kind, 'session');
  t.type(keys[0]!.revoked_at, 'string');
  t.equal(keys[1]!.last_used_at, new Date(h.clock.now()).toISOString(), 'usage shows after a flush');
  t.notMatch(res.body, /azk_|azr_|token/, 'no key, refresh token or hash in the answer');
  const db = rawDb(h);
  t.equal((db.prepare('SELECT use_count FROM api_keys WHERE id = ?').get(k2.key_id) as { use_count: number }).use_count, 2);
  db.close();

  t.equal(codeOf(await h.call('list_apikeys', { session_token: bobSession, target_user_id: alice })), '403 permission_denied');
  const byRoot = await h.call('list_apikeys', { session_token: rootSession, target_user_id: alice });
  t.equal(json<{ keys: unknown[] }>(byRoot).keys.length, 2, show(byRoot));
  t.equal(codeOf(await h.call('list_apikeys', { session_token: rootSession, target_user_id: 999 })), '404 not_found');
});

t.test('revoke_apikey: owner or superuser; by key or key id', async (t) => {
  const h = await buildTestApp(t);
  const { alice, aliceSession, bobSession, rootSession } = await twoUsers(h);
  const k1 = await issueStandalone(h, alice);
  const k2 = await issueStandalone(h, alice);

  t.equal(codeOf(await h.call('revoke_apikey', { session_token: bobSession, apikey: k1.apikey })), '403 permission_denied', 'not the owner');
  t.equal((await verify(h, k1.apikey)).valid, true);
  t.equal(codeOf(await h.call('revoke_apikey', { session_token: aliceSession, key_id: 'key_nope' })), '404 not_found');
  t.equal(codeOf(await h.call('revoke_apikey', { session_token: aliceSession, apikey: k1.apikey.slice(0, -2) + 'AA' })), '404 not_found', 'a tampered key names no key');
  t.equal(codeOf(await h.call('revoke_apikey', { session_token: aliceSession })), '400 invalid_request');
  t.equal(codeOf(await h.call('revoke_apikey', { session_token: aliceSession, key_id: k1.key_id, apikey: k1.apikey })), '400 invalid_request');

  const own = await h.call('revoke_apikey', { session_token: aliceSession, apikey: k1.apikey, reason: 'laptop stolen' });
  t.same(own.json(), { revoked: true }, show(own));
  t.equal((await verify(h, k1.apikey)).reason, 'revoked');
  const root = await h.call('revoke_apikey', { session_token: rootSession, key_id: k2.key_id });
  t.same(root.json(), { revoked: true }, show(root));
  t.equal((await verify(h, k2.apikey)).reason, 'revoked');

  const audit = json<{ events: { subject: string; actor_user_id: number; details: { reason: string } }[] }>(await h.call('audit_query', { event: 'apikey_revoke' })).events;
  t.same(audit.map((e) => [e.subject, e.actor_user_id]), [[k2.key_id, 1], [k1.key_id, alice]]);
  t.equal(audit[1]!.details.reason, 'laptop stolen');
});

t.test('revoke_all_apikeys: own keys, or a target user\'s for the superuser', async (t) => {
  const h = await buildTestApp(t);
  const { alice, bob, aliceSession, bobSession, rootSession } = await twoUsers(h);
  const a = [await issueStandalone(h, alice), await issueSessionKey(h, aliceSession)];
  const b = await issueStandalone(h, bob);

  t.equal(codeOf(await h.call('revoke_all_apikeys', { session_token: bobSession, target_user_id: alice })), '403 permission_denied');
  const res = await h.call('revoke_all_apikeys', { session_token: aliceSession });
  t.same(res.json(), { revoked: 2 }, show(res));
  for (const k of a) t.equal((await verify(h, k.apikey)).reason, 'revoked');
  t.equal((await verify(h, b.apikey)).valid, true, "other users' keys live on");

  const byRoot = await h.call('revoke_all_apikeys', { session_token: rootSession, target_user_id: bob });
  t.same(byRoot.json(), { revoked: 1 }, show(byRoot));
  t.equal((await verify(h, b.apikey)).reason, 'revoked');
  const audit = json<{ events: { target_user_id: number; details: { revoked: number } }[] }>(await h.call('audit_query', { event: 'apikey_revoke_all' })).events;
  t.same(audit.map((e) => [e.target_user_id, e.details.revoked]), [[bob, 1], [alice, 2]]);
});

t.test('target_user_id of a user who does not exist: 403 to a user who may not name other users, 404 to one who may', async (t) => {
  const h = await buildTestApp(t);
  const { bobSession, rootSession } = await twoUsers(h);
  // SPEC §4.2: target_user_id is for the superuser only; anyone else is refused whatever the id,
  // so the answer does not tell an ordinary user which user ids exist.
  t.equal(codeOf(await h.call('revoke_all_apikeys', { session_token: bobSession, target_user_id: 999 })), '403 permission_denied');
  t.equal(codeOf(await h.call('list_apikeys', { session_token: bobSession, target_user_id: 999 })), '403 permission_denied');
  t.equal(codeOf(await h.call('revoke_all_apikeys', { session_token: rootSession, target_user_id: 999 })), '404 not_found');
  t.equal(codeOf(await h.call('list_apikeys', { session_token: rootSession, target_user_id: 999 })), '404 not_found');
});

t.test('list_apikeys answers api_version with the type it was issued with', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const session = await newSession(h, uid);
  const asInt = await issueSessionKey(h, session, { api_version: 2 });
  const asStr = await issueSessionKey(h, session, { api_version: '2' });
  const listed = json<{ keys: { key_id: string; api_version: unknown }[] }>(await h.call('list_apikeys', { session_token: session })).keys;
  t.equal(listed.find((k) => k.key_id === asInt.key_id)?.api_version, 2);
  t.equal(listed.find((k) => k.key_id === asStr.key_id)?.api_version, '2');
});
