import t from 'tap';
import { SUPERUSER_EMAIL, SUPERUSER_PASSWORD, buildTestApp, json, show } from '../helper.js';

/* Cases found by the SPEC audit; each failed before its fix. */

async function superSession(h: Awaited<ReturnType<typeof buildTestApp>>): Promise<string> {
  const anon = json<{ session_token: string }>(await h.call('session_new', { ip_address: '203.0.113.1', user_agent: 'edge' })).session_token;
  const res = await h.call('user_login', { session_token: anon, email: SUPERUSER_EMAIL, password: SUPERUSER_PASSWORD });
  t.equal(res.statusCode, 200, show(res));
  return json<{ session_token: string }>(res).session_token;
}

t.test('a superuser cannot delete their own account', async (t) => {
  const h = await buildTestApp(t);
  const su = await superSession(h);
  const res = await h.call('user_delete', { session_token: su, target_user_id: 1, password: SUPERUSER_PASSWORD });
  t.equal(res.statusCode, 403, show(res));
  t.equal(json(res).code, 'permission_denied');
  t.equal((await h.call('user_get', { user_id: 1 })).statusCode, 200, 'the superuser still exists');
});

t.test('the anonymous user\'s sessions cannot be listed or ended in bulk', async (t) => {
  const h = await buildTestApp(t);
  const visitor = json<{ session_token: string }>(await h.call('session_new', { ip_address: '203.0.113.2', user_agent: 'edge' })).session_token;
  for (const action of ['session_delete_user', 'session_list']) {
    const res = await h.call(action, { user_id: 2 });
    t.equal(res.statusCode, 400, `${action}: ${show(res)}`);
    t.equal(json(res).code, 'invalid_request');
  }
  const still = await h.call('session_exists', { session_token: visitor });
  t.equal(json(still).exists, true, 'visitors keep their sessions');
});
