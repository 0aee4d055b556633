import t from 'tap';
import { json, show } from '../helper.js';
import { IP, specApp, UA } from './util.js';

/*
 * Inputs the schemas accept must get the same answer on PostgreSQL as on SQLite (operations.md:
 * "Both shapes run the same code and answer the same wire contract"). Run on PostgreSQL with
 * AUTHNZD_SPEC_PG=1 AUTHNZD_TEST_PG_URL=postgres://…
 */

t.test('audit_query takes any ISO 8601 time toISOString can write (extended years too), on either database', async (t) => {
  const h = await specApp(t);
  for (const [field, value] of [['since', '-271821-04-20T00:00:00Z'], ['since', '0000-01-01T00:00:00Z'], ['until', '+275760-09-13T00:00:00Z'], ['until', '0000-01-01T00:00:00Z']] as const) {
    const res = await h.call('audit_query', { [field]: value });
    t.equal(res.statusCode, 200, `${field} ${value}: ${show(res)}`);
    const { events } = json<{ events: unknown[] }>(res);
    const expectEvents = field === 'since' || value.startsWith('+');
    t.equal(events.length > 0, expectEvents, `${field} ${value}: ${expectEvents ? 'every' : 'no'} event`);
  }
});

t.test('text holding U+0000 or an unpaired surrogate is refused in every field, on either database', async (t) => {
  const h = await specApp(t);
  const anonRes = await h.call('session_new', { ip_address: IP, user_agent: UA });
  const session = json<{ session_token: string }>(anonRes).session_token;
  const cases: [string, Record<string, unknown>, string][] = [
    ['session_new', { ip_address: IP, user_agent: 'a\u0000b' }, '/user_agent'],
    ['session_new', { ip_address: IP, user_agent: UA, extra: { note: 'x\ud800' } }, '/extra/note'],
    ['session_new', { ip_address: IP, user_agent: UA, extra: { 'k\u0000': 1 } }, '/extra/k\u0000'],
    ['session_new', { ip_address: IP, user_agent: UA, extra: { list: ['ok', '\udc00y'] } }, '/extra/list/1'],
    ['session_edit', { session_token: session, extra: { 'a/b': 'nul\u0000' } }, '/extra/a~1b'],
    ['user_get', { email: 'bob\u0000@example.com' }, '/email'],
    ['user_passcheck_nosession', { email: 'bob\u0000@example.com', password: 'whatever-it-is' }, '/email'],
    ['user_resetpass_token', { email: 'bob@example.com\ud83d' }, '/email'],
    ['audit_query', { event: 'a\u0000b' }, '/event'],
    ['verify_apikey', { apikey: 'azk_x', ip_address: IP, user_agent: 'ua\u0000' }, '/user_agent'],
  ];
  for (const [action, body, path] of cases) {
    const res = await h.call(action, body);
    t.equal(res.statusCode, 400, `${action} ${JSON.stringify(body)}: ${show(res)}`);
    t.match(json(res), { code: 'invalid_request', details: [{ path }] }, `${action}: names ${JSON.stringify(path)}`);
  }
  // What is storable passes: a surrogate pair (an emoji, escaped or not) and the six characters
  // backslash, u, 0, 0, 0, 0.
  const raw = (text: string) => `{"ip_address": "${IP}", "user_agent": ${text}, "extra": {"text": ${text}}}`;
  for (const [sent, text] of [['"smile \\ud83d\\ude00"', 'smile \u{1F600}'], ['"smile \u{1F600}"', 'smile \u{1F600}'], ['"back\\\\u0000slash"', 'back\\u0000slash']]) {
    const res = await h.call('session_new', raw(sent!));
    t.equal(res.statusCode, 201, `${JSON.stringify(text)}: ${show(res)}`);
    const s = json<{ session_token: string }>(res).session_token;
    const back = json<{ session: { user_agent: string; extra: { text: string } } }>(await h.call('session_exists', { session_token: s }));
    t.same([back.session.user_agent, back.session.extra.text], [text, text], 'stored and returned unchanged');
  }
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
