import t from 'tap';
import { SUPERUSER_ID } from '../../src/core/bootstrap.js';
import { buildTestApp, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD } from '../helper.js';
import { IP, UA } from '../users/fixtures.js';

/*
 * One matrix for every action that acts through a session: an unknown, an expired and a
 * deleted session token are all 401 `invalid_session`, and the body never echoes the token.
 */
const actions: [string, (token: string) => Record<string, unknown>][] = [
  ['session_edit', (s) => ({ session_token: s, extra: { a: 1 } })],
  ['user_login', (s) => ({ session_token: s, email: SUPERUSER_EMAIL, password: SUPERUSER_PASSWORD })],
  ['user_logout', (s) => ({ session_token: s })],
  ['user_passcheck', (s) => ({ session_token: s, password: SUPERUSER_PASSWORD })],
  ['user_changepass', (s) => ({ session_token: s, current_password: SUPERUSER_PASSWORD, new_password: 'granite-Willow-harbour-37' })],
  ['user_edit', (s) => ({ session_token: s, target_user_id: SUPERUSER_ID, update: { full_name: 'x' } })],
  ['user_lock', (s) => ({ session_token: s, target_user_id: 3, locked: true })],
  ['user_delete', (s) => ({ session_token: s, target_user_id: SUPERUSER_ID, password: SUPERUSER_PASSWORD })],
  ['user_list', (s) => ({ session_token: s })],
];

t.test('session-bound actions refuse unknown, expired and deleted sessions', async (t) => {
  const h = await buildTestApp(t);
  const make = async (body: Record<string, unknown>) => json<{ session_token: string }>(await h.call('session_new', { ip_address: IP, user_agent: UA, user_id: SUPERUSER_ID, ...body })).session_token;
  const expired = await make({ expires_in: 60 });
  const deleted = await make({});
  await h.call('session_delete', { session_token: deleted });
  h.clock.advance(61);
  for (const [action, body] of actions) {
    for (const [kind, token] of [['unknown', 'azs_' + 'x'.repeat(43)], ['expired', expired], ['deleted', deleted]] as const) {
      const res = await h.call(action, body(token));
      t.equal(res.statusCode, 401, `${action} with a ${kind} session: ${show(res)}`);
      t.equal(json(res).code, 'invalid_session', `${action} ${kind}`);
      t.notMatch(res.body, token, 'the token is not echoed');
    }
  }
  const su = json<{ user: { full_name: string } }>(await h.call('user_get', { user_id: SUPERUSER_ID })).user;
  t.equal(su.full_name, 'Superuser', 'nothing changed');
});
