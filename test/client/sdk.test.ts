import t from 'tap';
import { AuthnzdError, actionNames, createClient, type ActionAnswer, type ActionBody } from '../../src/client/index.js';
import { ADMIN_SECRET, buildTestApp } from '../helper.js';
import { injectFetch } from './inject-fetch.js';

t.test('the SDK covers every action the service exposes', async (t) => {
  const h = await buildTestApp(t);
  const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
  const served = Object.keys(doc.paths).filter((p) => p.startsWith('/v1/')).map((p) => p.slice(4)).sort();
  t.same([...actionNames].sort(), served, 'SDK action list equals the OpenAPI paths');
});

t.test('calls actions and returns answers; errors throw AuthnzdError with the code', async (t) => {
  const h = await buildTestApp(t);
  const client = createClient({ url: 'http://authnzd.test', clientSecret: ADMIN_SECRET, fetch: injectFetch(h.app) });
  const s = await client.sessionNew({ ip_address: '203.0.113.9', user_agent: 'sdk-test' });
  t.type(s.session_token, 'string');
  const exists = await client.sessionExists({ session_token: s.session_token });
  t.equal(exists.exists, true);
  const gone = await client.sessionExists({ session_token: 'nope' });
  t.same({ exists: gone.exists, reason: typeof gone.reason }, { exists: false, reason: 'string' }, 'a no is a value');

  const err = await client.sessionNew({ ip_address: 'not-an-ip', user_agent: 'x' }, { requestId: 'sdk-req-1' }).catch((e: unknown) => e);
  t.ok(err instanceof AuthnzdError);
  t.match(err, { status: 400, code: 'invalid_request', requestId: 'sdk-req-1' });
  t.match((err as AuthnzdError).details, [{ path: '/ip_address', message: String }], 'the validation details, at hand');
  const noDetails = await client.userGet({ user_id: 4242 }).catch((e: unknown) => e);
  t.match(noDetails, { status: 404, code: 'not_found', details: undefined });

  const bad = createClient({ url: 'http://authnzd.test/', clientSecret: 'wrong', fetch: injectFetch(h.app) });
  t.match(await bad.policyGet({}).catch((e: unknown) => e), { status: 401, code: 'unauthenticated' });
  t.rejects(client.call('Bad-Name', {}), TypeError);
});

t.test('the methods are typed by the schemas the service checks (type-checked by npm run typecheck)', async (t) => {
  const h = await buildTestApp(t);
  const client = createClient({ url: 'http://authnzd.test', clientSecret: ADMIN_SECRET, fetch: injectFetch(h.app) });
  const s = await client.sessionNew({ ip_address: '203.0.113.9', user_agent: 'sdk-test' });
  const token: string = s.session_token;
  const expiresAt: string = s.expires_at;
  t.match(expiresAt, /Z$/);
  const verified: ActionAnswer<'verify_apikey'> = await client.verifyApikey({ apikey: 'azk_not-a-key', ip_address: '203.0.113.9', user_agent: 'sdk-test' });
  const valid: boolean = verified.valid;
  t.same({ valid, reason: verified.reason }, { valid: false, reason: 'malformed' });
  const access = await client.checkAccess({ user_id: 1, action: 'view', item: 'apikey', owner_id: 1, visibility: 'private' });
  t.type(access.allowed, 'boolean');
  const body: ActionBody<'session_exists'> = { session_token: token };
  t.equal((await client.sessionExists(body)).exists, true);

  // Wrong requests do not compile; at run time the service refuses them as well.
  // @ts-expect-error apikey is required
  const missing = await client.verifyApikey({ ip_address: '203.0.113.9', user_agent: 'x' }).catch((e: unknown) => e);
  t.match(missing, { status: 400, code: 'invalid_request' });
  // @ts-expect-error user_id is a number
  const wrongType = await client.checkAccess({ user_id: 'one', action: 'view', item: 'apikey', owner_id: 1, visibility: 'private' }).catch((e: unknown) => e);
  t.match(wrongType, { status: 400, code: 'invalid_request' });
  // @ts-expect-error no such answer field
  t.equal(access.granted, undefined);
});

/** A fetch standing in for a broken authnzd or a proxy in front of it: always this answer. */
function answering(status: number, body: string, headers: Record<string, string> = {}): typeof fetch {
  return (async () => new Response(body, { status, headers })) as typeof fetch;
}

