import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createClient } from '../../src/core/clients.js';
import { defaultClientLimits } from '../../src/ratelimit/defaults.js';
import { buildTestApp, json, repoRoot, show, type TestApp } from '../helper.js';

const limits = (rules: Record<string, { max: number; window: number }>) => ({ AUTHNZD_RATE_LIMITS: JSON.stringify(rules) });

async function statuses(h: TestApp, action: string, n: number, opts: { secret?: string } = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await h.call(action, {}, opts)).statusCode);
  return out;
}

const count = (xs: number[], v: number) => xs.filter((x) => x === v).length;

t.test('a burst of N against a configured limit: exactly max 200s, the rest 429', async (t) => {
  const h = await buildTestApp(t, { env: limits({ audit_query: { max: 5, window: 60 } }) });
  const s = await statuses(h, 'audit_query', 12);
  t.same(s, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
});

t.test('the 429 answer: SPEC error body and every header', async (t) => {
  const h = await buildTestApp(t, { env: limits({ audit_query: { max: 2, window: 60 } }) });
  const first = await h.call('audit_query', {});
  t.equal(first.statusCode, 200, show(first));
  t.equal(first.headers['ratelimit-limit'], '2');
  t.equal(first.headers['ratelimit-remaining'], '1');
  t.equal(first.headers['ratelimit-reset'], '60');
  h.clock.advance(20);
  await h.call('audit_query', {});
  h.clock.advance(10);
  const res = await h.call('audit_query', {}, { headers: { 'x-request-id': 'rl-test-1' } });
  t.equal(res.statusCode, 429, show(res));
  t.same(json(res), { code: 'rate_limited', message: 'Too many requests.', request_id: 'rl-test-1' });
  t.equal(res.headers['retry-after'], '30', 'the first hit leaves the window in 30 s');
  t.equal(res.headers['ratelimit-limit'], '2');
  t.equal(res.headers['ratelimit-remaining'], '0');
  t.equal(res.headers['ratelimit-reset'], '30');
  t.equal(res.headers['x-request-id'], 'rl-test-1');
});

t.test('a limited call is refused before its body is even read', async (t) => {
  const h = await buildTestApp(t, { env: limits({ audit_query: { max: 1, window: 60 } }) });
  t.equal((await h.call('audit_query', {})).statusCode, 200);
  const bad = await h.call('audit_query', { bogus: 1 });
  t.equal(bad.statusCode, 429, `no validation, no handler: ${show(bad)}`);
});

t.test('the window slides: full limit back after it passes; an edge burst cannot double it', async (t) => {
  const h = await buildTestApp(t, { env: limits({ audit_query: { max: 3, window: 60 } }) });
  h.clock.advance(59.9);
  t.same(await statuses(h, 'audit_query', 3), [200, 200, 200], 'burst at the end of a minute');
  h.clock.advance(0.1);
  t.same(await statuses(h, 'audit_query', 3), [429, 429, 429], 'a fixed window would restart here; ours does not');
  h.clock.advance(59.8);
  t.same(await statuses(h, 'audit_query', 1), [429], 'still inside 60 s of the burst');
  h.clock.advance(0.1);
  t.same(await statuses(h, 'audit_query', 4), [200, 200, 200, 429], 'the whole limit is back once the window passed');
});

t.test('limits are per client: one client exhausting its quota does not limit another', async (t) => {
  const h = await buildTestApp(t, { env: limits({ audit_query: { max: 2, window: 60 } }) });
  const { secret } = await createClient(h.app.store, { name: 'other', actions: ['*'], now: h.clock.now() });
  t.same(await statuses(h, 'audit_query', 3), [200, 200, 429]);
  t.same(await statuses(h, 'audit_query', 3, { secret }), [200, 200, 429]);
});

t.test('overrides are honoured, upwards too; other actions keep their defaults', async (t) => {
  const def = defaultClientLimits.audit_query!.max;
  const raised = await buildTestApp(t, { env: limits({ audit_query: { max: def + 50, window: 60 } }) });
  const s = await statuses(raised, 'audit_query', def + 51);
  t.equal(count(s, 200), def + 50, `raised above the default of ${def}`);
  t.equal(count(s, 429), 1);

  const defaults = await buildTestApp(t, { env: { AUTHNZD_RATE_LIMITS: '{}' } });
  const d = await statuses(defaults, 'audit_query', def + 1);
  t.equal(count(d, 200), def, 'the default applies without an override');
  t.equal(d.at(-1), 429);
});

t.test('AUTHNZD_RATE_LIMITS=off turns client limits off', async (t) => {
  const h = await buildTestApp(t, { env: { AUTHNZD_RATE_LIMITS: 'off' } });
  const s = await statuses(h, 'audit_query', defaultClientLimits.audit_query!.max + 5);
  t.equal(count(s, 429), 0);
  t.equal((await h.call('audit_query', {})).headers['ratelimit-limit'], undefined);
});

t.test('an override naming an unknown action is a configuration error, not silently ignored', async (t) => {
  await t.rejects(buildTestApp(t, { env: limits({ verify_apikeys: { max: 1, window: 60 } }) }),
    { name: 'ConfigError', message: /^AUTHNZD_RATE_LIMITS: "verify_apikeys" is not an action/ });
});

t.test('unauthenticated calls are refused before they count against a client', async (t) => {
  const h = await buildTestApp(t, { env: limits({ audit_query: { max: 2, window: 60 } }) });
  for (let i = 0; i < 5; i++) t.equal((await h.call('audit_query', {}, { secret: null })).statusCode, 401);
  t.same(await statuses(h, 'audit_query', 3), [200, 200, 429]);
});

t.test('every action has a default, and docs/rate-limits.md lists exactly the defaults', async (t) => {
  const h = await buildTestApp(t);
  const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
  const actions = Object.keys(doc.paths).filter((p) => p.startsWith('/v1/')).map((p) => p.slice(4));
  t.ok(actions.length > 10, `${actions.length} actions`);
  for (const a of actions) t.ok(defaultClientLimits[a], `${a} has a default limit in src/ratelimit/defaults.ts`);
  const md = readFileSync(path.join(repoRoot, 'docs/rate-limits.md'), 'utf8');
  for (const [a, r] of Object.entries(defaultClientLimits)) {
    t.ok(md.includes(`| \`${a}\` | ${r.max.toLocaleString('en-US')} | ${r.window} s |`), `${a} documented as ${r.max}/${r.window}s`);
  }
});
