import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { seedDatabase } from '../../../src/core/bootstrap.js';
import type { Store } from '../../../src/db/store.js';
import { audits, conflict, ev, newUser, T0, type ContractTarget } from './fixtures.js';

/** Dialect, ping, clients and the audit log. */
export function basicsContract(t: Test, target: ContractTarget): void {
  t.test('dialect and ping', async (t) => {
    const { store } = await target.fresh(t);
    t.equal(store.dialect, target.dialect);
    await t.resolves(store.ping());
  });

  t.test('clients', async (t) => {
    const { store } = await target.fresh(t);
    const c = await store.clients.create(
      { id: 'cli_a', name: 'alpha', secretHash: 'h-a', actions: ['verify_apikey', 'check_access'], createdAt: T0 },
      ev('client_create', { subject: 'alpha' }),
    );
    t.same(c, { id: 'cli_a', name: 'alpha', secretHash: 'h-a', actions: ['verify_apikey', 'check_access'], createdAt: T0, revokedAt: null });
    await store.clients.create({ id: 'cli_b', name: 'beta', secretHash: 'h-b', actions: ['*'], createdAt: T0 + 1 });
    t.same((await store.clients.findLiveBySecretHash('h-a'))?.id, 'cli_a');
    t.equal(await store.clients.findLiveBySecretHash('nope'), undefined);
    t.same((await store.clients.list()).map((x) => x.name), ['alpha', 'beta'], 'listed by creation time');
    t.equal(await store.clients.countLive(), 2);
    t.equal((await audits(store, 'client_create')).length, 1, 'audit only when given');

    // Unique constraints: the secret hash always, the name among live clients.
    await t.rejects(store.clients.create({ id: 'cli_c', name: 'gamma', secretHash: 'h-a', actions: [], createdAt: T0 }, ev('client_create')),
      conflict('clients_secret_hash_uq'));
    await t.rejects(store.clients.create({ id: 'cli_d', name: 'alpha', secretHash: 'h-d', actions: [], createdAt: T0 }, ev('client_create')),
      conflict('clients_name_live_uq'));
    t.equal((await audits(store, 'client_create')).length, 1, 'a refused create writes no audit row');

    t.equal(await store.clients.revokeByName('alpha', T0 + 5, ev('client_revoke')), true);
    t.equal(await store.clients.revokeByName('alpha', T0 + 6, ev('client_revoke')), false, 'already revoked');
    t.equal(await store.clients.revokeByName('nobody', T0 + 6, ev('client_revoke')), false);
    t.equal((await audits(store, 'client_revoke')).length, 1, 'one audit row per effective revocation');
    t.equal(await store.clients.findLiveBySecretHash('h-a'), undefined, 'a revoked client is not live');
    t.equal(await store.clients.countLive(), 1);
    t.equal((await store.clients.list()).find((x) => x.id === 'cli_a')?.revokedAt, T0 + 5);
    const again = await store.clients.create({ id: 'cli_e', name: 'alpha', secretHash: 'h-e', actions: [], createdAt: T0 + 7 });
    t.equal(again.name, 'alpha', 'a revoked name can be reused');
  });

  t.test('audit', async (t) => {
    const { store } = await target.fresh(t);
    await store.audit.append({ event: 'a', outcome: 'success', requestId: 'r1', client: 'admin', actorUserId: 1, targetUserId: 2, subject: 'k1', details: { x: [1, { y: true }] } }, T0);
    await store.audit.append(ev('b', { outcome: 'failure', targetUserId: 3 }), T0 + 1000);
    await store.audit.append(ev('a', { actorUserId: 5, subject: 'k2' }), T0 + 2000);
    const all = await store.audit.query({ limit: 10 });
    t.same(all.map((r) => r.event), ['a', 'b', 'a'], 'newest first');
    t.same(all[2], {
      id: all[2]!.id, at: T0, event: 'a', requestId: 'r1', client: 'admin', actorUserId: 1, targetUserId: 2,
      subject: 'k1', outcome: 'success', details: { x: [1, { y: true }] },
    }, 'every column round-trips');
    t.same(all[1]?.details, {}, 'details default to {}');
    t.equal(all[1]?.requestId, null);
    t.equal(all[1]?.outcome, 'failure');
    t.ok(all[0]!.id > all[1]!.id && all[1]!.id > all[2]!.id, 'ids increase');
    t.equal((await store.audit.query({ event: 'a', limit: 10 })).length, 2);
    t.equal((await store.audit.query({ actorUserId: 5, limit: 10 }))[0]?.subject, 'k2');
    t.equal((await store.audit.query({ targetUserId: 3, limit: 10 }))[0]?.event, 'b');
    t.equal((await store.audit.query({ subject: 'k1', limit: 10 }))[0]?.at, T0);
    t.same((await store.audit.query({ since: T0 + 1000, limit: 10 })).map((r) => r.at), [T0 + 2000, T0 + 1000], 'since is inclusive');
    t.same((await store.audit.query({ until: T0 + 1000, limit: 10 })).map((r) => r.at), [T0 + 1000, T0], 'until is inclusive');
    t.same((await store.audit.query({ beforeId: all[0]!.id, limit: 10 })).map((r) => r.id), [all[1]!.id, all[2]!.id]);
    t.equal((await store.audit.query({ limit: 1 })).length, 1);
    t.same(await store.audit.query({ event: 'a', targetUserId: 3, limit: 10 }), [], 'filters combine');
  });

  t.test('two instances: clients and users', async (t) => {
    const { store, another } = await target.fresh(t);
    const b = await another();
    const u = await store.users.create(newUser(1));
    t.same(await b.users.getById(u.id), u, 'a write on one is read on the other');
    await t.rejects(b.users.create(newUser(2, { email: 'user1@example.test' })), conflict('users_email_uq'));
    const racing = await Promise.allSettled([
      store.users.create(newUser(3, { email: 'same@example.test' }), ev('user_create')),
      b.users.create(newUser(4, { email: 'same@example.test' }), ev('user_create')),
    ]);
    t.same(racing.map((r) => r.status).sort(), ['fulfilled', 'rejected'], 'two racing sign-ups with one email: one wins');
    t.match(racing.find((r) => r.status === 'rejected'), { reason: conflict('users_email_uq') });
    t.equal((await audits(store, 'user_create')).length, 1, 'one audit row');

    await store.clients.create({ id: 'cli_a', name: 'alpha', secretHash: 'h-a', actions: [], createdAt: T0 });
    const results = await Promise.all([
      store.clients.revokeByName('alpha', T0 + 1, ev('client_revoke')),
      b.clients.revokeByName('alpha', T0 + 2, ev('client_revoke')),
    ]);
    t.same(results.sort(), [false, true], 'two racing revocations: exactly one takes effect, neither fails');
    t.equal((await audits(store, 'client_revoke')).length, 1, 'one audit row');
  });
}

