import t from 'tap';
import { createClient } from '../../src/core/clients.js';
import { ADMIN_SECRET, SUPERUSER_PASSWORD, buildTestApp, json, show } from '../helper.js';

/*
 * Runs the flows that carry every kind of secret (client secrets, passwords, session tokens,
 * verification and reset tokens, API keys, refresh tokens) and personal data (email, IP, user
 * agent), on success and failure paths, then greps the whole log output for each value.
 */
t.test('no secret and no raw personal data reaches the logs', async (t) => {
  const h = await buildTestApp(t, { env: { AUTHNZD_LOG_LEVEL: 'trace' } });
  const secrets: (string | undefined)[] = [ADMIN_SECRET, SUPERUSER_PASSWORD];
  const pii: string[] = [];
  const ok = (res: { statusCode: number; body: string }, status: number) => {
    t.equal(res.statusCode, status, show(res as never));
    return JSON.parse(res.body) as Record<string, string>;
  };

  const email = 'Privacy.Person@Example.TEST';
  const password = 'Unusual-Passphrase-For-Logs-77';
  const ip = '198.51.100.23';
  const ua = 'Mozilla/5.0 (LogSecrecyBrowser/9.9)';
  secrets.push(password);
  pii.push(email.toLowerCase(), ip, ua);

  const signup = ok(await h.call('user_new', { email, password, full_name: 'Privacy Person', ip_address: ip }), 201);
  secrets.push(signup.verification_token);
  ok(await h.call('user_verify_email', { verification_token: signup.verification_token }), 200);

  const anon = ok(await h.call('session_new', { ip_address: ip, user_agent: ua }), 201);
  secrets.push(anon.session_token);
  ok(await h.call('user_login', { session_token: anon.session_token, email, password: password + 'x' }), 401);
  const anon2 = ok(await h.call('session_new', { ip_address: ip, user_agent: ua }), 201);
  secrets.push(anon2.session_token);
  const login = ok(await h.call('user_login', { session_token: anon2.session_token, email, password }), 200);
  secrets.push(login.session_token);

  const key = ok(await h.call('issue_apikey', {
    session_token: login.session_token, ip_address: ip, user_agent: ua, audience: 'svc', subject: '/x', api_version: 1, expires_in: 600,
  }), 201);
  secrets.push(key.apikey);
  ok(await h.call('verify_apikey', { apikey: key.apikey, ip_address: ip, user_agent: ua }), 200);
  ok(await h.call('verify_apikey', { apikey: key.apikey + 'A', ip_address: ip, user_agent: ua }), 200);

  const standalone = ok(await h.call('issue_apikey_nosession', {
    user_id: Number(signup.user_id), ip_address: ip, user_agent: ua, audience: 'svc', subject: '/x', api_version: 1, expires_in: 600, refresh_expires_in: 3600,
  }), 201);
  secrets.push(standalone.apikey, standalone.refresh_token);
  const refreshed = ok(await h.call('refresh_apikey', { apikey: standalone.apikey, refresh_token: standalone.refresh_token, ip_address: ip, user_agent: ua }), 201);
  secrets.push(refreshed.apikey, refreshed.refresh_token);
  ok(await h.call('refresh_apikey', { apikey: standalone.apikey, refresh_token: standalone.refresh_token, ip_address: ip, user_agent: ua }), 401);

  const reset = ok(await h.call('user_resetpass_token', { email }), 200);
  secrets.push(reset.reset_token);
  const newPassword = 'Another-Unusual-Passphrase-88';
  secrets.push(newPassword);
  ok(await h.call('user_resetpass', { reset_token: reset.reset_token, new_password: newPassword }), 200);
  ok(await h.call('user_passcheck_nosession', { email, password: newPassword }), 200);

  // Failure paths: malformed bodies and wrong types that contain secrets, a bad client secret.
  await h.call('user_login', `{"session_token": "${login.session_token}", "password": "${newPassword}"`);
  await h.call('user_new', { email, password: newPassword, full_name: 7 });
  await h.call('user_new', { email, password: 'weak', full_name: 'P' });
  const { secret: other } = await createClient(h.app.store, { name: 'limited', actions: ['session_new'], now: h.clock.now() });
  secrets.push(other);
  await h.call('user_login', { session_token: login.session_token, email, password: newPassword }, { secret: other });
  await h.call('audit_query', {}, { secret: other + 'tampered' });
  await h.call('audit_query', {}, { headers: { 'x-api-key': String(key.apikey) } });

  t.ok(secrets.every((s) => typeof s === 'string' && s.length >= 12), 'every secret was handed out');
  const logs = h.rawLogs();
  t.ok(logs.split('\n').length > 20, 'the flows were logged');
  for (const s of secrets as string[]) t.notOk(logs.includes(s), `secret …${s.slice(-6)} is not in the logs`);
  for (const p of pii) t.notOk(logs.toLowerCase().includes(p.toLowerCase()), `raw PII "${p}" is not in the logs`);

  // The audit trail, readable by the admin client, holds no secret either.
  const audit = JSON.stringify(json(await h.call('audit_query', { limit: 1000 })));
  t.ok(audit.includes('login'), 'logins were audited');
  for (const s of secrets as string[]) t.notOk(audit.includes(s), `secret …${s.slice(-6)} is not in the audit log`);
});
