import type { Test } from 'tap';
import { BOOM, ev, HOUR, newKey, newRefresh, newSession, newToken, newUser, T0, type ContractTarget } from './fixtures.js';

/**
 * Transaction boundaries: every method that writes an audit row is run with an audit row the
 * database refuses (a trigger). The change must roll back with it: nothing of it is left.
 */
export function atomicityContract(t: Test, target: ContractTarget): void {
  t.test('a refused audit row rolls its change back, in every method', async (t) => {
    const { store, refuseAudit } = await target.fresh(t);
    const boom = ev(BOOM);
    const u = await store.users.create(newUser(1));
    const pending = await store.users.createWithToken(newUser(2, { isActive: false }), newToken('v'), ev('user_new'));
    await store.users.addToken(u.id, newToken('r', { purpose: 'reset_password' }));
    await store.sessions.create(newSession(1, u.id));
    await store.apikeys.create(newKey('sk', u.id, { kind: 'session', sessionId: 'ses_1' }), undefined, ev('apikey_issue'));
    await store.apikeys.create(newKey('k1', u.id, { familyId: 'f' }), newRefresh(1, 'k1', 'f', u.id), ev('apikey_issue'));
    await store.clients.create({ id: 'cli_a', name: 'alpha', secretHash: 'h-a', actions: [], createdAt: T0 });
    await store.keyring.add([{ kid: 'e1', use: 'enc', alg: 'dir', material: '{}', sealed: false, createdAt: T0 }], T0);
    const auditCount = (await store.audit.query({ limit: 1000 })).length;
    await refuseAudit();

    const snapshot = async () => ({
      user: await store.users.getById(u.id),
      pending: await store.users.getById(pending.id),
      users: await store.users.count(),
      verifyToken: await store.users.getLiveToken('hash-token-v', 'verify_email', T0),
      resetToken: await store.users.getLiveToken('hash-token-r', 'reset_password', T0),
      sessions: await store.sessions.listByUser(u.id, T0),
      keys: await store.apikeys.listByUser(u.id),
      refresh: await store.apikeys.getRefreshToken('hash-refresh-1'),
      clients: await store.clients.list(),
      keyring: await store.keyring.list(),
    });
    const before = await snapshot();

    const attempts: [string, () => Promise<unknown>][] = [
      ['audit.append', () => store.audit.append(boom, T0)],
      ['clients.create', () => store.clients.create({ id: 'cli_b', name: 'beta', secretHash: 'h-b', actions: [], createdAt: T0 }, boom)],
      ['clients.revokeByName', () => store.clients.revokeByName('alpha', T0 + 1, boom)],
      ['users.create', () => store.users.create(newUser(9), boom)],
      ['users.createWithToken', () => store.users.createWithToken(newUser(9), newToken('x'), boom)],
      ['users.verifyEmail', () => store.users.verifyEmail('hash-token-v', T0 + 1, boom)],
      ['users.resetPassword', () => store.users.resetPassword('hash-token-r', '$argon2id$new', T0 + 1, boom)],
      ['users.changePassword', () => store.users.changePassword(u.id, '$argon2id$new', null, T0 + 1, boom)],
      ['users.recordLoginFailure', () => store.users.recordLoginFailure(u.id, T0 + 1, { maxFailures: 1, lockMs: HOUR }, boom)],
      ['users.update', () => store.users.update(u.id, { fullName: 'Changed', isActive: false, role: 'staff' }, T0 + 1, [boom])],
      ['users.setAdminLock', () => store.users.setAdminLock(u.id, true, 'locked', T0 + 1, boom)],
      ['users.delete', () => store.users.delete(u.id, T0 + 1, boom)],
      ['sessions.create', () => store.sessions.create(newSession(9, u.id), boom)],
      ['sessions.delete', () => store.sessions.delete('ses_1', T0 + 1, boom)],
      ['sessions.deleteByUser', () => store.sessions.deleteByUser(u.id, null, T0 + 1, boom)],
      ['sessions.rotateForLogin', () => store.sessions.rotateForLogin('ses_1', newSession(10, u.id), { passwordHash: '$argon2id$new' }, boom)],
      ['apikeys.create', () => store.apikeys.create(newKey('k9', u.id, { familyId: 'g' }), newRefresh(9, 'k9', 'g', u.id), boom)],
      ['apikeys.revoke', () => store.apikeys.revoke('k1', T0 + 1, 'x', boom)],
      ['apikeys.revokeAllOfUser', () => store.apikeys.revokeAllOfUser(u.id, T0 + 1, 'x', boom)],
      ['apikeys.rotateRefresh', () => store.apikeys.rotateRefresh('hash-refresh-1', 'k1', newKey('k2', u.id, { familyId: 'f' }), newRefresh(2, 'k2', 'f', u.id), boom)],
      ['apikeys.revokeFamily', () => store.apikeys.revokeFamily('f', T0 + 1, boom)],
      ['keyring.add', () => store.keyring.add([{ kid: 'e2', use: 'enc', alg: 'dir', material: '{}', sealed: false, createdAt: T0 + 1 }], T0 + 1, { audit: boom })],
    ];
    for (const [name, attempt] of attempts) {
      await t.rejects(attempt(), `${name} fails with its audit row`);
      t.same(await snapshot(), before, `${name} left nothing behind`);
    }
    t.equal(await store.apikeys.getById('k9'), undefined);
    t.equal(await store.apikeys.getById('k2'), undefined);
    t.equal((await store.audit.query({ limit: 1000 })).length, auditCount, 'no audit row either');
  });
}
