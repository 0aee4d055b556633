import t, { type Test } from 'tap';
import { EXTRA_MAX_DEPTH } from '../../src/core/extra.js';
import { buildTestApp, json, show, type TestApp } from '../helper.js';
import { openDb } from '../users/fixtures.js';

/*
 * `extra` is free-form JSON, but not unboundedly deep: a ~10 KB body of nested arrays used to
 * overflow the stack in JSON.stringify (500 internal_error). Every action that accepts `extra`
 * answers 400 invalid_request naming the field instead; the bound is EXTRA_MAX_DEPTH levels,
 * counting `extra` itself as level 1.
 */

const IP = '203.0.113.9';
const UA = 'Mozilla/5.0 extra-depth';

/** An `extra` object `levels` deep: {"a": [[...[1]...]]} (the object is level 1, each array one more). */
function deep(levels: number): Record<string, unknown> {
  let v: unknown = 1;
  for (let i = 1; i < levels; i++) v = [v];
  return { a: v };
}

function deepText(levels: number): string {
  return `{"a":${'['.repeat(levels - 1)}1${']'.repeat(levels - 1)}}`;
}

function isDepthError(t: Test, res: Awaited<ReturnType<TestApp['call']>>, name: string) {
  t.equal(res.statusCode, 400, `${name}: ${show(res)}`);
  const body = json<{ code: string; request_id: string; details: { path: string; message: string }[] }>(res);
  t.equal(body.code, 'invalid_request', name);
  t.type(body.request_id, 'string');
  t.match(body.details, [{ path: '/extra', message: new RegExp(`${EXTRA_MAX_DEPTH} levels`) }], `${name}: the details name the field`);
}

t.test('the bound is generous but finite', async (t) => {
  t.ok(EXTRA_MAX_DEPTH >= 16 && EXTRA_MAX_DEPTH <= 256, String(EXTRA_MAX_DEPTH));
  t.equal(deepText(3), '{"a":[[1]]}');
});

t.test('session_new: deep extra is a 400, the limit itself is accepted', async (t) => {
  const h = await buildTestApp(t);
  for (const levels of [EXTRA_MAX_DEPTH + 1, 5000, 20_000]) {
    const res = await h.call('session_new', `{"ip_address":"${IP}","user_agent":"${UA}","extra":${deepText(levels)}}`);
    isDepthError(t, res, `depth ${levels}`);
  }
  const ok = await h.call('session_new', { ip_address: IP, user_agent: UA, extra: deep(EXTRA_MAX_DEPTH) });
  t.equal(ok.statusCode, 201, show(ok));
  const token = json<{ session_token: string }>(ok).session_token;
  const ex = await h.call('session_exists', { session_token: token });
  t.same(json<{ session: { extra: unknown } }>(ex).session.extra, deep(EXTRA_MAX_DEPTH), 'stored as given');
  const objects = await h.call('session_new', { ip_address: IP, user_agent: UA, extra: { a: { b: { c: deep(EXTRA_MAX_DEPTH - 2) } } } });
  isDepthError(t, objects, 'nested objects count too');
});

t.test('session_edit: deep changes are a 400; so is a merge that would keep a deep stored value', async (t) => {
  const h = await buildTestApp(t);
  const created = await h.call('session_new', { ip_address: IP, user_agent: UA, extra: { keep: 1 } });
  const token = json<{ session_token: string }>(created).session_token;
  for (const levels of [EXTRA_MAX_DEPTH + 1, 4000, 8000]) {
    const res = await h.call('session_edit', `{"session_token":"${token}","extra":${deepText(levels)}}`);
    isDepthError(t, res, `changes ${levels} deep`);
  }
  const ok = await h.call('session_edit', { session_token: token, extra: deep(EXTRA_MAX_DEPTH) });
  t.equal(ok.statusCode, 200, show(ok));

  // A value stored before the bound existed (written straight into the database here).
  const db = openDb(h);
  t.teardown(() => db.close());
  db.prepare("UPDATE sessions SET extra = ? WHERE extra LIKE '%keep%'").run(deepText(4000));
  const merged = await h.call('session_edit', { session_token: token, extra: { other: 1 } });
  isDepthError(t, merged, 'merge result 4000 deep');
  const dropped = await h.call('session_edit', { session_token: token, extra: { a: null, other: 1 } });
  t.equal(dropped.statusCode, 200, `deleting the deep key is allowed: ${show(dropped)}`);
  t.same(json<{ session: { extra: unknown } }>(dropped).session.extra, { other: 1 });
});

t.test('user_new: deep extra is a 400', async (t) => {
  const h = await buildTestApp(t);
  const user = (extra: string) => `{"email":"deep@example.test","password":"velvet-Trombone-sunrise-81","full_name":"D","extra":${extra}}`;
  for (const levels of [EXTRA_MAX_DEPTH + 1, 8000]) {
    isDepthError(t, await h.call('user_new', user(deepText(levels))), `depth ${levels}`);
  }
  const ok = await h.call('user_new', user(deepText(EXTRA_MAX_DEPTH)));
  t.equal(ok.statusCode, 201, show(ok));
});

t.test('the OpenAPI document states the bound', async (t) => {
  const h = await buildTestApp(t);
  const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  const extra = doc.paths['/v1/session_new'].post.requestBody.content['application/json'].schema.properties.extra;
  t.equal(extra['x-max-depth'], EXTRA_MAX_DEPTH, JSON.stringify(extra));
});
