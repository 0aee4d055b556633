import type { Test } from 'tap';
import { audits, conflict, ev, HOUR, newSession, newToken, newUser, T0, type ContractTarget } from './fixtures.js';

/** The user store: accounts, single-use tokens, login failures, edits, locks, deletion. */
export function usersContract(t: Test, target: ContractTarget): void {
  t.test('users: create and read', async (t) => {
    const { store } = await target.fresh(t);
    t.equal(await store.users.count(), 0);
    const u1 = await store.users.create(newUser(1), ev('user_create'));
    const u2 = await store.users.create(newUser(2, { fullName: null, passwordHash: null, isActive: false, emailVerified: true, extra: {} }));
    t.equal(u1.id, 1, 'ids start at 1 (the seed relies on it)');
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
    t.equal((await audits(store, 'user_create'))[0]?.targetUserId, 1, 'the audit row names the new user');

    await t.rejects(store.users.create(newUser(3, { email: 'user1@example.test' }), ev('user_create')), conflict('users_email_uq'));
    await t.rejects(store.users.create(newUser(4, { systemId: 'sys-1' }), ev('user_create')), conflict('users_system_id_uq'));
    t.equal(await store.users.count(), 2, 'refused creates add no user');
    t.equal((await audits(store, 'user_create')).length, 1, 'and no audit row');

    await store.users.create(newUser(5));
    const u5 = (await store.users.getByEmail('user5@example.test'))!;
    t.same((await store.users.list(0, 10)).map((u) => u.id), [1, 2, u5.id]);
    t.same((await store.users.list(1, 1)).map((u) => u.id), [2], 'paged by id');
    t.same(await store.users.list(1000, 10), []);
  });

  t.test('users: tokens, email verification, password reset', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.createWithToken(newUser(1, { isActive: false, role: 'staff' }), newToken('v1'), ev('user_new'));
    t.equal((await audits(store, 'user_new'))[0]?.targetUserId, u.id);
    await t.rejects(store.users.createWithToken(newUser(2, { email: 'user1@example.test' }), newToken('v2'), ev('user_new')),
      conflict('users_email_uq'));
    t.equal(await store.users.getLiveToken('hash-token-v2', 'verify_email', T0), undefined, 'a refused sign-up leaves no token');
    t.equal((await audits(store, 'user_new')).length, 1, 'and no audit row');

    const live = await store.users.getLiveToken('hash-token-v1', 'verify_email', T0);
    t.same(live, { tokenHash: 'hash-token-v1', userId: u.id, purpose: 'verify_email', createdAt: T0, expiresAt: T0 + HOUR, usedAt: null });
    t.equal(await store.users.getLiveToken('hash-token-v1', 'reset_password', T0), undefined, 'purpose must match');
    t.equal(await store.users.getLiveToken('hash-token-v1', 'verify_email', T0 + HOUR), undefined, 'expired at expiresAt');

    // addToken replaces the unused tokens of that purpose only.
    await store.users.addToken(u.id, newToken('v3'));
    await store.users.addToken(u.id, newToken('r1', { purpose: 'reset_password' }));
    await t.rejects(store.users.addToken(u.id, newToken('r1')), 'the token hash is unique');
    t.ok(await store.users.getLiveToken('hash-token-v3', 'verify_email', T0), 'a refused token replaces nothing');
    t.equal(await store.users.getLiveToken('hash-token-v1', 'verify_email', T0), undefined, 'replaced');
    t.ok(await store.users.getLiveToken('hash-token-v3', 'verify_email', T0));
    t.ok(await store.users.getLiveToken('hash-token-r1', 'reset_password', T0), 'other purpose kept');

    t.equal(await store.users.verifyEmail('hash-token-v3', T0 + HOUR, ev('verify')), undefined, 'expired token');
    const verified = await store.users.verifyEmail('hash-token-v3', T0 + 5, ev('verify'));
    t.match(verified, { id: u.id, isActive: true, emailVerified: true, role: 'staff', updatedAt: T0 + 5 }, 'the role is kept');
    t.equal(await store.users.verifyEmail('hash-token-v3', T0 + 6, ev('verify')), undefined, 'single use');
    t.equal(await store.users.verifyEmail('hash-token-r1', T0 + 6, ev('verify')), undefined, 'wrong purpose');
    t.match(await audits(store, 'verify'), [{ targetUserId: u.id, details: { role: 'staff' } }], 'one audit row');

    await store.users.recordLoginFailure(u.id, T0 + 7, { maxFailures: 1, lockMs: HOUR }, ev('login_failed'));
    await store.sessions.create(newSession(1, u.id));
    const reset = await store.users.resetPassword('hash-token-r1', '$argon2id$new', T0 + 8, ev('reset'));
    t.match(reset, { passwordHash: '$argon2id$new', failedLogins: 0, tempLockedUntil: null, updatedAt: T0 + 8 });
    t.equal(await store.sessions.getByTokenHash('hash-session-1'), undefined, 'a reset deletes every session');
    t.match(await audits(store, 'reset'), [{ targetUserId: u.id, actorUserId: u.id }]);
    t.equal(await store.users.resetPassword('hash-token-r1', '$argon2id$x', T0 + 9, ev('reset')), undefined, 'single use');
    t.equal((await store.users.getById(u.id))?.passwordHash, '$argon2id$new');

    await store.users.addToken(u.id, newToken('old', { expiresAt: T0 + 1 }));
    t.equal(await store.users.purgeExpiredTokens(T0 + 10), 3, 'spent (v3, r1) and expired (old) tokens purged');
    t.equal(await store.users.purgeExpiredTokens(T0 + 10), 0);
  });

  t.test('users: an edit and pending email verifications', async (t) => {
    const { store } = await target.fresh(t);
    const live = (n: string) => store.users.getLiveToken(`hash-token-${n}`, 'verify_email', T0 + 1);
    const active = await store.users.create(newUser(1, { emailVerified: true }));
    await store.users.addToken(active.id, newToken('a0'));
    await store.users.addToken(active.id, newToken('ar', { purpose: 'reset_password' }));
    t.match(await store.users.update(active.id, { email: 'new1@example.test', emailVerified: false }, T0 + 1, [], newToken('a1')),
      { user: { email: 'new1@example.test', emailVerified: false }, verificationIssued: true }, 'a new address of an active user: a token');
    t.equal(await live('a0'), undefined, 'the pending verification of the old address is gone');
    t.ok(await live('a1'), 'the new one is live');
    t.ok(await store.users.getLiveToken('hash-token-ar', 'reset_password', T0 + 1), 'other purposes are untouched');
    t.match(await store.users.update(active.id, { email: 'new1@example.test', emailVerified: false }, T0 + 2, [], newToken('a2')),
      { verificationIssued: true }, 'the same unverified address again: a resend');
    t.equal(await live('a1'), undefined, 'which replaces the pending token');
    t.match(await store.users.update(active.id, { fullName: 'Renamed' }, T0 + 3, [], newToken('a3')), { verificationIssued: false },
      'an edit without an email or verification change keeps the pending token and stores none');
    t.ok(await live('a2'));
    t.equal(await live('a3'), undefined);
    t.match(await store.users.update(active.id, { email: 'new2@example.test', emailVerified: true }, T0 + 4, [], newToken('a4')),
      { user: { emailVerified: true }, verificationIssued: false }, 'verified by the edit itself: no token');
    t.equal(await live('a2'), undefined, 'and nothing pending');

    // A sign-up not yet verified: a new address moves the pending verification to it.
    const signup = await store.users.createWithToken(newUser(2, { isActive: false }), newToken('s0'), ev('user_new'));
    t.match(await store.users.update(signup.id, { email: 'new3@example.test', emailVerified: false }, T0 + 5, [], newToken('s1')),
      { user: { isActive: false }, verificationIssued: true });
    t.equal(await live('s0'), undefined);
    t.match(await store.users.verifyEmail('hash-token-s1', T0 + 6, ev('verify')), { isActive: true, emailVerified: true, email: 'new3@example.test' });

    // Deactivation drops the pending verification, so no token can reactivate the user.
    const other = await store.users.createWithToken(newUser(3, { isActive: false }), newToken('d0'), ev('user_new'));
    await store.users.update(other.id, { isActive: true }, T0 + 7, []);
    t.ok(await live('d0'), 'activation alone leaves the pending verification');
    await store.users.update(other.id, { isActive: false }, T0 + 8, []);
    t.equal(await live('d0'), undefined, 'deactivation drops it');
    t.match(await store.users.update(other.id, { email: 'new4@example.test', emailVerified: false }, T0 + 9, [], newToken('d1')),
      { user: { isActive: false }, verificationIssued: false }, 'a deactivated user gets no token');
    t.equal(await live('d1'), undefined);
    t.equal(await store.users.verifyEmail('hash-token-d0', T0 + 10, ev('verify')), undefined);
    t.match(await store.users.getById(other.id), { isActive: false });

    // A completed password reset proves the mailbox: an active user's email becomes verified.
    await store.users.addToken(active.id, newToken('ar2', { purpose: 'reset_password' }));
    await store.users.update(active.id, { email: 'new5@example.test', emailVerified: false }, T0 + 11, []);
    t.match(await store.users.resetPassword('hash-token-ar2', '$argon2id$r', T0 + 12, ev('reset')), { emailVerified: true, isActive: true });
    await store.users.addToken(other.id, newToken('or', { purpose: 'reset_password' }));
    t.match(await store.users.resetPassword('hash-token-or', '$argon2id$r', T0 + 13, ev('reset')), { emailVerified: false, isActive: false },
      'an inactive user is left unverified');
  });

  t.test('users: login failures and the temporary lock', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    const limits = { maxFailures: 3, lockMs: HOUR };
    t.same(await store.users.recordLoginFailure(u.id, T0 + 1, limits, ev('login_failed')), { failedLogins: 1, tempLockedUntil: null });
    t.same(await store.users.recordLoginFailure(u.id, T0 + 2, limits, ev('login_failed')), { failedLogins: 2, tempLockedUntil: null });
    t.same(await store.users.recordLoginFailure(u.id, T0 + 3, limits, ev('login_failed')), { failedLogins: 3, tempLockedUntil: T0 + 3 + HOUR }, 'lock starts at the limit');
    t.same(await store.users.recordLoginFailure(u.id, T0 + 4, limits, ev('login_failed')), { failedLogins: 4, tempLockedUntil: T0 + 3 + HOUR }, 'more failures do not extend it');
    t.match(await store.users.getById(u.id), { failedLogins: 4, lastFailedLoginAt: T0 + 4, tempLockedUntil: T0 + 3 + HOUR });
    t.match((await audits(store, 'login_failed')).map((a) => a.details), [
      { failed_logins: 1, locked: false }, { failed_logins: 2, locked: false }, { failed_logins: 3, locked: true }, { failed_logins: 4, locked: true },
    ]);
    t.same(await store.users.recordLoginFailure(u.id, T0 + 3 + HOUR, limits, ev('login_failed')), { failedLogins: 1, tempLockedUntil: null },
      'an ended lock starts a fresh count');
    await store.users.clearLoginFailures(u.id, T0 + 5 + HOUR);
    t.match(await store.users.getById(u.id), { failedLogins: 0, tempLockedUntil: null, updatedAt: T0 + 5 + HOUR });
    await store.users.clearLoginFailures(u.id, T0 + 6 + HOUR);
    t.equal((await store.users.getById(u.id))?.updatedAt, T0 + 5 + HOUR, 'nothing to clear: no write');
  });

  t.test('users: failed logins to unknown emails (by digest), their lock, window and purge', async (t) => {
    const { store } = await target.fresh(t);
    const limits = { maxFailures: 3, lockMs: HOUR, windowMs: 24 * HOUR };
    const fail = (digest: string, at: number, l = limits) => store.users.recordUnknownLoginFailure(digest, at, l);
    t.equal(await store.users.unknownLoginLockedUntil('d1', T0), null);
    t.same(await fail('d1', T0 + 1), { failures: 1, lockedUntil: null });
    t.same(await fail('d1', T0 + 2), { failures: 2, lockedUntil: null });
    t.same(await fail('d1', T0 + 3), { failures: 3, lockedUntil: T0 + 3 + HOUR }, 'lock starts at the limit');
    t.same(await fail('d1', T0 + 4), { failures: 4, lockedUntil: T0 + 3 + HOUR }, 'more failures do not extend it');
    t.equal(await store.users.unknownLoginLockedUntil('d1', T0 + 5), T0 + 3 + HOUR);
    t.equal(await store.users.unknownLoginLockedUntil('d2', T0 + 5), null, 'per digest');
    t.equal(await store.users.unknownLoginLockedUntil('d1', T0 + 3 + HOUR), null, 'the lock ends');
    t.same(await fail('d1', T0 + 3 + HOUR), { failures: 1, lockedUntil: null }, 'an ended lock starts a fresh count');

    t.same(await fail('d2', T0), { failures: 1, lockedUntil: null });
    t.same(await fail('d2', T0 + 24 * HOUR - 1), { failures: 2, lockedUntil: null }, 'within the window the count goes on');
    t.same(await fail('d2', T0 + 48 * HOUR - 1), { failures: 1, lockedUntil: null }, 'a window after the last failure it starts afresh');
    t.same(await fail('d3', T0, { ...limits, maxFailures: 1 }), { failures: 1, lockedUntil: T0 + HOUR }, 'a limit of 1 locks at once');

    await fail('d4', T0);
    await store.users.clearUnknownLoginFailures('d4');
    t.same(await fail('d4', T0 + 1), { failures: 1, lockedUntil: null }, 'clear forgets the count');
    await store.users.clearUnknownLoginFailures('nothing-here');

    // A row lives until neither its count nor its lock counts: max(window, lock) after its last
    // failure. Now d1 last failed at T0 + 3 + 1 h, d2 at T0 + 48 h - 1, d3 at T0 (locked 1 h), d4 at T0 + 1.
    const purge = (at: number) => store.users.purgeUnknownLoginFailures(at);
    t.equal(await purge(T0 + 24 * HOUR - 1), 0, 'nothing is over yet');
    t.equal(await purge(T0 + 24 * HOUR), 1, 'd3: its lock and then its window are over');
    t.equal(await purge(T0 + 24 * HOUR), 0, 'purged once');
    t.equal(await purge(T0 + 24 * HOUR + 1), 1, 'd4, a window after its last failure');
    t.same(await fail('d5', T0 + 24 * HOUR + 1, { ...limits, maxFailures: 1, lockMs: 48 * HOUR }), { failures: 1, lockedUntil: T0 + 72 * HOUR + 1 });
    t.equal(await purge(T0 + 25 * HOUR + 3), 1, 'd1');
    t.equal(await purge(T0 + 72 * HOUR - 1), 1, 'd2');
    t.equal(await store.users.unknownLoginLockedUntil('d5', T0 + 72 * HOUR - 1), T0 + 72 * HOUR + 1, 'a lock longer than the window keeps its row');
    t.equal(await purge(T0 + 72 * HOUR + 1), 1, 'd5, once its lock is over');
  });

  t.test('users: edit, admin lock, password change, delete', async (t) => {
    const { store } = await target.fresh(t);
    const u = await store.users.create(newUser(1));
    await store.users.create(newUser(2));
    const edited = await store.users.update(u.id, { fullName: null, emailVerified: true, email: 'new@example.test' }, T0 + 1, [ev('user_edit'), ev('role_change')]);
    t.match(edited, { user: { fullName: null, emailVerified: true, email: 'new@example.test', updatedAt: T0 + 1 }, verificationIssued: false });
    t.equal((await audits(store, 'user_edit')).length + (await audits(store, 'role_change')).length, 2, 'one audit row per event');
    await t.rejects(store.users.update(u.id, { email: 'user2@example.test' }, T0 + 2, [ev('user_edit')]), conflict('users_email_uq'));
    t.equal((await audits(store, 'user_edit')).length, 1, 'a refused edit writes no audit row');
    t.equal(await store.users.update(99, { fullName: 'x' }, T0, [ev('user_edit')]), undefined);

    await store.sessions.create(newSession(1, u.id));
    const locked = await store.users.setAdminLock(u.id, true, 'locked', T0 + 3, ev('user_lock'));
    t.match(locked, { adminLocked: true, role: 'locked', roleBeforeLock: 'authenticated' });
    t.equal(await store.sessions.getByTokenHash('hash-session-1'), undefined, 'locking deletes the sessions');
    t.same(await store.users.setAdminLock(u.id, true, 'locked', T0 + 4, ev('user_lock')), locked, 'locking twice changes nothing');
    t.match(await audits(store, 'user_lock'), [{ details: { role_before: 'authenticated', role_after: 'locked' } }], 'one audit row');
    t.match(await store.users.update(u.id, { role: 'staff' }, T0 + 5, []), { user: { role: 'locked', roleBeforeLock: 'staff' } }, 'a locked user keeps the lock role');
    await store.users.recordLoginFailure(u.id, T0 + 6, { maxFailures: 1, lockMs: HOUR }, ev('login_failed'));
    const unlocked = await store.users.setAdminLock(u.id, false, 'locked', T0 + 7, ev('user_unlock'));
    t.match(unlocked, { adminLocked: false, role: 'staff', roleBeforeLock: null, failedLogins: 0, tempLockedUntil: null });
    await store.users.recordLoginFailure(u.id, T0 + 7, { maxFailures: 1, lockMs: HOUR }, ev('login_failed'));
    t.match(await store.users.setAdminLock(u.id, false, 'locked', T0 + 7, ev('user_unlock')),
      { adminLocked: false, role: 'staff', failedLogins: 0, tempLockedUntil: null }, 'an unlock with no admin lock lifts the temporary one');
    t.equal((await audits(store, 'user_unlock')).length, 2, 'and is audited');
    t.same(await store.users.setAdminLock(u.id, false, 'locked', T0 + 7, ev('user_unlock')), await store.users.getById(u.id), 'nothing to lift: no change');
    t.equal((await audits(store, 'user_unlock')).length, 2, 'nor audit row');
    t.equal(await store.users.setAdminLock(99, true, 'locked', T0, ev('user_lock')), undefined);

    await store.sessions.create(newSession(2, u.id));
    await store.sessions.create(newSession(3, u.id));
    t.equal(await store.users.changePassword(u.id, '$argon2id$changed', 'ses_2', T0 + 8, ev('password_change')), true);
    t.ok(await store.sessions.getByTokenHash('hash-session-2'), 'the current session stays');
    t.equal(await store.sessions.getByTokenHash('hash-session-3'), undefined, 'every other session goes');
    t.equal((await store.users.getById(u.id))?.passwordHash, '$argon2id$changed');
    t.equal((await audits(store, 'password_change')).length, 1);
    t.equal(await store.users.changePassword(u.id, '$argon2id$late', 'ses_3', T0 + 8, ev('password_change')), false,
      'a change asked for by a session that has ended meanwhile changes nothing');
    t.equal((await store.users.getById(u.id))?.passwordHash, '$argon2id$changed');
    t.ok(await store.sessions.getByTokenHash('hash-session-2'), 'and ends no session');
    t.equal((await audits(store, 'password_change')).length, 1);

    await store.users.update(u.id, { isActive: false }, T0 + 9, [ev('user_edit')]);
    t.equal(await store.sessions.getByTokenHash('hash-session-2'), undefined, 'deactivation deletes the sessions');

    await store.sessions.create(newSession(4, u.id));
    await store.users.addToken(u.id, newToken('d'));
    t.equal(await store.users.delete(u.id, T0 + 10, ev('user_delete')), true);
    t.equal(await store.users.getById(u.id), undefined);
    t.equal(await store.sessions.getByTokenHash('hash-session-4'), undefined, 'sessions go with the user');
    t.equal(await store.users.getLiveToken('hash-token-d', 'verify_email', T0), undefined, 'tokens go with the user');
    t.equal(await store.users.delete(u.id, T0 + 11, ev('user_delete')), false);
    t.equal((await audits(store, 'user_delete')).length, 1, 'one audit row per effective delete');
  });

  t.test('two instances: racing logins and tokens', async (t) => {
    const { store, another } = await target.fresh(t);
    const b = await another();
    const u = await store.users.create(newUser(1));
    const limits = { maxFailures: 3, lockMs: HOUR };
    const states = await Promise.all([1, 2, 3, 4, 5, 6].map((i) =>
      (i % 2 ? store : b).users.recordLoginFailure(u.id, T0 + 10, limits, ev('login_failed'))));
    t.same(states.map((s) => s.failedLogins).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6], 'every racing failure counts once');
    t.same(states.filter((s) => s.tempLockedUntil !== null).map((s) => s.failedLogins).sort((x, y) => x - y), [3, 4, 5, 6],
      'the lock starts exactly at the limit');
    t.match(await b.users.getById(u.id), { failedLogins: 6, tempLockedUntil: T0 + 10 + HOUR });

    const unknown = await Promise.all([1, 2, 3, 4, 5, 6].map((i) =>
      (i % 2 ? store : b).users.recordUnknownLoginFailure('digest-race', T0 + 10, { ...limits, windowMs: 24 * HOUR })));
    t.same(unknown.map((s) => s.failures).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6], 'every racing failure of an unknown email counts once');
    t.same(unknown.filter((s) => s.lockedUntil !== null).map((s) => s.failures).sort((x, y) => x - y), [3, 4, 5, 6],
      'its lock starts exactly at the limit');
    t.equal(await b.users.unknownLoginLockedUntil('digest-race', T0 + 11), T0 + 10 + HOUR);

    await store.users.addToken(u.id, newToken('r', { purpose: 'reset_password' }));
    const resets = await Promise.all([
      store.users.resetPassword('hash-token-r', '$argon2id$a', T0 + 11, ev('reset')),
      b.users.resetPassword('hash-token-r', '$argon2id$b', T0 + 11, ev('reset')),
    ]);
    t.equal(resets.filter((r) => r !== undefined).length, 1, 'a reset token is spent exactly once');
    t.equal((await audits(store, 'reset')).length, 1, 'one audit row');
  });
}
