import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildTestApp, json, repoRoot, show, type TestApp } from '../helper.js';

async function addUser(h: TestApp, role: string, isActive = true): Promise<number> {
  const n = Math.random().toString(36).slice(2);
  const user = await h.app.store.users.create({
    systemId: `access-${n}`, email: `access-${n}@example.test`, fullName: null, passwordHash: null,
    role, isActive, emailVerified: isActive, extra: {}, createdAt: h.clock.now(),
  });
  return user.id;
}

t.test('check_access: the acting user comes from the database', async (t) => {
  const h = await buildTestApp(t);
  const alice = await addUser(h, 'authenticated');
  const sam = await addUser(h, 'staff');
  const inactive = await addUser(h, 'authenticated', false);
  const ask = async (body: Record<string, unknown>) => {
    const res = await h.call('check_access', { action: 'view', item: 'dataset', owner_id: 1, visibility: 'private', ...body });
    t.equal(res.statusCode, 200, show(res));
    return json(res);
  };
  t.same(await ask({ user_id: alice }), { allowed: false, reason: 'action_not_allowed' });
  t.same(await ask({ user_id: alice, visibility: 'shared', shared_with: [sam] }), { allowed: false, reason: 'not_shared' });
  t.same(await ask({ user_id: sam, action: 'list' }), { allowed: true }, 'staff may list private items of others');
  t.same(await ask({ user_id: 99999 }), { allowed: false, reason: 'unknown_user' });
  t.same(await ask({ user_id: inactive, owner_id: inactive }), { allowed: false, reason: 'user_inactive' }, 'even on its own item');
  t.same(await ask({ user_id: alice, owner_id: alice }), { allowed: true });
  t.same(await ask({ user_id: alice, item: 'photo' }), { allowed: false, reason: 'unknown_item' }, 'unknown names are a no, not a 400');

  const withRole = await h.call('check_access', { user_id: alice, role: 'superuser', action: 'view', item: 'dataset', owner_id: 1, visibility: 'private' });
  t.equal(withRole.statusCode, 400, `a caller cannot supply the role: ${show(withRole)}`);
  t.equal(json(withRole).code, 'invalid_request');
  const badType = await h.call('check_access', { user_id: String(alice), action: 'view', item: 'dataset', owner_id: 1, visibility: 'private' });
  t.equal(badType.statusCode, 400, show(badType));
  const missing = await h.call('check_access', { user_id: alice, action: 'view', item: 'dataset', visibility: 'private' });
  t.equal(missing.statusCode, 400, show(missing));
});

t.test('deleted or locked owners and shared-with users do not lock everyone out (authnzerver defect)', async (t) => {
  const h = await buildTestApp(t);
  const alice = await addUser(h, 'authenticated');
  const lockedOwner = await addUser(h, 'locked', false);
  const deletedId = 88888;
  const ask = async (body: Record<string, unknown>) => json(await h.call('check_access', { user_id: alice, action: 'view', item: 'dataset', ...body }));
  t.same(await ask({ owner_id: deletedId, visibility: 'public' }), { allowed: true }, 'public item of a deleted owner');
  t.same(await ask({ owner_id: lockedOwner, visibility: 'public' }), { allowed: true }, 'public item of a locked owner');
  t.same(await ask({ owner_id: lockedOwner, visibility: 'shared', shared_with: [deletedId, alice] }), { allowed: true },
    'shared with me and with a deleted user');
  t.same(await ask({ owner_id: lockedOwner, visibility: 'shared', shared_with: [deletedId] }), { allowed: false, reason: 'not_shared' });
});

t.test('check_limit', async (t) => {
  const h = await buildTestApp(t);
  const alice = await addUser(h, 'authenticated');
  const locked = await addUser(h, 'locked');
  const ask = async (body: Record<string, unknown>) => {
    const res = await h.call('check_limit', { user_id: alice, limit_name: 'max_requests_per_minute', ...body });
    t.equal(res.statusCode, 200, show(res));
    return json(res);
  };
  t.same(await ask({ value: 5999 }), { within: true, limit: 6000 });
  t.same(await ask({ value: 6000 }), { within: false, limit: 6000, reason: 'over_limit' });
  t.same(await ask({ limit_name: 'max_rows', value: 1 }), { within: false, reason: 'unknown_limit' }, 'authnzerver fails open here; we do not');
  t.same(await ask({ user_id: locked, value: 0 }), { within: false, limit: 0, reason: 'over_limit' });
  t.same(await ask({ user_id: 99999, value: 1 }), { within: false, reason: 'unknown_user' });
  const bad = await h.call('check_limit', { user_id: alice, limit_name: 'max_requests', value: '5' });
  t.equal(bad.statusCode, 400, show(bad));
});

t.test('policy_get', async (t) => {
  const h = await buildTestApp(t);
  const res = await h.call('policy_get', {});
  t.equal(res.statusCode, 200, show(res).slice(0, 200));
  const body = json<{ policy: { roles: string[]; role_policy: Record<string, unknown> }; sha256: string; loaded_at: string; source: string; error?: string }>(res);
  t.same(body.policy.roles, ['superuser', 'staff', 'authenticated', 'anonymous', 'locked']);
  t.ok(body.policy.role_policy.staff);
  t.match(body.sha256, /^[0-9a-f]{64}$/);
  t.equal(body.loaded_at, new Date(h.clock.now()).toISOString());
  t.equal(body.source, h.config.permissionsPath);
  t.notOk('error' in body);
  const extra = await h.call('policy_get', { verbose: true });
  t.equal(extra.statusCode, 400, show(extra));
});

t.test('an unusable policy at first start stops buildApp, naming AUTHNZD_PERMISSIONS', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-policy-'));
  await t.rejects(buildTestApp(t, { env: { AUTHNZD_PERMISSIONS: path.join(dir, 'missing.json') } }),
    /^AUTHNZD_PERMISSIONS: cannot use policy file .*missing\.json: file not found$/);
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, '{"roles": ["a"]}');
  await t.rejects(buildTestApp(t, { env: { AUTHNZD_PERMISSIONS: bad } }), /AUTHNZD_PERMISSIONS: .*bad\.json: items: missing/);
  const noSuperuser = JSON.parse(readFileSync(path.join(repoRoot, 'permissions.json'), 'utf8'));
  noSuperuser.roles = noSuperuser.roles.filter((r: string) => r !== 'superuser');
  delete noSuperuser.role_policy.superuser;
  const without = path.join(dir, 'no-superuser.json');
  writeFileSync(without, JSON.stringify(noSuperuser));
  await t.rejects(buildTestApp(t, { env: { AUTHNZD_PERMISSIONS: without } }),
    /^AUTHNZD_PERMISSIONS: cannot use policy file .*no-superuser\.json: roles: "superuser" is not declared; the service assigns it/);
});

t.test('an unusable policy at first start leaves an existing empty data dir empty', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'authnzd-policy-data-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const bad = path.join(dataDir, '..', `${path.basename(dataDir)}.json`);
  t.teardown(() => rmSync(bad, { force: true }));
  writeFileSync(bad, '{"roles": []}');
  await t.rejects(buildTestApp(t, { dataDir, env: { AUTHNZD_PERMISSIONS: bad } }), /^AUTHNZD_PERMISSIONS: cannot use policy file /);
  t.same(readdirSync(dataDir), [], 'no database file, salt or secret file');
});
