import type { Test } from 'tap';
import { audits, ev, HOUR, newSession, newUser, T0, type ContractTarget } from './fixtures.js';

/** The session store: create, read, list, delete (one, by user, expired) and login rotation. */
export function sessionsContract(t: Test, target: ContractTarget): void {
  t.test('sessions: the session-with-user read maps every column as the separate reads do', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1, { emailVerified: true, fullName: null }));
    await store.users.setAdminLock(u.id, true, 'locked', T0 + 1, ev('user_lock'));
    await store.sessions.create(newSession(1, u.id, { extra: { a: [1, { b: null }], s: 'ü' } }));
    const joined = await store.sessions.getWithUserByTokenHash('hash-session-1');
    t.same(joined, { session: await store.sessions.getByTokenHash('hash-session-1'), user: await store.users.getById(u.id) });
    t.match(joined?.user, { adminLocked: true, emailVerified: true, isActive: true, fullName: null, extra: { n: 1 } });
    t.equal(await store.sessions.getWithUserByTokenHash('nope'), undefined);
  });

  t.test('sessions: create, read, delete', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    const s = await store.sessions.create(newSession(1, u.id), ev('session_new', { targetUserId: u.id }));
    t.same(s, newSession(1, u.id), 'every column round-trips');
    t.same(await store.sessions.getByTokenHash('hash-session-1'), s);
    t.equal(await store.sessions.getByTokenHash('nope'), undefined);
    const expired = await store.sessions.create(newSession(2, u.id, { expiresAt: T0 - 1 }));
    t.equal((await store.sessions.getByTokenHash(expired.tokenHash))?.id, 'ses_2', 'expired sessions are still returned');

    await t.rejects(store.sessions.create(newSession(3, u.id, { tokenHash: 'hash-session-1' }), ev('session_new')), 'the token hash is unique');
    await t.rejects(store.sessions.create(newSession(1, u.id, { tokenHash: 'other' }), ev('session_new')), 'the id is unique');
    await t.rejects(store.sessions.create(newSession(4, 999), ev('session_new')), 'the user must exist');
    t.equal((await audits(store, 'session_new')).length, 1, 'refused creates write no audit row');

    t.same(await store.sessions.mergeExtra('ses_1', { theme: 'dark', n: [1] }), { ...s, extra: { ...s.extra, theme: 'dark', n: [1] } });
    t.same((await store.sessions.mergeExtra('ses_1', { theme: null, lang: 'fi' }))?.extra, { ...s.extra, n: [1], lang: 'fi' }, 'null deletes a key, others merge');
    t.equal(await store.sessions.mergeExtra('ses_none', {}), undefined);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.sessions.mergeExtra('ses_1', { [`race${i}`]: i })));
    t.equal(Object.keys((await store.sessions.mergeExtra('ses_1', {}))!.extra).filter((k) => k.startsWith('race')).length, 20, 'racing merges keep every key');

    t.equal(await store.sessions.delete('ses_1', T0 + 10, ev('session_delete')), true);
    t.equal(await store.sessions.delete('ses_1', T0 + 11, ev('session_delete')), false, 'second delete');
    t.equal(await store.sessions.delete('ses_none', T0 + 11, ev('session_delete')), false);
    t.equal(await store.sessions.getByTokenHash('hash-session-1'), undefined);
    t.equal((await audits(store, 'session_delete')).length, 1, 'one audit row per effective delete');
  });

  t.test('sessions: an expired session is removed but not counted as deleted', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    await store.sessions.create(newSession('live', u.id, { expiresAt: T0 + 100 }));
    await store.sessions.create(newSession('gone', u.id, { expiresAt: T0 + 5 }));
    await store.sessions.create(newSession('gone2', u.id, { expiresAt: T0 + 5 }));
    t.equal(await store.sessions.delete('ses_gone2', T0 + 6, ev('session_delete')), false, 'an expired session was not live');
    t.equal(await store.sessions.getByTokenHash('hash-session-gone2'), undefined, 'its row is removed all the same');
    t.equal((await audits(store, 'session_delete')).length, 0, 'no audit row: nothing live ended');
    t.equal(await store.sessions.deleteByUser(u.id, null, T0 + 6, ev('logout_all')), 1, 'only the live session counts');
    t.match(await audits(store, 'logout_all'), [{ details: { deleted: 1 } }]);
    t.equal(await store.sessions.getByTokenHash('hash-session-gone'), undefined, 'the expired one is removed too');
    t.equal(await store.sessions.purgeExpired(T0 + 6), 0, 'nothing left to purge');
  });

  t.test('sessions: by user, expiry purge, login rotation', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    const other = await store.users.create(newUser(2));
    await store.sessions.create(newSession('b', u.id, { createdAt: T0 + 2 }));
    await store.sessions.create(newSession('a', u.id, { createdAt: T0 + 2 }));
    await store.sessions.create(newSession('c', u.id, { createdAt: T0 + 1 }));
    await store.sessions.create(newSession('old', u.id, { expiresAt: T0 + 5 }));
    await store.sessions.create(newSession('x', other.id));
    t.same((await store.sessions.listByUser(u.id, T0 + 5)).map((s) => s.id), ['ses_c', 'ses_a', 'ses_b'],
      'unexpired only, oldest first, then by id');

    t.equal(await store.sessions.purgeExpired(T0 + 5), 1, 'expired at expiresAt');
    t.equal(await store.sessions.purgeExpired(T0 + 5), 0);

    t.equal(await store.sessions.deleteByUser(u.id, 'ses_a', T0 + 6, ev('logout_all')), 2, 'all but the kept one');
    t.same((await store.sessions.listByUser(u.id, T0)).map((s) => s.id), ['ses_a']);
    t.match(await audits(store, 'logout_all'), [{ details: { deleted: 2 } }]);
    t.equal(await store.sessions.deleteByUser(u.id, null, T0 + 7), 1, 'without an audit event');
    t.equal((await audits(store, 'logout_all')).length, 1);
    t.equal((await store.sessions.listByUser(other.id, T0)).length, 1, 'other users keep theirs');

    await store.users.recordLoginFailure(u.id, T0, { maxFailures: 1, lockMs: HOUR }, ev('login_failed'));
    await store.sessions.create(newSession('anon', u.id));
    const fresh = await store.sessions.rotateForLogin('ses_anon', newSession('new', u.id, { createdAt: T0 + 8 }), { passwordHash: '$argon2id$rehash' }, ev('login'));
    t.same(fresh, newSession('new', u.id, { createdAt: T0 + 8 }));
    t.equal(await store.sessions.getByTokenHash('hash-session-anon'), undefined, 'the presented session is replaced');
    t.match(await store.users.getById(u.id), { failedLogins: 0, tempLockedUntil: T0 + HOUR, lastLoginAt: T0 + 8, updatedAt: T0 + 8, passwordHash: '$argon2id$rehash' },
      'the count is reset; a temporary lock still in force stays (a login from a known place does not lift it for others)');
    t.equal(await store.sessions.rotateForLogin('ses_anon', newSession('again', u.id, { createdAt: T0 + 9 }), {}, ev('login')), undefined,
      'a presented session is spent by one login only');
    t.equal(await store.sessions.getByTokenHash('hash-session-again'), undefined, 'the refused rotation creates nothing');
    await store.sessions.create(newSession('anon2', u.id));
    await store.sessions.rotateForLogin('ses_anon2', newSession('new2', u.id, { createdAt: T0 + 9 }), {}, ev('login'));
    t.match(await store.users.getById(u.id), { lastLoginAt: T0 + 9, passwordHash: '$argon2id$rehash' }, 'no rehash: hash kept');
    t.equal((await audits(store, 'login')).length, 2);

    await t.rejects(store.sessions.rotateForLogin('ses_new2', newSession('new3', u.id, { tokenHash: 'hash-session-new', createdAt: T0 + 10 }), {}, ev('login')),
      'a refused new session rolls the rotation back');
    t.ok(await store.sessions.getByTokenHash('hash-session-new2'), 'the presented session survives');
    t.equal((await store.users.getById(u.id))?.lastLoginAt, T0 + 9, 'nor is the login recorded');
    t.equal((await audits(store, 'login')).length, 2, 'nor audited');

    await store.sessions.create(newSession('anon3', u.id));
    await store.sessions.rotateForLogin('ses_anon3', newSession('new4', u.id, { createdAt: T0 + HOUR, expiresAt: T0 + 2 * HOUR }), {}, ev('login'));
    t.match(await store.users.getById(u.id), { failedLogins: 0, tempLockedUntil: null }, 'a temporary lock that has run out is cleared');
  });

  t.test('sessions: a user\'s new session, and a login, stand only while the user does', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    t.match(await store.sessions.createForUser(newSession('a', u.id)), { id: 'ses_a' });
    await store.sessions.create(newSession('anon', u.id));
    t.equal(await store.sessions.rotateForLogin('ses_anon', newSession('x', u.id), { verifiedHash: '$argon2id$stale' }, ev('login')), 'user_changed',
      'the password hash changed since the login checked it');
    t.ok(await store.sessions.getByTokenHash('hash-session-anon'), 'the refused rotation changes nothing');
    t.equal(await store.sessions.getByTokenHash('hash-session-x'), undefined);
    t.match(await store.sessions.rotateForLogin('ses_anon', newSession('y', u.id), { verifiedHash: '$argon2id$x' }, ev('login')), { id: 'ses_y' });
    await store.users.setAdminLock(u.id, true, 'locked', T0 + 1, ev('user_lock'));
    t.equal(await store.sessions.createForUser(newSession('b', u.id)), undefined, 'no session for an admin-locked user');
    await store.sessions.create(newSession('anon2', u.id));
    t.equal(await store.sessions.rotateForLogin('ses_anon2', newSession('z', u.id), {}, ev('login')), 'user_changed', 'nor a login');
    await store.users.setAdminLock(u.id, false, 'locked', T0 + 2, ev('user_unlock'));
    await store.users.update(u.id, { isActive: false }, T0 + 3, [ev('user_edit')]);
    t.equal(await store.sessions.createForUser(newSession('c', u.id)), undefined, 'nor for an inactive one');
    t.equal(await store.sessions.createForUser(newSession('d', 999)), undefined, 'nor for a user that does not exist');
  });

  t.test('two instances: racing session deletes', async (t) => {
    const { store, another } = await target.fresh(t);
    const b = await another();
    const u = await store.users.create(newUser(1));
    await store.sessions.create(newSession(1, u.id));
    const deleted = await Promise.all([
      store.sessions.delete('ses_1', T0 + 3, ev('session_delete')),
      b.sessions.delete('ses_1', T0 + 3, ev('session_delete')),
    ]);
    t.same(deleted.sort(), [false, true], 'exactly one deletes');
    t.equal((await audits(b, 'session_delete')).length, 1, 'one audit row');

    // Every instance runs the expiry purge on its own timer.
    for (let i = 0; i < 20; i++) await store.sessions.create(newSession(`old${i}`, u.id, { expiresAt: T0 + i }));
    const purged = await Promise.all([store.sessions.purgeExpired(T0 + HOUR), b.sessions.purgeExpired(T0 + HOUR)]);
    t.equal(purged[0]! + purged[1]!, 20, `two purges at once delete each session once (${purged})`);
  });
}
