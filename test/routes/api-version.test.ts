import t, { type Test } from 'tap';
import { buildTestApp, json, show, type TestApp } from '../helper.js';
import { IP, UA, issueSessionKey, keyBody, newSession, newUser, verify } from '../apikeys/setup.js';

/*
 * An integer api_version must be a safe integer: JSON numbers beyond 2^53 - 1 lose digits when
 * parsed (9007199254740993 reads as 9007199254740992), so the key would carry, and list_apikeys
 * would show, a version the caller never sent. Such values are a 400 on every action that takes one.
 */

/** The body as JSON text with `api_version` written literally (a JS number cannot hold these values). */
function withVersion(body: Record<string, unknown>, literal: string): string {
  return JSON.stringify({ ...body, api_version: '__VERSION__' }).replace('"__VERSION__"', literal);
}

function refused(t: Test, res: Awaited<ReturnType<TestApp['call']>>, what: string): void {
  t.equal(res.statusCode, 400, `${what}: ${show(res)}`);
  t.equal(json(res).code, 'invalid_request', what);
  t.ok((json<{ details?: { path: string }[] }>(res).details ?? []).some((d) => d.path === '/api_version'), `${what}: details name /api_version`);
}

t.test('integer api_version beyond the safe integer range is refused; the edges round-trip', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const session = await newSession(h, uid);
  const { apikey } = await issueSessionKey(h, session);

  for (const literal of ['9007199254740992', '9007199254740993', '-9007199254740992', '1e300']) {
    const issue = withVersion({ session_token: session, ip_address: IP, user_agent: UA, ...keyBody }, literal);
    refused(t, await h.call('issue_apikey', issue), `issue_apikey ${literal}`);
    const standalone = withVersion({ user_id: uid, ip_address: IP, user_agent: UA, refresh_expires_in: 7200, ...keyBody }, literal);
    refused(t, await h.call('issue_apikey_nosession', standalone), `issue_apikey_nosession ${literal}`);
    refused(t, await h.call('verify_apikey', withVersion({ apikey, ip_address: IP, user_agent: UA }, literal)), `verify_apikey ${literal}`);
  }

  for (const edge of [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
    const key = await issueSessionKey(h, session, { api_version: edge });
    const verified = await verify(h, key.apikey, { api_version: edge });
    t.equal(verified.valid, true, `${edge} verifies: ${JSON.stringify(verified)}`);
    t.equal(verified.key?.api_version, edge);
    const list = await h.call('list_apikeys', { session_token: session });
    const listed = json<{ keys: { key_id: string; api_version: unknown }[] }>(list).keys.find((k) => k.key_id === key.key_id);
    t.equal(listed?.api_version, edge, `list_apikeys shows ${edge} as issued: ${show(list)}`);
  }
});
