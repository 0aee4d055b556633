import type { Test } from 'tap';
import type { Store } from '../../src/db/store.js';
import type { NewUser } from '../../src/db/store/users.js';
import type { NewSession } from '../../src/db/store/sessions.js';
import type { AuditEvent } from '../../src/db/types.js';

/**
 * The store contract: every method of every sub-store, every transaction boundary (the audit
 * row commits with its change, or neither does) and every unique constraint, run unchanged
 * against each dialect (test/db/sqlite.test.ts, test/db/postgres.test.ts).
 */
export interface ContractTarget {
  dialect: Store['dialect'];
  /**
   * A store on a fresh, empty, migrated database, and a way to open another store on the same
   * database (a second instance, with its own connections). Both are closed by the target.
   */
  fresh(t: Test): Promise<{ store: Store; another(): Promise<Store> }>;
}

/** A fixed instant with milliseconds, so a dialect that loses precision fails. */
export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0) + 123;

export const ev = (event: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({ event, outcome: 'success', ...extra });

export function newUser(n: number, over: Partial<NewUser> = {}): NewUser {
  return {
    systemId: `sys-${n}`, email: `user${n}@example.test`, fullName: `User ${n}`, passwordHash: '$argon2id$x',
    role: 'authenticated', isActive: true, emailVerified: false, extra: { n, nested: { a: [1, 'b'] } }, createdAt: T0, ...over,
  };
}

export function newSession(n: number, userId: number, over: Partial<NewSession> = {}): NewSession {
  return {
    id: `ses_${n}`, tokenHash: `hash-session-${n}`, userId, ipAddress: '192.0.2.1', userAgent: 'ua/1',
    extra: { k: n }, createdAt: T0, expiresAt: T0 + 3600_000, ...over,
  };
}

const conflict = (constraint: string) => ({ name: 'ConflictError', constraint });

export function storeContract(t: Test, target: ContractTarget): void {
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
    t.equal((await store.audit.query({ event: 'client_create', limit: 10 })).length, 1, 'audit only when given');

    // Unique constraints: the secret hash always, the name among live clients.
    await t.rejects(store.clients.create({ id: 'cli_c', name: 'gamma', secretHash: 'h-a', actions: [], createdAt: T0 }, ev('client_create')),
      conflict('clients_secret_hash_uq'));
    await t.rejects(store.clients.create({ id: 'cli_d', name: 'alpha', secretHash: 'h-d', actions: [], createdAt: T0 }, ev('client_create')),
      conflict('clients_name_live_uq'));
    t.equal((await store.audit.query({ event: 'client_create', limit: 10 })).length, 1, 'a refused create writes no audit row');

    t.equal(await store.clients.revokeByName('alpha', T0 + 5, ev('client_revoke')), true);
    t.equal(await store.clients.revokeByName('alpha', T0 + 6, ev('client_revoke')), false, 'already revoked');
    t.equal(await store.clients.revokeByName('nobody', T0 + 6, ev('client_revoke')), false);
    t.equal((await store.audit.query({ event: 'client_revoke', limit: 10 })).length, 1, 'one audit row per effective revocation');
    t.equal(await store.clients.findLiveBySecretHash('h-a'), undefined, 'a revoked client is not live');
    t.equal(await store.clients.countLive(), 1);
    t.equal((await store.clients.list()).find((x) => x.id === 'cli_a')?.revokedAt, T0 + 5);
    const again = await store.clients.create({ id: 'cli_e', name: 'alpha', secretHash: 'h-e', actions: [], createdAt: T0 + 7 });
    t.equal(again.name, 'alpha', 'a revoked name can be reused');
  });

  t.test('users', async (t) => {
    const { store } = await target.fresh(t);
    t.equal(await store.users.count(), 0);
    const u1 = await store.users.create(newUser(1), ev('user_create'));
    const u2 = await store.users.create(newUser(2, { fullName: null, passwordHash: null, isActive: false, emailVerified: true, extra: {} }));
    t.equal(u1.id, 1, 'ids start at 1');
    t.equal(u2.id, 2, 'and count up');
    t.same(u1, {
      id: 1, systemId: 'sys-1', email: 'user1@example.test', fullName: 'User 1', passwordHash: '$argon2id$x',
      role: 'authenticated', isActive: true, emailVerified: false, extra: { n: 1, nested: { a: [1, 'b'] } },
      adminLocked: false, roleBeforeLock: null, failedLogins: 0, lastFailedLoginAt: null, tempLockedUntil: null,
      createdAt: T0, updatedAt: T0, lastLoginAt: null,
    }, 'every column round-trips with its default');
    t.same([u2.fullName, u2.passwordHash, u2.isActive, u2.emailVerified, u2.extra], [null, null, false, true, {}]);
    t.same(await store.users.getById(1), u1);
    t.same(await store.users.getByEmail('user2@example.test'), u2);
    t.same(await store.users.getBySystemId('sys-2'), u2);
    t.equal(await store.users.getById(99), undefined);
    t.equal(await store.users.getByEmail('nobody@example.test'), undefined);
    t.equal(await store.users.getBySystemId('nope'), undefined);
    t.equal(await store.users.count(), 2);
    const [audit] = await store.audit.query({ event: 'user_create', limit: 10 });
    t.equal(audit?.targetUserId, 1, 'the audit row names the new user');

    await t.rejects(store.users.create(newUser(3, { email: 'user1@example.test' }), ev('user_create')), conflict('users_email_uq'));
    await t.rejects(store.users.create(newUser(4, { systemId: 'sys-1' }), ev('user_create')), conflict('users_system_id_uq'));
    t.equal(await store.users.count(), 2, 'refused creates add no user');
    t.equal((await store.audit.query({ event: 'user_create', limit: 10 })).length, 1, 'and no audit row');
  });

  t.test('sessions', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    const s = await store.sessions.create(newSession(1, u.id), ev('session_new', { targetUserId: u.id }));
    t.same(s, { ...newSession(1, u.id) }, 'every column round-trips');
    t.same(await store.sessions.getByTokenHash('hash-session-1'), s);
    t.equal(await store.sessions.getByTokenHash('nope'), undefined);
    const expired = await store.sessions.create(newSession(2, u.id, { expiresAt: T0 - 1 }));
    t.equal((await store.sessions.getByTokenHash(expired.tokenHash))?.id, 'ses_2', 'expired sessions are still returned');

    await t.rejects(store.sessions.create(newSession(3, u.id, { tokenHash: 'hash-session-1' }), ev('session_new')),
      'the token hash is unique');
    await t.rejects(store.sessions.create(newSession(1, u.id, { tokenHash: 'other' }), ev('session_new')), 'the id is unique');
    await t.rejects(store.sessions.create(newSession(4, 999), ev('session_new')), 'the user must exist');
    t.equal((await store.audit.query({ event: 'session_new', limit: 10 })).length, 1, 'refused creates write no audit row');

    t.equal(await store.sessions.delete('ses_1', T0 + 10, ev('session_delete')), true);
    t.equal(await store.sessions.delete('ses_1', T0 + 11, ev('session_delete')), false, 'second delete');
    t.equal(await store.sessions.delete('ses_none', T0 + 11, ev('session_delete')), false);
    t.equal(await store.sessions.getByTokenHash('hash-session-1'), undefined);
    t.equal((await store.audit.query({ event: 'session_delete', limit: 10 })).length, 1, 'one audit row per effective delete');
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

  t.test('two instances share one database', async (t) => {
    const { store, another } = await target.fresh(t);
    const b = await another();
    const u = await store.users.create(newUser(1));
    t.same(await b.users.getById(u.id), u, 'a write on one is read on the other');
    await t.rejects(b.users.create(newUser(2, { email: 'user1@example.test' })), conflict('users_email_uq'));
    await store.clients.create({ id: 'cli_a', name: 'alpha', secretHash: 'h-a', actions: [], createdAt: T0 });
    const results = await Promise.all([
      store.clients.revokeByName('alpha', T0 + 1, ev('client_revoke')),
      b.clients.revokeByName('alpha', T0 + 2, ev('client_revoke')),
    ]);
    t.same(results.sort(), [false, true], 'two racing revocations: exactly one takes effect, neither fails');
    t.equal((await store.audit.query({ event: 'client_revoke', limit: 10 })).length, 1, 'one audit row');
    await store.sessions.create(newSession(1, u.id));
    const deleted = await Promise.all([
      store.sessions.delete('ses_1', T0 + 3, ev('session_delete')),
      b.sessions.delete('ses_1', T0 + 3, ev('session_delete')),
    ]);
    t.same(deleted.sort(), [false, true], 'two racing deletes: exactly one deletes');
    t.equal((await b.audit.query({ event: 'session_delete', limit: 10 })).length, 1, 'one audit row');
  });
}
