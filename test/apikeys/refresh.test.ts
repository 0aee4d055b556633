import t from 'tap';
import { buildTestApp, json, show, type TestApp } from '../helper.js';
import { IP, UA, issueSessionKey, issueStandalone, newSession, newUser, rawDb, verify, type Standalone } from './setup.js';

/* refresh_apikey: single-use refresh tokens, families, reuse detection (SPEC §4.2). */

const refresh = (h: TestApp, k: { apikey: string; refresh_token: string }, extra: Record<string, unknown> = {}) =>
  h.call('refresh_apikey', { apikey: k.apikey, refresh_token: k.refresh_token, ip_address: IP, user_agent: UA, ...extra });

t.test('a refresh after the key expired, inside the refresh window, issues the next key', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const k1 = await issueStandalone(h, uid, { expires_in: 60, refresh_expires_in: 600, scopes: ['read'] });
  h.clock.advance(120);
  t.equal((await verify(h, k1.apikey)).reason, 'expired');
  const res = await refresh(h, k1);
  t.equal(res.statusCode, 201, show(res));
  const k2 = json<Standalone>(res);
  t.not(k2.key_id, k1.key_id);
  t.not(k2.refresh_token, k1.refresh_token);
  t.equal(k2.expires_at, new Date(h.clock.now() + 60_000).toISOString(), 'same lifetime as the first key');
  t.equal(k2.refresh_expires_at, new Date(h.clock.now() + 600_000).toISOString());
  const v = await verify(h, k2.apikey, { scope: 'read' });
  t.equal(v.valid, true, JSON.stringify(v));

  h.clock.advance(10);
  const again = await refresh(h, k2);
  t.equal(again.statusCode, 201, show(again));
  t.equal((await verify(h, k2.apikey)).reason, 'revoked', 'the refreshed key stops working at once');

  const db = rawDb(h);
  t.teardown(() => db.close());
  const tokens = db.prepare('SELECT token_hash FROM refresh_tokens').all() as { token_hash: string }[];
  t.equal(tokens.length, 3);
  for (const r of tokens) t.match(r.token_hash, /^[0-9a-f]{64}$/, 'refresh tokens are stored hashed');
  t.notOk(JSON.stringify(tokens).includes(k2.refresh_token));
  const events = json<{ events: { event: string }[] }>(await h.call('audit_query', { event: 'apikey_refresh' })).events;
  t.equal(events.length, 2, 'each refresh is audited');
});

t.test('refusals: before the window, wrong token, expired window, wrong key, session keys, other IP', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const k = await issueStandalone(h, uid, { not_before: 5, expires_in: 60, refresh_expires_in: 100 });
  const other = await issueStandalone(h, uid);
  const code = async (res: Awaited<ReturnType<typeof refresh>>) => `${res.statusCode} ${json(res).code}`;

  t.equal(await code(await refresh(h, k)), '401 invalid_refresh_token', 'before the refresh window opens (the key is not valid yet)');
  h.clock.advance(5);
  t.equal(await code(await refresh(h, { ...k, refresh_token: k.refresh_token + 'x' })), '401 invalid_refresh_token', 'unknown token');
  t.equal(await code(await refresh(h, { ...k, refresh_token: other.refresh_token })), '401 invalid_refresh_token', "another key's token");
  t.equal(await code(await refresh(h, k, { ip_address: '198.51.100.1' })), '401 invalid_refresh_token', "not from the key's IP");
  t.equal(await code(await refresh(h, k, { apikey: 'azk_garbage' })), '401 invalid_refresh_token', 'not a key');
  t.equal((await verify(h, other.apikey)).valid, true, 'failed refreshes revoke nothing');

  const s = await issueSessionKey(h, await newSession(h, uid));
  t.equal(await code(await refresh(h, { apikey: s.apikey, refresh_token: k.refresh_token })), '401 invalid_refresh_token', 'session keys cannot be refreshed');

  h.clock.advance(100);
  t.equal(await code(await refresh(h, k)), '401 invalid_refresh_token', 'after the refresh window');
});

