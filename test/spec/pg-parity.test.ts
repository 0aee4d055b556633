import t from 'tap';
import { json, show } from '../helper.js';
import { activeUser, IP, login, specApp, UA } from './util.js';

/*
 * Inputs the schemas accept must get the same answer on PostgreSQL as on SQLite (operations.md:
 * "Both shapes run the same code and answer the same wire contract"). Run on PostgreSQL with
 * AUTHNZD_SPEC_PG=1 AUTHNZD_TEST_PG_URL=postgres://…
 */

t.test('audit_query takes any time Date.parse reads, on either database', async (t) => {
  const h = await specApp(t);
  for (const [field, value] of [['since', '-271821-04-20T00:00:00Z'], ['since', '0000-01-01T00:00:00Z'], ['until', '+275760-09-13T00:00:00Z'], ['until', '0000-01-01T00:00:00Z']] as const) {
    const res = await h.call('audit_query', { [field]: value });
    t.equal(res.statusCode, 200, `${field} ${value}: ${show(res)}`);
    const { events } = json<{ events: unknown[] }>(res);
    const expectEvents = field === 'since' || value.startsWith('+');
    t.equal(events.length > 0, expectEvents, `${field} ${value}: ${expectEvents ? 'every' : 'no'} event`);
  }
});

t.test('a lookup by a string holding U+0000 finds nothing (no stored value holds one), on either database', async (t) => {
  const h = await specApp(t);
  h.app.logins.sleep = async () => {};
  const nul = 'bob\u0000@example.com';
  const anonRes = await h.call('session_new', { ip_address: IP, user_agent: UA });
  const session = json<{ session_token: string }>(anonRes).session_token;
  const expect: [string, Record<string, unknown>, number, (b: Record<string, unknown>) => boolean][] = [
    ['user_get', { email: nul }, 404, (b) => b.code === 'not_found'],
    ['user_login', { session_token: session, email: nul, password: 'whatever-it-is' }, 401, (b) => b.code === 'invalid_credentials'],
    ['user_passcheck_nosession', { email: nul, password: 'whatever-it-is' }, 200, (b) => b.ok === false && b.reason === 'invalid_credentials'],
    ['user_resetpass_token', { email: nul }, 200, (b) => typeof b.reset_token === 'string'],
    ['audit_query', { event: 'a\u0000b' }, 200, (b) => Array.isArray(b.events) && b.events.length === 0],
    ['audit_query', { subject: 'a\u0000b' }, 200, (b) => Array.isArray(b.events) && b.events.length === 0],
  ];
  for (const [action, body, status, check] of expect) {
    const res = await h.call(action, body);
    t.equal(res.statusCode, status, `${action} ${JSON.stringify(body)}: ${show(res)}`);
    t.ok(check(json(res)), `${action}: ${show(res)}`);
  }
  const s = await login(h, (await activeUser(h)).email);
  const res = await h.call('revoke_apikey', { session_token: s, key_id: 'key_\u0000' });
  t.equal(res.statusCode, 404, `revoke_apikey key_id with U+0000: ${show(res)}`);
});

t.test('session_edit calls racing on one session keep every key they set', async (t) => {
  const h = await specApp(t);
  const res = await h.call('session_new', { ip_address: IP, user_agent: UA, extra: { keep: true } });
  const session = json<{ session_token: string }>(res).session_token;
  const edits = await Promise.all(Array.from({ length: 30 }, (_, i) => h.call('session_edit', { session_token: session, extra: { [`k${i}`]: i } })));
  t.same(edits.map((r) => r.statusCode), Array(30).fill(200));
  const after = json<{ session: { extra: Record<string, unknown> } }>(await h.call('session_exists', { session_token: session }));
  t.equal(Object.keys(after.session.extra).length, 31, `every key kept: ${Object.keys(after.session.extra).join(',')}`);
});
