import t from 'tap';
import { createClient } from '../../src/core/clients.js';
import { createSqliteStore } from '../../src/db/sqlite/index.js';
import { ADMIN_SECRET, buildTestApp, json, show } from '../helper.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

t.test('open endpoints', async (t) => {
  const { app } = await buildTestApp(t);
  const health = await app.inject({ method: 'GET', url: '/health' });
  t.equal(health.statusCode, 200);
  t.same(health.json(), { status: 'ok' });

  const ready = await app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 200, show(ready));
  t.equal(ready.json().status, 'ready');
  t.equal(ready.json().parts.database.ok, true);

  const openapi = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(openapi.statusCode, 200);
  const doc = openapi.json();
  t.match(doc.openapi, /^3\./);
  t.ok(doc.paths['/v1/audit_query']?.post, 'actions are documented');
  t.notOk(doc.paths['/health'], 'open endpoints are not actions');
  // An action whose body has no required field takes an empty body (emptyBodyIsEmptyObject):
  // its requestBody is optional; the others' is required.
  t.equal(doc.paths['/v1/policy_get'].post.requestBody.required, false);
  t.equal(doc.paths['/v1/audit_query'].post.requestBody.required, false);
  t.equal(doc.paths['/v1/session_exists'].post.requestBody.required, true);
  const bare = await app.inject({ method: 'POST', url: '/v1/policy_get', headers: { authorization: `Bearer ${ADMIN_SECRET}` } });
  t.equal(bare.statusCode, 200, 'policy_get without a body');

  await app.inject({ method: 'POST', url: '/v1/audit_query', headers: { authorization: `Bearer ${ADMIN_SECRET}` }, payload: {} });
  const metrics = await app.inject({ method: 'GET', url: '/metrics' });
  t.equal(metrics.statusCode, 200);
  t.match(metrics.headers['content-type'], /text\/plain/);
  t.match(metrics.body, /authnzd_requests_total\{action="audit_query",status="200"\} 1/);
  t.match(metrics.body, /authnzd_request_duration_seconds_bucket\{le="0\.005",action="audit_query",status="200"\}/);
});

t.test('client authentication', async (t) => {
  const h = await buildTestApp(t);
  const none = await h.call('audit_query', {}, { secret: null });
  t.equal(none.statusCode, 401, show(none));
  t.equal(json(none).code, 'unauthenticated');
  t.type(json(none).request_id, 'string');

  const bad = await h.call('audit_query', {}, { secret: ADMIN_SECRET + 'x' });
  t.equal(bad.statusCode, 401);
  t.equal(json(bad).code, 'unauthenticated');

  const basic = await h.call('audit_query', {}, { headers: { authorization: `Basic ${ADMIN_SECRET}` } });
  t.equal(basic.statusCode, 401, 'only Bearer is accepted');

  const { secret } = await createClient(h.app.store, { name: 'frontend', actions: ['session_new'], now: h.clock.now() });
  const forbidden = await h.call('audit_query', {}, { secret });
  t.equal(forbidden.statusCode, 403, show(forbidden));
  t.equal(json(forbidden).code, 'client_forbidden');
  // SPEC §7: the request's log line names the client, a refused one too (which client is
  // calling outside its list is what the operator needs to know).
  const line = h.logs.find((l) => l.msg === 'request' && l.request_id === json(forbidden).request_id);
  t.match(line, { action: 'audit_query', status: 403, client: 'frontend' }, 'the 403 is logged with its client');

  const revoked = await h.app.store.clients.revokeByName('frontend', h.clock.now());
  t.ok(revoked);
  h.app.clientAuth.invalidate();
  const after = await h.call('audit_query', {}, { secret });
  t.equal(after.statusCode, 401, 'a revoked client is unauthenticated');

  const ok = await h.call('audit_query', {});
  t.equal(ok.statusCode, 200, show(ok));
  t.ok(json<{ events: { event: string }[] }>(ok).events.some((e) => e.event === 'client_create'), 'client creation is audited');
});