t.test('a stolen and replayed refresh token kills the legitimate holder\'s current key', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const k1 = await issueStandalone(h, uid);
  const bystander = await issueStandalone(h, uid);
  // The attacker copies k1 and its refresh token; the holder refreshes first, as usual.
  const stolen = { ...k1 };
  const r = await refresh(h, k1);
  t.equal(r.statusCode, 201, show(r));
  const k2 = json<Standalone>(r);
  t.equal((await verify(h, k2.apikey)).valid, true);

  const replay = await refresh(h, stolen);
  t.equal(replay.statusCode, 401, show(replay));
  t.equal(json(replay).code, 'invalid_refresh_token');
  t.equal((await verify(h, k2.apikey)).reason, 'revoked', "the holder's current key is revoked with the whole family");
  const holder = await refresh(h, k2);
  t.equal(holder.statusCode, 401, "the family's live refresh token is spent too");
  t.equal((await verify(h, bystander.apikey)).valid, true, 'other families are untouched');
  const events = json<{ events: { event: string; outcome: string; details: { revoked: number } }[] }>(await h.call('audit_query', { event: 'apikey_refresh_reuse' })).events;
  // Newest first: the holder's own attempt (its token was spent by the revocation), then the replay.
  t.equal(events.length, 2);
  t.equal(events[1]!.outcome, 'failure');
  t.equal(events[1]!.details.revoked, 1, 'the replay revoked the one live key of the family');
});

t.test('no refresh for an owner who changed role, was deactivated or locked: 401 invalid_refresh_token (SPEC §4.2)', async (t) => {
  const h = await buildTestApp(t);
  const db = rawDb(h);
  t.teardown(() => db.close());
  const cases: [string, string][] = [
    ['changed role', "UPDATE users SET role = 'staff' WHERE id = ?"],
    ['deactivated', 'UPDATE users SET is_active = 0 WHERE id = ?'],
    ['locked', 'UPDATE users SET admin_locked = 1 WHERE id = ?'],
  ];
  for (const [what, change] of cases) {
    const uid = await newUser(h);
    const k = await issueStandalone(h, uid);
    db.prepare(change).run(uid);
    const res = await refresh(h, k);
    t.equal(res.statusCode, 401, `${what}: ${show(res)}`);
    t.equal(json(res).code, 'invalid_refresh_token', what);
    t.match(json<{ message: string }>(res).message, /owner is inactive, locked or changed role/, `${what}: the message says why`);
  }
});

t.test('refresh takes user agents up to 16,384 characters, like verify: a long User-Agent refreshes an unbound key, never a bound one', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const longUa = 'Mozilla/5.0 ' + 'x'.repeat(16_384 - 12);
  t.equal(longUa.length, 16_384);

  // Not bound to a user agent: the long one is fine, and the successor is not bound either.
  const free = await issueStandalone(h, uid, { bind: { user_agent: false } });
  const res = await refresh(h, free, { user_agent: longUa });
  t.equal(res.statusCode, 201, show(res));
  const next = json<Standalone>(res);
  t.equal((await verify(h, next.apikey, { user_agent: longUa })).valid, true, 'the successor works with the long user agent');
  t.equal((await verify(h, next.apikey, { user_agent: 'curl/8' })).valid, true, 'and with any other: it is not bound');
  const db = rawDb(h);
  t.teardown(() => db.close());
  const row = db.prepare('SELECT bind_user_agent FROM api_keys WHERE id = ?').get(next.key_id) as { bind_user_agent: string | null };
  t.equal(row.bind_user_agent, null, 'no user agent (nor its hash) stored for the unbound successor');

  // Bound to a user agent (at most 1,024 at issue): a longer one is a mismatch, answered like any other.
  const bound = await issueStandalone(h, uid);
  const mismatch = await refresh(h, bound, { user_agent: longUa });
  t.equal(mismatch.statusCode, 401, show(mismatch));
  t.equal(json(mismatch).code, 'invalid_refresh_token');
  const shortMismatch = await refresh(h, bound, { user_agent: UA + ' other' });
  const gist = (r: typeof mismatch) => { const { code, message } = json<{ code: string; message: string }>(r); return { status: r.statusCode, code, message }; };
  t.same(gist(mismatch), gist(shortMismatch), 'the same answer as any other user agent mismatch');
  t.match(gist(mismatch).message, /user agent/);
  t.equal((await verify(h, bound.apikey)).valid, true, 'a refused refresh spends nothing: the key still works');
  const ok = await refresh(h, bound);
  t.equal(ok.statusCode, 201, 'and its refresh token still refreshes from the bound user agent');
  const successor = json<Standalone>(ok);
  t.equal((await verify(h, successor.apikey)).valid, true);
  t.equal((await verify(h, successor.apikey, { user_agent: 'curl/8' })).reason, 'user_agent_mismatch', 'the successor is bound to the same user agent');

  const over = await refresh(h, successor, { user_agent: longUa + 'x' });
  t.equal(over.statusCode, 400, 'over 16,384 characters: the call is wrong');
  t.equal(json(over).code, 'invalid_request');
});
