import Fastify from 'fastify';
import t from 'tap';
import { authnzdApiKeys, createClient } from '../../src/client/index.js';
import { ADMIN_SECRET, show } from '../helper.js';
import { injectFetch } from '../client/inject-fetch.js';
import { activeUser, issueStandalone, specApp } from './util.js';

/* SPEC §8: the typed client and the Fastify plugin for services that accept API keys. */

t.test('createClient has one method per action', async (t) => {
  const h = await specApp(t);
  const c = createClient({ url: 'http://authnzd.test', clientSecret: ADMIN_SECRET, fetch: injectFetch(h.app) });
  for (const m of ['sessionNew', 'sessionExists', 'userLogin', 'issueApikey', 'verifyApikey', 'refreshApikey', 'checkAccess', 'checkLimit', 'policyGet', 'userGet', 'userList']) {
    t.type((c as unknown as Record<string, unknown>)[m], 'function', m);
  }
  const p = await c.policyGet({});
  t.match(p.sha256, /^[0-9a-f]{64}$/);
});

t.test('the Fastify plugin: Bearer, Token, X-API-Key; 401 with WWW-Authenticate; 403 for a missing scope', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  // The downstream service sees inject's defaults: 127.0.0.1 and user agent lightMyRequest.
  const k = await issueStandalone(h, u.id, { ip_address: '127.0.0.1', user_agent: 'lightMyRequest', scopes: ['read'] });
  const client = createClient({ url: 'http://authnzd.test', clientSecret: ADMIN_SECRET, fetch: injectFetch(h.app) });
  const svc = Fastify();
  await svc.register(authnzdApiKeys, { client, audience: 'svc' });
  svc.get('/read', { config: { apiKeyScope: 'read' } }, async (req) => ({ user: req.apiKey?.user_id, key: req.apiKey?.key_id }));
  svc.get('/write', { config: { apiKeyScope: 'write' } }, async () => ({ ok: true }));
  svc.get('/open', { config: { apiKeyRequired: false } }, async () => ({ ok: true }));
  t.teardown(() => svc.close());

  for (const headers of [{ authorization: `Bearer ${k.apikey}` }, { authorization: `Token ${k.apikey}` }, { 'x-api-key': k.apikey }]) {
    const res = await svc.inject({ method: 'GET', url: '/read', headers });
    t.equal(res.statusCode, 200, `${Object.keys(headers)[0]}: ${show(res)}`);
    t.same(res.json(), { user: u.id, key: k.key_id });
  }
  const missing = await svc.inject({ method: 'GET', url: '/read' });
  t.equal(missing.statusCode, 401, show(missing));
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"', 'no key sent: a challenge without an error code (RFC 6750 §3.1)');
  const bad = await svc.inject({ method: 'GET', url: '/read', headers: { authorization: 'Bearer azk_nonsense' } });
  t.equal(bad.statusCode, 401, show(bad));
  t.match(String(bad.headers['www-authenticate']), /^Bearer realm="api", error="invalid_token", error_description="malformed"$/);
  const scope = await svc.inject({ method: 'GET', url: '/write', headers: { authorization: `Bearer ${k.apikey}` } });
  t.equal(scope.statusCode, 403, show(scope));
  const open = await svc.inject({ method: 'GET', url: '/open' });
  t.equal(open.statusCode, 200, show(open));
  const otherUa = await svc.inject({ method: 'GET', url: '/read', headers: { authorization: `Bearer ${k.apikey}`, 'user-agent': 'curl/8' } });
  t.equal(otherUa.statusCode, 401, `the request's user agent is checked: ${show(otherUa)}`);
});
