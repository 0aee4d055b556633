import t, { type Test } from 'tap';
import { ADMIN_SECRET, json, show } from '../helper.js';
import { IP, UA, allStoredText, anon, specApp } from './util.js';

/* SPEC §2: transport, open endpoints, error bodies. */

const ACTIONS = [
  'session_new', 'session_exists', 'session_delete', 'session_delete_user', 'session_list', 'session_edit',
  'user_new', 'user_verify_email', 'user_login', 'user_logout', 'user_passcheck', 'user_passcheck_nosession',
  'user_changepass', 'user_resetpass_token', 'user_resetpass', 'user_edit', 'user_lock', 'user_delete', 'user_get', 'user_list',
  'issue_apikey', 'verify_apikey', 'revoke_apikey', 'revoke_all_apikeys', 'list_apikeys', 'issue_apikey_nosession', 'refresh_apikey',
  'check_access', 'check_limit', 'policy_get', 'audit_query',
];

function errorShape(t: Test, res: { statusCode: number; body: string; headers: Record<string, unknown>; json(): unknown }, status: number, code: string) {
  t.equal(res.statusCode, status, `${code}: ${res.statusCode} ${res.body}`);
  const b = res.json() as Record<string, unknown>;
  t.equal(b.code, code, res.body);
  t.type(b.message, 'string');
  t.equal(b.request_id, res.headers['x-request-id'], 'request_id in the body is the x-request-id header');
}

t.test('every SPEC action is POST /v1/<action> and in /openapi.json', async (t) => {
  const h = await specApp(t);
  const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { openapi: string; paths: Record<string, { post?: unknown }> };
  t.match(doc.openapi, /^3\./);
  for (const a of ACTIONS) {
    t.ok(doc.paths[`/v1/${a}`]?.post, `${a} documented`);
    const res = await h.call(a, { definitely_unknown_field: 1 });
    t.equal(res.statusCode, 400, `${a} rejects unknown fields: ${show(res)}`);
    t.equal(json(res).code, 'invalid_request', a);
    t.ok(Array.isArray(json(res).details), `${a} details`);
  }
});

t.test('strict types, ip addresses, 413, unknown action 404', async (t) => {
  const h = await specApp(t);
  errorShape(t, await h.call('session_new', { ip_address: IP, user_agent: 42 }), 400, 'invalid_request');
  errorShape(t, await h.call('session_new', { ip_address: IP, user_agent: UA, expires_in: '60' }), 400, 'invalid_request');
  errorShape(t, await h.call('session_new', { ip_address: IP, user_agent: UA, expires_in: 1.5 }), 400, 'invalid_request');
  errorShape(t, await h.call('check_access', { user_id: '1', action: 'view', item: 'object', owner_id: 1, visibility: 'public' }), 400, 'invalid_request');
  for (const bad of ['999.1.1.1', 'not-an-ip', '1.2.3', '::zz', '10.0.0.0/8', '']) {
    errorShape(t, await h.call('session_new', { ip_address: bad, user_agent: UA }), 400, 'invalid_request');
  }
  for (const good of ['10.1.2.3', '2001:db8::1', '::1', '::ffff:192.0.2.1']) {
    const res = await h.call('session_new', { ip_address: good, user_agent: UA });
    t.equal(res.statusCode, 201, `${good}: ${show(res)}`);
  }
  errorShape(t, await h.call('session_new', '{"ip_address": '), 400, 'invalid_request');
  errorShape(t, await h.call('session_new', { ip_address: IP, user_agent: UA, user_id: 2147483648 }), 400, 'invalid_request');
  errorShape(t, await h.call('user_get', { user_id: Number.MAX_SAFE_INTEGER }), 400, 'invalid_request');
  const big = JSON.stringify({ ip_address: IP, user_agent: UA, extra: { pad: 'x'.repeat(65 * 1024) } });
  errorShape(t, await h.call('session_new', big), 413, 'payload_too_large');
  const justUnder = JSON.stringify({ ip_address: IP, user_agent: UA, extra: { pad: 'x'.repeat(60 * 1024) } });
  t.equal((await h.call('session_new', justUnder)).statusCode, 201, 'a body under 64 KiB is fine');

  const unknown = await h.call('no_such_action', {});
  errorShape(t, unknown, 404, 'not_found');
  const getAction = await h.app.inject({ method: 'GET', url: '/v1/session_new', headers: { authorization: `Bearer ${ADMIN_SECRET}` } });
  t.equal(getAction.statusCode, 404, `only POST: ${show(getAction)}`);
  t.equal(json(getAction).code, 'not_found');
});

t.test('client authentication errors', async (t) => {
  const h = await specApp(t);
  errorShape(t, await h.call('session_new', { ip_address: IP, user_agent: UA }, { secret: null }), 401, 'unauthenticated');
  errorShape(t, await h.call('session_new', { ip_address: IP, user_agent: UA }, { secret: 'wrong' }), 401, 'unauthenticated');
  errorShape(t, await h.call('session_new', { ip_address: IP, user_agent: UA }, { headers: { authorization: ADMIN_SECRET } }), 401, 'unauthenticated');
});

