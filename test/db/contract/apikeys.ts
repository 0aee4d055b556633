import type { Test } from 'tap';
import { audits, BOOM, ev, HOUR, newKey, newRefresh, newSession, newUser, T0, type ContractTarget } from './fixtures.js';

/** API keys and refresh tokens, and the key revocations other stores perform. */
export function apikeysContract(t: Test, target: ContractTarget): void {
  t.test('apikeys: concurrent creates are independent (SQLite commits them as a group)', async (t) => {
    const { store, refuseAudit } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    await store.apikeys.create(newKey('k0', u.id), undefined, ev('apikey_issue'));
    await refuseAudit();
    const results = await Promise.allSettled([
      store.apikeys.create(newKey('g1', u.id), undefined, ev('apikey_issue')),
      store.apikeys.create(newKey('k0', u.id), undefined, ev('apikey_issue')), // duplicate id
      store.apikeys.create(newKey('g2', u.id, { familyId: 'fg' }), newRefresh(7, 'g2', 'fg', u.id), ev('apikey_issue')),
      store.apikeys.create(newKey('g3', u.id), undefined, ev(BOOM)), // audit row refused
      store.apikeys.create(newKey('g4', u.id), undefined, ev('apikey_issue')),
    ]);
    t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    for (const id of ['g1', 'g2', 'g4']) t.ok(await store.apikeys.getById(id), `${id} is stored`);
    t.equal(await store.apikeys.getById('g3'), undefined, 'the key whose audit row failed is not stored');
    t.ok(await store.apikeys.getRefreshToken('hash-refresh-7'), 'a refresh token commits with its key');
    t.equal((await audits(store, 'apikey_issue')).length, 4, 'one audit row per stored key (k0, g1, g2, g4)');
    t.equal((await audits(store, BOOM)).length, 0);
  });

  t.test('apikeys: create, read, revoke', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    await store.apikeys.create(newKey('k1', u.id, { issuedAt: T0 + 2 }), undefined, ev('apikey_issue'));
    await store.apikeys.create(newKey('k2', u.id, { familyId: 'f1', subject: 'one', scopes: null, bindIp: null, bindUserAgent: null }),
      newRefresh(1, 'k2', 'f1', u.id), ev('apikey_issue'));
    t.same(await store.apikeys.getById('k1'), { ...newKey('k1', u.id, { issuedAt: T0 + 2 }), revokedAt: null, revokedReason: null, lastUsedAt: null, useCount: 0 },
      'every column round-trips');
    t.match(await store.apikeys.getById('k2'), { subject: 'one', scopes: null, bindIp: null, bindUserAgent: null, familyId: 'f1' });
    t.equal(await store.apikeys.getById('nope'), undefined);
    t.same((await store.apikeys.listByUser(u.id)).map((k) => k.id), ['k2', 'k1'], 'by issue time');
    t.same(await store.apikeys.listByUser(99), []);
    t.same(await store.apikeys.getRefreshToken('hash-refresh-1'), { ...newRefresh(1, 'k2', 'f1', u.id), usedAt: null });
    t.equal(await store.apikeys.getRefreshToken('nope'), undefined);
    t.equal((await audits(store, 'apikey_issue')).length, 2);

    await t.rejects(store.apikeys.create(newKey('k1', u.id), undefined, ev('apikey_issue')), 'the key id is unique');
    await t.rejects(store.apikeys.create(newKey('k3', u.id), newRefresh(1, 'k3', 'f1', u.id), ev('apikey_issue')), 'the refresh token hash is unique');
    t.equal(await store.apikeys.getById('k3'), undefined, 'a refused refresh token takes its key with it');
    t.equal((await audits(store, 'apikey_issue')).length, 2, 'and writes no audit row');

    t.same(await store.apikeys.getForVerify('k1'), {
      tokenHash: 'hash-k1', revokedAt: null, revokedReason: null, role: 'authenticated', userRole: 'authenticated', userActive: true, userLocked: false,
    });
    t.equal(await store.apikeys.getForVerify('nope'), undefined);
    await store.apikeys.create(newKey('orphan', 999), undefined, ev('apikey_issue'));
    t.match(await store.apikeys.getForVerify('orphan'), { userRole: null, userActive: null, userLocked: null }, 'an owner that is gone reads as nulls');

    t.equal(await store.apikeys.revoke('k1', T0 + 5, 'user_request', ev('apikey_revoke')), true);
    t.equal(await store.apikeys.revoke('k1', T0 + 6, 'again', ev('apikey_revoke')), false, 'already revoked');
    t.equal(await store.apikeys.revoke('nope', T0 + 6, 'x', ev('apikey_revoke')), false);
    t.match(await store.apikeys.getById('k1'), { revokedAt: T0 + 5, revokedReason: 'user_request' });
    t.equal((await store.apikeys.getForVerify('k1'))?.revokedAt, T0 + 5);
    t.equal((await store.apikeys.getForVerify('k1'))?.revokedReason, 'user_request', 'the verify read carries why the key was revoked');
    t.equal((await audits(store, 'apikey_revoke')).length, 1, 'one audit row per effective revocation');

    await store.apikeys.create(newKey('k4', u.id), undefined, ev('apikey_issue'));
    t.equal(await store.apikeys.revokeAllOfUser(u.id, T0 + 7, 'revoke_all', ev('apikey_revoke_all')), 2, 'k2 and k4 (k1 was revoked)');
    t.equal(await store.apikeys.revokeAllOfUser(u.id, T0 + 8, 'revoke_all', ev('apikey_revoke_all')), 0);
    t.match((await audits(store, 'apikey_revoke_all')).map((a) => a.details), [{ revoked: 2 }, { revoked: 0 }]);
    t.match(await store.apikeys.getById('k1'), { revokedAt: T0 + 5, revokedReason: 'user_request' }, 'an earlier revocation is kept');
  });

  t.test('apikeys: usage is added up', async (t) => {
    const { store } = await target.fresh(t);
    await store.apikeys.create(newKey('k1', 1), undefined, ev('apikey_issue'));
    await store.apikeys.create(newKey('k2', 1), undefined, ev('apikey_issue'));
    await store.apikeys.recordUsage([]);
    await store.apikeys.recordUsage([{ id: 'k2', count: 3, lastUsedAt: T0 + 10 }, { id: 'k1', count: 1, lastUsedAt: T0 + 5 }, { id: 'gone', count: 1, lastUsedAt: T0 }]);
    await store.apikeys.recordUsage([{ id: 'k2', count: 2, lastUsedAt: T0 + 7 }]);
    t.match(await store.apikeys.getById('k1'), { useCount: 1, lastUsedAt: T0 + 5 });
    t.match(await store.apikeys.getById('k2'), { useCount: 5, lastUsedAt: T0 + 10 }, 'an older flush never moves last use back');

    // A flush larger than one statement's worth of keys.
    const ids = Array.from({ length: 520 }, (_, i) => `bulk${String(i).padStart(4, '0')}`);
    for (const id of ids) await store.apikeys.create(newKey(id, 2), undefined, ev('apikey_issue'));
    await store.apikeys.recordUsage(ids.map((id, i) => ({ id, count: i + 1, lastUsedAt: T0 + i })));
    const listed = await store.apikeys.listByUser(2);
    t.equal(listed.length, 520);
    t.ok(listed.every((k) => k.useCount === Number(k.id.slice(4)) + 1 && k.lastUsedAt === T0 + Number(k.id.slice(4))), 'every key of a flush bigger than one statement (500 on PostgreSQL) counted');
  });

  t.test('apikeys: refresh rotation and token reuse', async (t) => {
    const { store } = await target.fresh(t);
    await store.apikeys.create(newKey('k1', 1, { familyId: 'f' }), newRefresh(1, 'k1', 'f', 1), ev('apikey_issue'));
    const rot = (n: number, at: number, over = {}) => store.apikeys.rotateRefresh(`hash-refresh-${n}`, `k${n}`,
      newKey(`k${n + 1}`, 1, { familyId: 'f', issuedAt: at, ...over }), newRefresh(n + 1, `k${n + 1}`, 'f', 1, { createdAt: at }), ev('apikey_refresh'));
    t.equal(await rot(1, T0 + 10), 'ok');
    t.match(await store.apikeys.getById('k1'), { revokedAt: T0 + 10, revokedReason: 'refreshed' });
    t.equal((await store.apikeys.getRefreshToken('hash-refresh-1'))?.usedAt, T0 + 10);
    t.match(await store.apikeys.getById('k2'), { revokedAt: null, familyId: 'f' });
    t.equal((await store.apikeys.getRefreshToken('hash-refresh-2'))?.usedAt, null);
    t.equal(await store.apikeys.rotateRefresh('hash-refresh-1', 'k1', newKey('k9', 1), newRefresh(9, 'k9', 'f', 1), ev('apikey_refresh')), 'spent');
    t.equal(await store.apikeys.getById('k9'), undefined, 'a spent token changes nothing');
    t.equal((await audits(store, 'apikey_refresh')).length, 1);

    await t.rejects(rot(2, T0 + 20, { id: 'k1' }), 'a successor that cannot be stored');
    t.equal((await store.apikeys.getRefreshToken('hash-refresh-2'))?.usedAt, null, 'rolls the spend back');
    t.equal((await store.apikeys.getById('k2'))?.revokedAt, null, 'and the revocation');
    t.equal((await audits(store, 'apikey_refresh')).length, 1, 'and the audit row');

    t.equal(await rot(2, T0 + 30), 'ok');
    await store.apikeys.create(newKey('other', 1, { familyId: 'g' }), newRefresh('g', 'other', 'g', 1), ev('apikey_issue'));
    t.equal(await store.apikeys.revokeFamily('f', T0 + 40, ev('apikey_refresh_reuse')), 1, 'only k3 was still live');
    t.match(await store.apikeys.getById('k3'), { revokedAt: T0 + 40, revokedReason: 'refresh_token_reuse' });
    t.equal((await store.apikeys.getRefreshToken('hash-refresh-3'))?.usedAt, T0 + 40, 'the live refresh token is spent');
    t.equal((await store.apikeys.getRefreshToken('hash-refresh-1'))?.usedAt, T0 + 10, 'spent tokens keep their time');
    t.equal((await store.apikeys.getById('other'))?.revokedAt, null, 'other families are untouched');
    t.match((await audits(store, 'apikey_refresh_reuse')).map((a) => a.details), [{ revoked: 1 }]);

    await store.apikeys.revoke('other', T0 + 50, 'user_request', ev('apikey_revoke'));
    t.equal(await store.apikeys.rotateRefresh('hash-refresh-g', 'other', newKey('other2', 1, { familyId: 'g' }), newRefresh('g2', 'other2', 'g', 1), ev('apikey_refresh')),
      'refused', 'a key revoked meanwhile is not refreshed');
    t.equal(await store.apikeys.getById('other2'), undefined, 'no successor');
    t.equal((await store.apikeys.getRefreshToken('hash-refresh-g'))?.usedAt, null, 'and the token is not spent');
  });

  t.test('apikeys: revoked by session and user changes', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    const reason = async (id: string) => (await store.apikeys.getById(id))?.revokedReason ?? null;
    const sessionKey = async (sid: string, kid: string) => {
      await store.sessions.create(newSession(sid, u.id));
      await store.apikeys.create(newKey(kid, u.id, { kind: 'session', sessionId: `ses_${sid}` }), undefined, ev('apikey_issue'));
    };
    await sessionKey('1', 's1');
    await store.apikeys.create(newKey('free', u.id), undefined, ev('apikey_issue'));
    await store.sessions.delete('ses_1', T0 + 1, ev('session_delete'));
    t.equal(await reason('s1'), 'session_deleted', 'deleting a session revokes its keys');
    t.equal(await store.apikeys.create(newKey('late', u.id, { kind: 'session', sessionId: 'ses_1' }), undefined, ev('apikey_issue')), false,
      'no key is stored for a session that no longer exists');
    t.equal(await store.apikeys.getById('late'), undefined);
    t.equal(await reason('free'), null, 'but no other key');

    await sessionKey('2', 's2');
    await store.sessions.purgeExpired(T0 + HOUR);
    t.equal(await reason('s2'), 'session_expired');
    await sessionKey('3', 's3');
    await store.sessions.deleteByUser(u.id, null, T0 + 2);
    t.equal(await reason('s3'), 'session_deleted');
    await sessionKey('4', 's4');
    await store.sessions.rotateForLogin('ses_4', newSession('5', u.id), {}, ev('login'));
    t.equal(await reason('s4'), 'session_deleted', 'login rotation');

    await store.apikeys.create(newKey('s5', u.id, { kind: 'session', sessionId: 'ses_5' }), undefined, ev('apikey_issue'));
    await store.users.changePassword(u.id, '$argon2id$c', 'ses_5', T0 + 3, ev('password_change'));
    t.equal(await reason('free'), 'password_changed', 'a password change revokes every key');
    t.equal(await reason('s5'), 'password_changed', 'including the kept session\'s');

    const again = async (kid: string) => store.apikeys.create(newKey(kid, u.id), undefined, ev('apikey_issue'));
    await again('a1');
    await store.users.setAdminLock(u.id, true, 'locked', T0 + 4, ev('user_lock'));
    t.equal(await reason('a1'), 'user_locked');
    t.match(await store.apikeys.getForVerify('a1'), { userRole: 'locked', userLocked: true });
    t.equal(await again('locked'), false, 'no new standalone key for an admin-locked owner');
    await store.users.setAdminLock(u.id, false, 'locked', T0 + 5, ev('user_unlock'));
    await again('a2');
    await store.users.update(u.id, { isActive: false }, T0 + 6, [ev('user_edit')]);
    t.equal(await reason('a2'), null, 'deactivation leaves standalone keys alone: verify answers user_inactive (SPEC §4.2)');
    t.equal(await again('a3'), false, 'no new standalone key for an inactive owner');
    t.equal(await store.apikeys.getById('a3'), undefined);
    await store.users.update(u.id, { isActive: true }, T0 + 6, [ev('user_edit')]);
    t.equal(await again('a3'), true);
    await store.users.addToken(u.id, { tokenHash: 'r', purpose: 'reset_password', createdAt: T0, expiresAt: T0 + HOUR });
    await store.users.resetPassword('r', '$argon2id$r', T0 + 7, ev('reset'));
    t.equal(await reason('a3'), 'password_reset');
    await again('a4');
    await store.users.delete(u.id, T0 + 8, ev('user_delete'));
    t.equal(await reason('a4'), 'user_deleted');
  });

  t.test('two instances: racing refreshes and revocations', async (t) => {
    const { store, another } = await target.fresh(t);
    const b = await another();
    await store.apikeys.create(newKey('k1', 1, { familyId: 'f' }), newRefresh(1, 'k1', 'f', 1), ev('apikey_issue'));
    const results = await Promise.all([store, b].map((s, i) => s.apikeys.rotateRefresh('hash-refresh-1', 'k1',
      newKey(`next${i}`, 1, { familyId: 'f', issuedAt: T0 + 1 }), newRefresh(`next${i}`, `next${i}`, 'f', 1), ev('apikey_refresh'))));
    t.same([...results].sort(), ['ok', 'spent'], 'the same refresh token at the same moment: exactly one wins');
    const winner = results.indexOf('ok');
    t.ok(await store.apikeys.getById(`next${winner}`), 'the winner\'s key exists');
    t.equal(await store.apikeys.getById(`next${1 - winner}`), undefined, 'the loser\'s does not');
    t.equal((await audits(store, 'apikey_refresh')).length, 1, 'one audit row');

    const revoked = await Promise.all([
      store.apikeys.revoke(`next${winner}`, T0 + 2, 'a', ev('apikey_revoke')),
      b.apikeys.revoke(`next${winner}`, T0 + 2, 'b', ev('apikey_revoke')),
    ]);
    t.same([...revoked].sort(), [false, true], 'two revocations of one key: no error, one takes effect');
    t.equal((await audits(b, 'apikey_revoke')).length, 1, 'one audit row');

    await store.apikeys.create(newKey('u1', 7), undefined, ev('apikey_issue'));
    await store.apikeys.create(newKey('u2', 7), undefined, ev('apikey_issue'));
    const all = await Promise.all([store, b].map((s) => s.apikeys.revokeAllOfUser(7, T0 + 3, 'revoke_all', ev('apikey_revoke_all'))));
    t.same([...all].sort(), [0, 2], 'revoke-all twice at once: every key revoked once');

    await Promise.all([store, b].map((s) => s.apikeys.recordUsage([{ id: 'k1', count: 2, lastUsedAt: T0 + 4 }, { id: 'u1', count: 1, lastUsedAt: T0 + 4 }])));
    t.match(await store.apikeys.getById('k1'), { useCount: 4 }, 'usage flushed by two instances adds up');
  });
}
