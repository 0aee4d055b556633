import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import t from 'tap';
import { authnzdApiKeys, createClient } from '../../src/client/index.js';
import { createClient as createServiceClient } from '../../src/core/clients.js';
import { MAX_APIKEY_LENGTH } from '../../src/crypto/envelope.js';
import { apikeySchemas } from '../../src/routes/actions/apikeys.js';
import { ADMIN_SECRET, show, type TestApp } from '../helper.js';
import { activeUser, issueStandalone, specApp } from '../spec/util.js';
import { injectFetch } from './inject-fetch.js';

/* The Fastify plugin (src/client/fastify.ts) when its own verify_apikey call fails, and the
 * request data it sends: user agent and IP (docs/sdk.md). */

type Teardown = { teardown(fn: () => unknown): void };

const UNAVAILABLE = { code: 'unavailable', message: 'API key verification is unavailable' };

/** A downstream service using the plugin, its log lines captured. */
async function service(t: Teardown, fetchImpl: typeof fetch, opts: { url?: string; secret?: string; timeoutMs?: number; trustProxy?: boolean } = {}) {
  let raw = '';
  const stream = new Writable({ write(chunk, _enc, cb) { raw += chunk.toString(); cb(); } });
  const svc = Fastify({ logger: { level: 'info', stream }, trustProxy: opts.trustProxy ?? false });
  const client = createClient({ url: opts.url ?? 'http://authnzd.test', clientSecret: opts.secret ?? ADMIN_SECRET, fetch: fetchImpl, timeoutMs: opts.timeoutMs });
  await svc.register(authnzdApiKeys, { client, audience: 'svc' });
  svc.get('/read', { config: { apiKeyScope: 'read' } }, async (req) => ({ key: req.apiKey?.key_id ?? null }));
  svc.get('/open', { config: { apiKeyRequired: false } }, async (req) => ({ key: req.apiKey?.key_id ?? null }));
  t.teardown(() => svc.close());
  return { svc, rawLogs: () => raw, logs: () => raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** injectFetch that also records the body of every verify_apikey call. */
function recording(app: FastifyInstance) {
  const inner = injectFetch(app);
  const calls: Record<string, unknown>[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push(JSON.parse(String(init?.body)) as Record<string, unknown>);
    return inner(input, init);
  }) as typeof fetch;
  return { fetchImpl, calls };
}

/** A fetch standing in for a broken authnzd (or what answers in its place): always this answer. */
function answering(status: number, body: string, headers: Record<string, string> = {}): typeof fetch {
  return (async () => new Response(body, { status, headers })) as typeof fetch;
}

/**
 * A fetch to a service that never answers: it rejects only when the SDK's timeout aborts it.
 * The interval holds the event loop open as a pending socket would (AbortSignal.timeout's timer
 * does not), or the test process would exit before the timeout fires.
 */
const hanging = ((_input: string | URL | Request, init?: RequestInit) => new Promise((_resolve, reject) => {
  const pending = setInterval(() => {}, 1000);
  init?.signal?.addEventListener('abort', () => {
    clearInterval(pending);
    reject(init.signal?.reason);
  });
})) as typeof fetch;

/** A local URL nothing listens on. */
async function closedPort(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

async function withKey(t: Teardown, extra: Record<string, unknown> = {}): Promise<{ h: TestApp; apikey: string; key_id: string }> {
  const h = await specApp(t);
  const u = await activeUser(h);
  const k = await issueStandalone(h, u.id, { ip_address: '127.0.0.1', user_agent: 'lightMyRequest', scopes: ['read'], ...extra });
  return { h, apikey: k.apikey, key_id: k.key_id };
}

t.test('a failed verify call answers 503 unavailable, not authnzd\'s status or text, and is logged without secrets', async (t) => {
  const { h, apikey } = await withKey(t);
  const { secret: forbiddenSecret } = await createServiceClient(h.app.store, { name: 'no-verify', actions: ['session_new'], now: h.clock.now() });
  const wrongSecret = 'azc_wrong-service-secret-0123456789';
  const down = await closedPort();
  const cases: { name: string; fetch: typeof fetch; url?: string; secret?: string; timeoutMs?: number; logged: RegExp; retryAfter?: string }[] = [
    { name: 'wrong client secret (authnzd 401)', fetch: injectFetch(h.app), secret: wrongSecret, logged: /"status":401.*"code":"unauthenticated"/ },
    { name: 'client may not call verify_apikey (authnzd 403)', fetch: injectFetch(h.app), secret: forbiddenSecret, logged: /"status":403.*"code":"client_forbidden"/ },
    { name: 'authnzd unreachable', fetch: globalThis.fetch, url: down, logged: /fetch failed.*ECONNREFUSED/ },
    { name: 'timeout', fetch: hanging, timeoutMs: 50, logged: /TimeoutError/ },
    { name: 'authnzd 500', fetch: answering(500, JSON.stringify({ code: 'internal', message: 'Internal error.', request_id: 'a1' })), logged: /"status":500/ },
    { name: 'authnzd 503 from a proxy, HTML', fetch: answering(503, '<html>bad gateway</html>'), logged: /"status":503.*"code":"invalid_response"/ },
    { name: '200 that is not JSON', fetch: answering(200, 'hello'), logged: /"status":502.*"code":"invalid_response"/ },
    { name: 'the service client is rate limited (authnzd 429)', fetch: answering(429, JSON.stringify({ code: 'rate_limited', message: 'Too many requests.', request_id: 'a2' }), { 'retry-after': '7' }), logged: /"status":429/, retryAfter: '7' },
  ];
  for (const c of cases) {
    const { svc, rawLogs, logs } = await service(t, c.fetch, { url: c.url, secret: c.secret, timeoutMs: c.timeoutMs });
    const res = await svc.inject({ method: 'GET', url: '/read', headers: { authorization: `Bearer ${apikey}` } });
    t.equal(res.statusCode, 503, `${c.name}: ${show(res)}`);
    t.same(res.json(), UNAVAILABLE, `${c.name}: no internal text`);
    t.equal(res.headers['www-authenticate'], undefined, `${c.name}: the caller's key is not blamed`);
    t.equal(res.headers['retry-after'], c.retryAfter, `${c.name}: Retry-After only when authnzd sent one`);
    const errors = logs().filter((l) => l.level === 50);
    t.equal(errors.length, 1, `${c.name}: one error line: ${rawLogs()}`);
    t.match(JSON.stringify(errors[0]), c.logged, `${c.name}: the cause is in the log`);
    t.notOk(rawLogs().includes(apikey), `${c.name}: the key is not logged`);
    t.notOk(rawLogs().includes(c.secret ?? ADMIN_SECRET), `${c.name}: the client secret is not logged`);
  }
});

t.test('routes with apiKeyRequired: false never call authnzd, so an outage does not reach them', async (t) => {
  const { apikey } = await withKey(t);
  const { svc, logs } = await service(t, answering(500, '{}'));
  const res = await svc.inject({ method: 'GET', url: '/open', headers: { authorization: `Bearer ${apikey}` } });
  t.equal(res.statusCode, 200, show(res));
  t.same(res.json(), { key: null });
  t.same(logs().filter((l) => l.level === 50), []);
});

t.test('a user agent over 16384 characters is refused with 401 invalid_request, without calling authnzd', async (t) => {
  const { h, apikey } = await withKey(t, { bind: { ip: true, user_agent: false } });
  const { fetchImpl, calls } = recording(h.app);
  const { svc } = await service(t, fetchImpl);
  const res = await svc.inject({ method: 'GET', url: '/read', headers: { authorization: `Bearer ${apikey}`, 'user-agent': 'a'.repeat(16385) } });
  t.equal(res.statusCode, 401, show(res));
  t.match(String(res.headers['www-authenticate']), /^Bearer realm="api", error="invalid_request"/);
  t.match(res.json(), { code: 'unauthenticated', message: /User-Agent/ });
  t.equal(calls.length, 0, 'authnzd was not called');

  await svc.inject({ method: 'GET', url: '/read', headers: { authorization: `Bearer ${apikey}`, 'user-agent': 'a'.repeat(16384) } });
  t.equal(calls.length, 1, 'a user agent of 16384 characters is sent');
  t.equal((calls[0]!.user_agent as string).length, 16384, 'unchanged');
});

t.test('a key longer than verify_apikey accepts is refused as malformed, without calling authnzd', async (t) => {
  t.equal(MAX_APIKEY_LENGTH, 32_768, 'the plugin\'s limit is the service\'s (src/client/fastify.ts MAX_KEY_LENGTH)');
  const ua = (apikeySchemas.verify_apikey.body.properties.user_agent as { maxLength?: number }).maxLength;
  t.equal(ua, 16_384, 'and so is its user-agent limit (MAX_USER_AGENT_LENGTH)');
  const { h } = await withKey(t);
  const { fetchImpl, calls } = recording(h.app);
  const { svc } = await service(t, fetchImpl);
  const res = await svc.inject({ method: 'GET', url: '/read', headers: { 'x-api-key': `azk_${'x'.repeat(32_768)}` } });
  t.equal(res.statusCode, 401, show(res));
  t.match(String(res.headers['www-authenticate']), /error="invalid_token", error_description="malformed"/);
  t.equal(calls.length, 0, 'authnzd was not called');
});

t.test('the IP sent is request.ip: the socket address, or the forwarded one when the app sets trustProxy', async (t) => {
  const { h, apikey, key_id } = await withKey(t, { ip_address: '198.51.100.7' });
  const direct = recording(h.app);
  const { svc } = await service(t, direct.fetchImpl);
  const spoofed = await svc.inject({ method: 'GET', url: '/read', headers: { authorization: `Bearer ${apikey}`, 'x-forwarded-for': '198.51.100.7' } });
  t.equal(spoofed.statusCode, 401, `without trustProxy X-Forwarded-For is ignored: ${show(spoofed)}`);
  t.equal(direct.calls[0]?.ip_address, '127.0.0.1');

  const proxied = recording(h.app);
  const behindProxy = await service(t, proxied.fetchImpl, { trustProxy: true });
  const res = await behindProxy.svc.inject({ method: 'GET', url: '/read', headers: { authorization: `Bearer ${apikey}`, 'x-forwarded-for': '198.51.100.7' } });
  t.equal(res.statusCode, 200, show(res));
  t.same(res.json(), { key: key_id });
  t.equal(proxied.calls[0]?.ip_address, '198.51.100.7');

  const junk = await behindProxy.svc.inject({ method: 'GET', url: '/read', headers: { authorization: `Bearer ${apikey}`, 'x-forwarded-for': 'not-an-address' } });
  t.equal(junk.statusCode, 401, `a forwarded value that is not an IP: ${show(junk)}`);
  t.match(String(junk.headers['www-authenticate']), /error="invalid_request"/);
  t.equal(proxied.calls.length, 1, 'authnzd was not called for it');
});