/** First start of two instances at once on an empty database. */
export function startupContract(t: Test, target: ContractTarget): void {
  t.test('two instances: seeding an empty database at once', async (t) => {
    const { store, another } = await target.fresh(t);
    const b = await another();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'authnzd-seed-'));
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    const config = { dataDir, adminEmail: 'root@example.test', adminPassword: 'Correct-Horse-Battery-Staple-42', bootstrapClientSecret: 'x'.repeat(32) };
    const order: string[] = [];
    const section = (s: Store, name: string) => s.withStartupLock(async () => {
      order.push(`${name}+`);
      await new Promise((r) => setTimeout(r, 50));
      order.push(`${name}-`);
      return name;
    });
    t.same(await Promise.all([section(store, 'a'), section(b, 'b')]), ['a', 'b'], 'the lock answers what fn answers');
    t.ok(order.join() === 'a+,a-,b+,b-' || order.join() === 'b+,b-,a+,a-', `critical sections do not overlap (${order.join()})`);
    await t.rejects(store.withStartupLock(async () => { throw new Error('boom'); }), /boom/);
    t.equal(await b.withStartupLock(async () => 'free'), 'free', 'a failure releases the lock');

    await Promise.all([seedDatabase(store, config, T0), seedDatabase(b, config, T0)]);
    t.same((await store.users.list(0, 10)).map((u) => [u.id, u.role]), [[1, 'superuser'], [2, 'anonymous']], 'seeded once, ids 1 and 2');
    t.same((await b.clients.list()).map((c) => c.name), ['admin'], 'one admin client');
  });
}