t.test('x-request-id is accepted, echoed on every answer, and logged', async (t) => {
  const h = await specApp(t);
  const ok = await h.call('session_new', { ip_address: IP, user_agent: UA }, { headers: { 'x-request-id': 'spec-req-1' } });
  t.equal(ok.statusCode, 201);
  t.equal(ok.headers['x-request-id'], 'spec-req-1');
  const err = await h.call('session_exists', { session_token: 5 }, { headers: { 'x-request-id': 'spec-req-2' } });
  t.equal(err.headers['x-request-id'], 'spec-req-2');
  t.equal(json(err).request_id, 'spec-req-2');
  const unauth = await h.call('session_exists', {}, { secret: null, headers: { 'x-request-id': 'spec-req-3' } });
  t.equal(json(unauth).request_id, 'spec-req-3');
  const nf = await h.call('nope', {}, { headers: { 'x-request-id': 'spec-req-4' } });
  t.equal(nf.headers['x-request-id'], 'spec-req-4');
  for (const url of ['/health', '/ready', '/metrics', '/openapi.json']) {
    const res = await h.app.inject({ method: 'GET', url, headers: { 'x-request-id': 'spec-open' } });
    t.equal(res.headers['x-request-id'], 'spec-open', url);
  }
  const generated = await h.call('session_new', { ip_address: IP, user_agent: UA });
  t.type(generated.headers['x-request-id'], 'string', 'generated when absent');
  t.ok(String(generated.headers['x-request-id']).length > 0);
  for (const id of ['spec-req-1', 'spec-req-2', 'spec-req-3', 'spec-req-4']) {
    t.ok(h.logs.some((l) => l.request_id === id), `${id} in the logs`);
  }
  const line = h.logs.find((l) => l.request_id === 'spec-req-1' && l.action === 'session_new');
  t.ok(line, 'one request line with the action');
  t.equal(line?.status, 201);
  t.type(line?.duration, 'number');
  t.equal(line?.client, 'admin');
  // SPEC §7 names the fields of the request line: every line has each of them, under that name.
  const refused = await h.call('session_new', { ip_address: IP, user_agent: UA }, { headers: { 'x-request-id': 'spec-req-401', authorization: 'Bearer wrong-secret-0123456789abcdef' } });
  t.equal(refused.statusCode, 401);
  const refusedLine = h.logs.find((l) => l.request_id === 'spec-req-401' && l.msg === 'request');
  for (const field of ['request_id', 'action', 'status', 'duration', 'client']) {
    t.ok(refusedLine !== undefined && field in refusedLine, `${field} on the line of a refused call`);
  }
  t.equal(refusedLine?.client, null, 'no client authenticated: null');
});

t.test('open endpoints need no client secret', async (t) => {
  const h = await specApp(t);
  const health = await h.app.inject({ method: 'GET', url: '/health' });
  t.equal(health.statusCode, 200);
  t.same(health.json(), { status: 'ok' });
  const ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 200, show(ready));
  await anon(h);
  const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
  t.equal(metrics.statusCode, 200);
  t.match(String(metrics.headers['content-type']), /^text\/plain/);
  t.match(metrics.body, /# TYPE/);
  const openapi = await h.app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(openapi.statusCode, 200);
  t.match(String(openapi.headers['content-type']), /application\/json/);
});

t.test('/ready and /health answer 503 naming the database when it is gone', async (t) => {
  const h = await specApp(t);
  await h.app.store.close();
  const ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 503, show(ready));
  t.match(ready.body, /database/, 'names the database');
  // SPEC §9: authnzerver's /health reported OK with a broken database; this one does not.
  const health = await h.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'health-1' } });
  errorShape(t, health, 503, 'unavailable');
  t.match(health.json(), { status: 'unavailable', failing: ['database'], request_id: 'health-1' });
  t.notMatch(health.body, /sqlite|SQLITE|closed|stack/i, 'no internal text');
  const call = await h.call('session_new', { ip_address: IP, user_agent: UA });
  errorShape(t, call, 503, 'unavailable');
  t.notMatch(call.body, /sqlite|SQLITE|connection|stack/i, '5xx answers carry no internal text');
});

t.test('client secrets are stored hashed', async (t) => {
  const h = await specApp(t);
  await anon(h);
  const stored = (await allStoredText(h));
  t.notOk(stored.includes(ADMIN_SECRET), 'the admin client secret is not at rest');
  t.ok(/admin/.test(stored), 'the admin client row exists');
});

t.test('over a real socket: JSON in and out, 413, 404, x-request-id, open endpoints', async (t) => {
  const h = await specApp(t);
  const base = await h.app.listen({ port: 0, host: '127.0.0.1' });
  const post = (action: string, body: string, headers: Record<string, string> = {}) => fetch(`${base}/v1/${action}`, {
    method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_SECRET}`, ...headers },
  });
  const ok = await post('session_new', JSON.stringify({ ip_address: IP, user_agent: UA }), { 'x-request-id': 'sock-1' });
  t.equal(ok.status, 201);
  t.equal(ok.headers.get('x-request-id'), 'sock-1');
  t.match(ok.headers.get('content-type'), /^application\/json/);
  t.type(((await ok.json()) as { session_token: string }).session_token, 'string');
  const big = await post('session_new', JSON.stringify({ ip_address: IP, user_agent: UA, extra: { pad: 'x'.repeat(70 * 1024) } }));
  t.equal(big.status, 413);
  t.equal(((await big.json()) as { code: string }).code, 'payload_too_large');
  const nf = await post('nope', '{}');
  t.equal(nf.status, 404);
  t.equal(((await nf.json()) as { code: string }).code, 'not_found');
  const unauth = await fetch(`${base}/v1/session_new`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  t.equal(unauth.status, 401);
  const health = await fetch(`${base}/health`);
  t.same(await health.json(), { status: 'ok' });
  t.equal((await fetch(`${base}/ready`)).status, 200);
  t.match(await (await fetch(`${base}/metrics`)).text(), /# TYPE/);
  t.match(((await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string }).openapi, /^3\./);
});
