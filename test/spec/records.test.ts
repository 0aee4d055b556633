import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ADMIN_SECRET, json, repoRoot, show } from '../helper.js';
import { IP, PASSWORD, UA, activeUser, anon, auditEvents, issueKey, issueStandalone, login, superLogin, specApp } from './util.js';

/* SPEC §7: audit rows for every listed event, audit_query paging, secrets and PII out of logs. */

t.test('audit rows: issue, revoke, refresh, login success and failure, lock, role change, password change', async (t) => {
  const h = await specApp(t);
  h.app.logins.sleep = async () => {};
  const u = await activeUser(h);
  const s = await login(h, u.email);
  t.match(await auditEvents(h, 'login'), [{ outcome: 'success', target_user_id: u.id }], 'login success');
  await h.call('user_login', { session_token: await anon(h), email: u.email, password: 'wrong-password-entirely' });
  t.match((await auditEvents(h, 'login'))[0], { outcome: 'failure', target_user_id: u.id }, 'login failure');
  await h.call('user_login', { session_token: await anon(h), email: 'ghost@example.org', password: 'wrong-password-entirely' });
  t.match((await auditEvents(h, 'login'))[0], { outcome: 'failure' }, 'login failure for an unknown email');

  const k = await issueKey(h, s);
  t.match(await auditEvents(h, 'apikey_issue'), [{ subject: k.key_id, target_user_id: u.id }]);
  await h.call('revoke_apikey', { session_token: s, key_id: k.key_id });
  t.match(await auditEvents(h, 'apikey_revoke'), [{ subject: k.key_id, actor_user_id: u.id }]);
  const std = await issueStandalone(h, u.id);
  const r = await h.call('refresh_apikey', { apikey: std.apikey, refresh_token: std.refresh_token, ip_address: IP, user_agent: UA });
  t.equal(r.statusCode, 201, show(r));
  t.equal((await auditEvents(h, 'apikey_refresh')).length, 1, 'refresh');
  await h.call('revoke_all_apikeys', { session_token: s });
  t.ok((await auditEvents(h, 'apikey_revoke_all')).length >= 1, 'revoke all');

  const su = await superLogin(h);
  await h.call('user_lock', { session_token: su, target_user_id: u.id, locked: true });
  t.match(await auditEvents(h, 'user_lock'), [{ actor_user_id: 1, target_user_id: u.id }], 'lock');
  await h.call('user_lock', { session_token: su, target_user_id: u.id, locked: false });
  await h.call('user_edit', { session_token: su, target_user_id: u.id, update: { role: 'staff' } });
  t.match(await auditEvents(h, 'role_change'), [{ actor_user_id: 1, target_user_id: u.id, details: { from: 'authenticated', to: 'staff' } }], 'role change');
  const s2 = await login(h, u.email);
  await h.call('user_changepass', { session_token: s2, current_password: PASSWORD, new_password: 'glacier-Harmonica-steadily-314' });
  t.match(await auditEvents(h, 'password_change'), [{ target_user_id: u.id, outcome: 'success' }], 'password change');
  const tok = json<{ reset_token: string }>(await h.call('user_resetpass_token', { email: u.email })).reset_token;
  await h.call('user_resetpass', { reset_token: tok, new_password: 'meadow-Quartz-lantern-2718' });
  t.match(await auditEvents(h, 'password_reset'), [{ outcome: 'success' }], 'password reset');

  const all = await h.call('audit_query', { limit: 1000 });
  const body = all.body;
  for (const secret of [PASSWORD, 'glacier-Harmonica-steadily-314', s, s2, k.apikey, std.apikey, std.refresh_token, tok, ADMIN_SECRET]) {
    t.notOk(body.includes(secret), 'no secret in the audit log');
  }
});

t.test('audit_query: filters and cursor paging, newest first', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  for (let i = 0; i < 5; i++) await login(h, u.email);
  const seen: number[] = [];
  let cursor: string | null = null;
  do {
    const res = await h.call('audit_query', { event: 'login', limit: 2, ...(cursor ? { cursor } : {}) });
    t.equal(res.statusCode, 200, show(res));
    const b = json<{ events: { id: number; at: string; event: string }[]; next_cursor: string | null }>(res);
    for (const e of b.events) t.equal(e.event, 'login');
    seen.push(...b.events.map((e) => e.id));
    cursor = b.next_cursor;
  } while (cursor);
  t.equal(seen.length, 5);
  t.same(seen, [...seen].sort((a, b) => b - a), 'newest first');
  const byTarget = json<{ events: unknown[] }>(await h.call('audit_query', { target_user_id: u.id, event: 'login' }));
  t.equal(byTarget.events.length, 5);
  const exact = json<{ events: unknown[]; next_cursor: string | null }>(await h.call('audit_query', { event: 'login', limit: 5 }));
  t.equal(exact.events.length, 5);
  t.equal(exact.next_cursor, null, 'no cursor when nothing follows the last page');
  const partial = json<{ events: unknown[]; next_cursor: string | null }>(await h.call('audit_query', { event: 'login', limit: 4 }));
  t.type(partial.next_cursor, 'string', 'a cursor when more follow');
});