t.test('an answer that is not a JSON object throws AuthnzdError invalid_response, whatever its status', async (t) => {
  const args = { apikey: 'azk_x', ip_address: '203.0.113.9', user_agent: 'sdk-test' };
  for (const body of ['<html>gateway</html>', '[{"valid":true}]', 'null', '"ok"', '']) {
    const ok = createClient({ url: 'http://authnzd.test', clientSecret: ADMIN_SECRET, fetch: answering(200, body) });
    const got = await ok.verifyApikey(args).then((v) => ({ resolved: v }), (e: unknown) => e);
    t.ok(got instanceof AuthnzdError, `200 ${JSON.stringify(body)} rejects: ${JSON.stringify(got)}`);
    t.match(got, { status: 502, code: 'invalid_response' }, `200 ${JSON.stringify(body)}`);
    t.notMatch(String((got as Error).message), /gateway|valid/, 'the odd body is not echoed into the message');

    const failed = createClient({ url: 'http://authnzd.test', clientSecret: ADMIN_SECRET, fetch: answering(503, body) });
    t.match(await failed.verifyApikey(args).catch((e: unknown) => e), { status: 503, code: 'invalid_response' }, `503 ${JSON.stringify(body)}`);
  }
});

t.test('AuthnzdError carries Retry-After in seconds when the service sent one', async (t) => {
  const body = JSON.stringify({ code: 'rate_limited', message: 'Too many requests.', request_id: 'r1' });
  const limited = createClient({ url: 'http://authnzd.test', clientSecret: ADMIN_SECRET, fetch: answering(429, body, { 'retry-after': '7' }) });
  t.match(await limited.policyGet({}).catch((e: unknown) => e), { status: 429, code: 'rate_limited', retryAfter: 7, requestId: 'r1' });
  const dated = createClient({ url: 'http://authnzd.test', clientSecret: ADMIN_SECRET, fetch: answering(429, body, { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }) });
  t.match(await dated.policyGet({}).catch((e: unknown) => e), { status: 429, retryAfter: undefined }, 'only delta-seconds are read');
});

t.test('a client secret that cannot be sent as a header is refused by createClient, without showing it', async (t) => {
  // fetch's own refusal ("Headers.append: \"Bearer <secret>\" is an invalid header value.")
  // quoted the whole secret, and the Fastify plugin logged that message on every request.
  for (const secret of ['azc_line\nbreak-SECRET-0123456789', 'azc_cr\rSECRET-0123456789', 'azc_nul\0SECRET-0123456789', 'azc_wide\u0100SECRET-0123456789', '', '  \n']) {
    // This fetch builds the headers as undici does, so it throws what undici throws.
    const headersChecked = (async (_input: string | URL | Request, init?: RequestInit) => new Response(JSON.stringify({ n: [...new Headers(init?.headers)].length }), { status: 200 })) as typeof fetch;
    const got = await (async () => createClient({ url: 'http://authnzd.test', clientSecret: secret, fetch: headersChecked }).policyGet({}))()
      .then((v) => ({ resolved: v }), (e: unknown) => e);
    t.ok(got instanceof TypeError, `${JSON.stringify(secret)}: a TypeError: ${String(got)}`);
    t.match(String((got as Error).message), /clientSecret/, `${JSON.stringify(secret)}: names the option`);
    if (secret.trim() !== '') t.notOk(String((got as Error).message).includes('SECRET'), `${JSON.stringify(secret)}: the secret is not in the message`);
  }
  // Surrounding whitespace (a trailing newline read from a secret file) is dropped, as fetch did.
  let sent: string | null = null;
  const capture = (async (_input: string | URL | Request, init?: RequestInit) => {
    sent = new Headers(init?.headers).get('authorization');
    return new Response('{"ok":true}', { status: 200 });
  }) as typeof fetch;
  await createClient({ url: 'http://authnzd.test', clientSecret: ` ${ADMIN_SECRET}\n`, fetch: capture }).policyGet({});
  t.equal(sent, `Bearer ${ADMIN_SECRET}`);
});

t.test('a url with credentials is refused by createClient, without showing them', async (t) => {
  // fetch refuses such a URL on every call, quoting it whole ("Request cannot be constructed from
  // a URL that includes credentials: http://svc:<password>@…"), and the Fastify plugin logged it.
  const headersChecked = (async (input: string | URL | Request) => {
    void new Request(input);
    return new Response('{}', { status: 200 });
  }) as typeof fetch;
  for (const url of ['http://svc:hunter2-PASSWORD@authnzd.test', 'http://PASSWORD@authnzd.test']) {
    const got = await (async () => createClient({ url, clientSecret: ADMIN_SECRET, fetch: headersChecked }).policyGet({}))()
      .then((v) => ({ resolved: v }), (e: unknown) => e);
    t.ok(got instanceof TypeError, `${url}: a TypeError: ${String(got)}`);
    t.match(String((got as Error).message), /createClient: url/, `${url}: names the option`);
    t.notOk(String((got as Error).message).includes('PASSWORD'), `${url}: the credentials are not in the message`);
  }
});
