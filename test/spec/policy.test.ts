import t from 'tap';
import { json, show } from '../helper.js';
import { ISO_Z, activeUser, superLogin, specApp } from './util.js';

/* SPEC §5: check_access, check_limit, policy_get. */

t.test('check_access: 200 with allowed and, when no, a reason; role read from the database', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const ask = async (body: Record<string, unknown>) => {
    const res = await h.call('check_access', { user_id: u.id, action: 'view', item: 'dataset', owner_id: u.id, visibility: 'private', ...body });
    t.equal(res.statusCode, 200, show(res));
    return json<{ allowed: boolean; reason?: string }>(res);
  };
  t.same(await ask({}), { allowed: true });
  const no = await ask({ owner_id: 1 });
  t.equal(no.allowed, false);
  t.type(no.reason, 'string');
  t.same(Object.keys(no).sort(), ['allowed', 'reason']);
  t.equal((await ask({ owner_id: 1, shared_with: [u.id], visibility: 'shared' })).allowed, true, 'shared with the user');
  t.equal((await ask({ owner_id: 1, visibility: 'public' })).allowed, true);
  t.equal((await ask({ action: 'delete', item: 'apikey', owner_id: 1 })).allowed, false, 'not anyone\'s key');
  t.equal((await ask({ user_id: 1, action: 'delete', item: 'apikey', owner_id: u.id })).allowed, true, 'superuser deletes anyone\'s key');
  t.equal((await ask({ user_id: 1, action: 'view', item: 'apikey', owner_id: u.id })).allowed, true, 'superuser views anyone\'s key');
  for (const a of ['list', 'view', 'create', 'delete']) t.equal((await ask({ action: a, item: 'apikey' })).allowed, true, `own apikey ${a}`);

  const unknown = await ask({ user_id: 99999 });
  t.equal(unknown.allowed, false, 'unknown acting user denied');
  t.type(unknown.reason, 'string');
  const pending = json<{ user_id: number }>(await h.call('user_new', { email: 'pending-policy@example.org', password: 'orchid-Lantern-quietly-507', full_name: 'P' })).user_id;
  const inactive = await ask({ user_id: pending, owner_id: pending });
  t.equal(inactive.allowed, false, 'inactive acting user denied');

  const su = await superLogin(h);
  await h.call('user_lock', { session_token: su, target_user_id: u.id, locked: true });
  t.equal((await ask({})).allowed, false, 'locked acting user denied');
  t.equal((await h.call('check_access', { user_id: u.id, action: 'view', item: 'dataset', owner_id: u.id, visibility: 'private', role: 'superuser' })).statusCode, 400, 'no role from the caller');
});

t.test('check_limit: within, limit, unknown_limit', async (t) => {
  const h = await specApp(t);
  const u = await activeUser(h);
  const ask = async (limit_name: string, value: number, user_id = u.id) => {
    const res = await h.call('check_limit', { user_id, limit_name, value });
    t.equal(res.statusCode, 200, show(res));
    return json<{ within: boolean; limit?: number; reason?: string }>(res);
  };
  const ok = await ask('max_requests_per_minute', 10);
  t.equal(ok.within, true);
  t.equal(ok.limit, 6000);
  const over = await ask('max_requests_per_minute', 6001);
  t.equal(over.within, false);
  t.type(over.reason, 'string');
  t.same(await ask('no_such_limit', 1), { within: false, reason: 'unknown_limit' });
  t.equal((await ask('max_requests', 1, 99999)).within, false, 'unknown user');
});

t.test('policy_get: {policy, sha256, loaded_at, source}', async (t) => {
  const h = await specApp(t);
  const res = await h.call('policy_get', {});
  t.equal(res.statusCode, 200, show(res));
  const b = json<{ policy: Record<string, unknown>; sha256: string; loaded_at: string; source: string }>(res);
  t.same(Object.keys(b).sort(), ['loaded_at', 'policy', 'sha256', 'source']);
  t.match(b.sha256, /^[0-9a-f]{64}$/);
  t.match(b.loaded_at, ISO_Z);
  t.match(b.source, /permissions\.json$/);
  for (const k of ['roles', 'items', 'actions', 'visibilities', 'limits', 'item_policy', 'role_policy']) t.ok(k in b.policy, k);
  t.equal((await h.call('policy_get', { x: 1 })).statusCode, 400);
});