t.test('policy reloads are audited', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-spec-policy-'));
  const file = path.join(dir, 'permissions.json');
  const original = readFileSync(path.join(repoRoot, 'permissions.json'), 'utf8');
  writeFileSync(file, original);
  const h = await specApp(t, { env: { AUTHNZD_PERMISSIONS: file } });
  const doc = JSON.parse(original);
  doc.role_policy.authenticated.limits.max_requests.limit = 12345;
  writeFileSync(`${file}.tmp`, JSON.stringify(doc));
  const { renameSync } = await import('node:fs');
  renameSync(`${file}.tmp`, file);
  let rows: Awaited<ReturnType<typeof auditEvents>> = [];
  for (let i = 0; i < 50 && rows.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    rows = await auditEvents(h, 'policy_reload');
  }
  t.match(rows, [{ outcome: 'success' }], 'reload audited within 5 s');
  const u = await activeUser(h);
  const lim = json(await h.call('check_limit', { user_id: u.id, limit_name: 'max_requests', value: 1 }));
  t.equal(lim.limit, 12345, 'the new policy is in force');
});

t.test('logs: one line per request; no secrets; personal data only hashed', async (t) => {
  const h = await specApp(t);
  const mail = 'privacy.person@example.org';
  const u = await activeUser(h, mail);
  const s = await login(h, u.email);
  const k = await issueKey(h, s);
  await h.call('verify_apikey', { apikey: k.apikey, ip_address: IP, user_agent: UA });
  await h.call('user_login', { session_token: await anon(h), email: mail, password: 'wrong-password-entirely' });
  const raw = h.rawLogs();
  for (const secret of [PASSWORD, 'wrong-password-entirely', s, k.apikey, ADMIN_SECRET, mail, IP, UA]) {
    t.notOk(raw.includes(secret), `not in logs: ${secret.slice(0, 12)}…`);
  }
  t.notMatch(raw, /authorization/i, 'no authorization header');
  const lines = h.logs.filter((l) => l.action === 'verify_apikey');
  t.equal(lines.length, 1, 'one line per request');
  t.match(lines[0], { status: 200, client: 'admin' });
  t.type(lines[0]!.request_id, 'string');
});

t.test('logs: a login is one line too, the request line, carrying the hashed user', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const res = await h.call('user_login', { session_token: await anon(h), email: u.email, password: PASSWORD }, { headers: { 'x-request-id': 'login-one-line' } });
  t.equal(res.statusCode, 200, show(res));
  const lines = h.logs.filter((l) => l.request_id === 'login-one-line');
  t.equal(lines.length, 1, `one line for the request: ${JSON.stringify(lines)}`);
  t.match(lines[0], { msg: 'request', action: 'user_login', status: 200, client: 'admin', user: String });
  t.not(lines[0]!.user, String(u.id), 'the user id only hashed');
});

t.test('a failed query is logged without its parameters (emails, IPs, hashes)', async (t) => {
  const { DrizzleQueryError } = await import('drizzle-orm/errors');
  const { createLogger } = await import('../../src/logger.js');
  const { Writable } = await import('node:stream');
  let raw = '';
  const log = createLogger('info', new Writable({ write(c, _e, cb) { raw += c.toString(); cb(); } }));
  const cause = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
  log.error({ err: new DrizzleQueryError('select * from users where email = $1 and ip = $2', ['leak.me@example.org', '198.51.100.200'], cause) }, 'unhandled error');
  t.notMatch(raw, /leak\.me@example\.org|198\.51\.100\.200/, raw);
  t.match(raw, /Failed query: select/, 'the query text stays');
  t.match(raw, /22021/, 'the driver code stays');
});

t.test('audit_query: since/until must be ISO 8601 times; anything else is 400 with details', async (t) => {
  const h = await specApp(t);
  for (const field of ['since', 'until']) {
    for (const bad of ['1', '-1', '2026', 'x 2020', 'March 7, 2020', 'Tue', '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-11-23T25:00:00Z', '2026-11-23T02:07:45+1:00']) {
      const res = await h.call('audit_query', { [field]: bad });
      t.equal(res.statusCode, 400, `${field} ${JSON.stringify(bad)}: ${show(res)}`);
      t.match(json(res), { code: 'invalid_request', details: [{ path: `/${field}` }] });
    }
    for (const good of ['2026-11-23T02:07:45Z', '2026-11-23T02:07:45.123Z', '2026-11-23T02:07:45.1234567891Z', '2026-11-23T03:07:45+01:00', '2024-02-29T00:00:00Z', '2026-11-23',
      // RFC 3339's other spellings of the same instants: a space for T, lower case, an offset without its colon.
      '2026-11-23 02:07:45Z', '2026-11-23t02:07:45z', '2026-11-23T03:07:45+0100',
      // No zone: UTC (as every time in answers), never the server's own zone.
      '2026-11-23T02:07:45']) {
      const res = await h.call('audit_query', { [field]: good });
      t.equal(res.statusCode, 200, `${field} ${JSON.stringify(good)}: ${show(res)}`);
    }
  }
  const u = await activeUser(h);
  await login(h, u.email);
  const all = json<{ events: { at: string }[] }>(await h.call('audit_query', { event: 'login' })).events;
  const at = all[0]!.at;
  const shifted = new Date(Date.parse(at)).toISOString().replace('Z', '+00:00');
  t.equal(json<{ events: unknown[] }>(await h.call('audit_query', { event: 'login', since: shifted, until: shifted })).events.length, 1, 'an offset is honoured');
  t.equal(json<{ events: unknown[] }>(await h.call('audit_query', { event: 'login', since: at.replace('Z', ''), until: at.replace('Z', '') })).events.length, 1, 'a time without a zone is UTC');
});