t.test('request validation and error bodies', async (t) => {
  const h = await buildTestApp(t);
  const cases: [string, string | object, number, string][] = [
    ['malformed JSON', '{"limit": ', 400, 'invalid_request'],
    ['unknown field', { limit: 5, bogus: true }, 400, 'invalid_request'],
    ['wrong type (no coercion)', { limit: '5' }, 400, 'invalid_request'],
    ['array body', [1, 2], 400, 'invalid_request'],
    ['out of range', { limit: 0 }, 400, 'invalid_request'],
  ];
  for (const [name, body, status, code] of cases) {
    const res = await h.call('audit_query', body);
    t.equal(res.statusCode, status, `${name}: ${show(res)}`);
    t.equal(json(res).code, code, name);
    t.type(json(res).message, 'string');
    t.type(json(res).request_id, 'string');
    t.ok(Array.isArray(json(res).details), `${name} has details`);
  }
  const unknown = await h.call('audit_query', { bogus: 1 });
  t.match(json(unknown).details, [{ field: 'bogus' }], 'the unknown field is named');

  const big = await h.call('audit_query', JSON.stringify({ subject: 'x'.repeat(70 * 1024) }));
  t.equal(big.statusCode, 413, show(big).slice(0, 200));
  t.equal(json(big).code, 'payload_too_large');

  const textBody = await h.app.inject({ method: 'POST', url: '/v1/audit_query', headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'text/plain' }, payload: 'hi' });
  t.equal(textBody.statusCode, 400, show(textBody));
  t.equal(json(textBody).code, 'invalid_request');

  const missing = await h.app.inject({ method: 'POST', url: '/v1/no_such_action', headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' }, payload: '{}' });
  t.equal(missing.statusCode, 404);
  t.equal(json(missing).code, 'not_found');
});

t.test('an empty body is {}: schema validation decides (policy_get needs no fields)', async (t) => {
  const h = await buildTestApp(t);
  const auth = { authorization: `Bearer ${ADMIN_SECRET}` };
  const post = (action: string, headers: Record<string, string>, payload?: string) =>
    h.app.inject({ method: 'POST', url: `/v1/${action}`, headers: { ...auth, ...headers }, ...(payload === undefined ? {} : { payload }) });
  const empties: [string, Record<string, string>, string | undefined][] = [
    ['application/json, zero-length body', { 'content-type': 'application/json' }, ''],
    ['application/json; charset=utf-8, zero-length body', { 'content-type': 'application/json; charset=utf-8' }, ''],
    ['no content-type, no body', {}, undefined],
    ['no content-type, content-length: 0', { 'content-length': '0' }, ''],
  ];
  for (const [name, headers, payload] of empties) {
    const policy = await post('policy_get', headers, payload);
    t.equal(policy.statusCode, 200, `policy_get, ${name}: ${show(policy)}`);
    t.type(json(policy).sha256, 'string');
    const audit = await post('audit_query', headers, payload);
    t.equal(audit.statusCode, 200, `audit_query (all fields optional), ${name}: ${show(audit)}`);

    // An action with required fields still answers the SPEC error body, naming what is missing.
    const session = await post('session_new', headers, payload);
    t.equal(session.statusCode, 400, `session_new, ${name}: ${show(session)}`);
    const body = json<{ code: string; message: string; request_id: string; details: { field?: string }[] }>(session);
    t.same(Object.keys(body).sort(), ['code', 'details', 'message', 'request_id'], show(session));
    t.equal(body.code, 'invalid_request');
    t.type(body.message, 'string');
    t.equal(body.request_id, session.headers['x-request-id']);
    t.same(body.details.map((d) => d.field).sort(), ['ip_address', 'user_agent'], `the missing fields are named: ${show(session)}`);
  }

  // Bodies that are there but are not a JSON object keep their 400 (and 413 over 64 KiB).
  const kept: [string, Record<string, string>, string, number][] = [
    ['whitespace only', { 'content-type': 'application/json' }, '  ', 400],
    ['malformed JSON', { 'content-type': 'application/json' }, '{"limit": ', 400],
    ['JSON null', { 'content-type': 'application/json' }, 'null', 400],
    ['JSON with text/plain', { 'content-type': 'text/plain' }, '{}', 400],
    ['empty text/plain', { 'content-type': 'text/plain' }, '', 400],
    ['JSON without a content-type', {}, '{}', 400],
    ['over 64 KiB', { 'content-type': 'application/json' }, JSON.stringify({ pad: 'x'.repeat(70 * 1024) }), 413],
    ['proto poisoning', { 'content-type': 'application/json' }, '{"__proto__": {"x": 1}}', 400],
  ];
  for (const [name, headers, payload, status] of kept) {
    const res = await post('policy_get', headers, payload);
    t.equal(res.statusCode, status, `${name}: ${show(res).slice(0, 300)}`);
    t.equal(json(res).code, status === 413 ? 'payload_too_large' : 'invalid_request', name);
  }
  // A poisoned body is valid JSON: the answer says what is refused, not "not valid JSON".
  for (const payload of ['{"__proto__": {"x": 1}}', '{"a": {"constructor": {"prototype": {"x": 1}}}}']) {
    const res = await post('policy_get', { 'content-type': 'application/json' }, payload);
    t.equal(res.statusCode, 400, show(res));
    t.match(json(res), { code: 'invalid_request', message: /__proto__.*constructor\.prototype.*refused/ }, payload);
  }
  const bad = await post('policy_get', { 'content-type': 'application/json' }, '{"limit": ');
  t.match(json(bad).message, /not valid JSON/, 'malformed JSON keeps its message');
});

t.test('x-request-id is echoed or generated', async (t) => {
  const h = await buildTestApp(t);
  const given = await h.call('audit_query', {}, { headers: { 'x-request-id': 'req-abc-123' } });
  t.equal(given.headers['x-request-id'], 'req-abc-123');
  const err = await h.call('audit_query', { bogus: 1 }, { headers: { 'x-request-id': 'req-err-1' } });
  t.equal(err.headers['x-request-id'], 'req-err-1');
  t.equal(json(err).request_id, 'req-err-1');
  const generated = await h.call('audit_query', {});
  t.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  const hostile = await h.call('audit_query', {}, { headers: { 'x-request-id': 'bad id\twith "quotes"' } });
  t.match(hostile.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'unsafe ids are replaced');
  const line = h.logs.find((l) => l.msg === 'request' && l.request_id === 'req-abc-123');
  t.ok(line, 'the request line carries the request id');
  t.match(line, { action: 'audit_query', status: 200, client: 'admin' });
  t.type(line?.duration, 'number');
});

t.test('500 answers never carry internal text; outages answer 503', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-test-'));
  const store = createSqliteStore(path.join(dir, 'authnzd.sqlite'));
  let failNext = true;
  const broken = {
    ...store,
    audit: {
      ...store.audit,
      query: async (f: Parameters<typeof store.audit.query>[0]) => {
        if (failNext) {
          failNext = false;
          throw new Error('secret internal detail /var/db');
        }
        return store.audit.query(f);
      },
    },
  };
  const h = await buildTestApp(t, { store: broken, dataDir: dir });
  const res = await h.call('audit_query', {});
  t.equal(res.statusCode, 500);
  t.equal(json(res).code, 'internal_error');
  t.notMatch(res.body, /secret internal detail|\/var\/db/);
  t.match(h.rawLogs(), /secret internal detail/, 'the operator still sees it in the log');

  await store.close();
  const down = await h.call('audit_query', {});
  t.equal(down.statusCode, 503, show(down));
  t.equal(json(down).code, 'unavailable');
  const ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 503);
  t.same(ready.json().failing, ['database']);
});
