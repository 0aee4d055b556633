import type { Store } from '../db/store.js';
import { ApiError } from '../errors.js';
import { ANONYMOUS_USER_ID } from './bootstrap.js';
import { normaliseEmail } from './email.js';
import { credentialError, type LoginGuard } from './login.js';
import { hashPassword } from './passwords.js';
import { requireSession, type AuditContext } from './sessions.js';
import { hashToken, newToken } from './tokens.js';
import { enforcePasswordPolicy } from './users.js';

/**
 * Changing and resetting passwords (SPEC §3). Both revoke the user's other sessions and every
 * API key in the same transaction as the new hash, so a stolen session or key dies with the old
 * password.
 */

export const RESET_TOKEN_PREFIX = 'azr_';
/** How long a password reset token stays usable. */
export const RESET_TTL_SECONDS = 3600;

/** `user_changepass`: the current password is checked like a login (same failure bookkeeping). */
export async function changePassword(
  store: Store, guard: LoginGuard, now: () => number,
  input: { sessionToken: string; currentPassword: string; newPassword: string }, audit: AuditContext,
): Promise<number> {
  const { session, user } = await requireSession(store, input.sessionToken, now());
  const checked = await guard.check(user, user.email, input.currentPassword, 'password_change', audit);
  if (!checked.ok) throw credentialError(checked);
  enforcePasswordPolicy(input.newPassword, user, 'new_password');
  const hash = await hashPassword(input.newPassword);
  const changed = await store.users.changePassword(user.id, hash, session.id, now(), {
    ...audit, event: 'password_change', outcome: 'success', actorUserId: user.id, targetUserId: user.id,
  });
  // A reset, lock or other change ended this session while the password was checked and hashed.
  if (!changed) throw new ApiError('invalid_session');
  return user.id;
}

/**
 * `user_resetpass_token`: the frontend mails the token. Unknown emails get a token of the same
 * shape that is stored nowhere, so the answer does not tell who has an account.
 */
export async function issueResetToken(store: Store, now: number, rawEmail: string): Promise<{ token: string; expiresAt: number }> {
  const token = newToken(RESET_TOKEN_PREFIX);
  const expiresAt = now + RESET_TTL_SECONDS * 1000;
  const user = await store.users.getByEmail(normaliseEmail(rawEmail));
  if (user && user.id !== ANONYMOUS_USER_ID && user.passwordHash !== null) {
    await store.users.addToken(user.id, { tokenHash: hashToken(token), purpose: 'reset_password', createdAt: now, expiresAt });
  }
  return { token, expiresAt };
}

function badResetToken(): ApiError {
  return new ApiError('invalid_request', 'The reset token is unknown, used or expired.', {
    details: [{ path: '/reset_token', message: 'unknown, used or expired' }],
  });
}

/** `user_resetpass`: spends the token; clears the temporary lock (never the admin lock). */
export async function resetPassword(store: Store, now: () => number, input: { resetToken: string; newPassword: string }, audit: AuditContext): Promise<number> {
  const tokenHash = hashToken(input.resetToken);
  const token = await store.users.getLiveToken(tokenHash, 'reset_password', now());
  const user = token && (await store.users.getById(token.userId));
  if (!user) throw badResetToken();
  enforcePasswordPolicy(input.newPassword, user, 'new_password');
  const hash = await hashPassword(input.newPassword);
  const done = await store.users.resetPassword(tokenHash, hash, now(), { ...audit, event: 'password_reset', outcome: 'success' });
  if (!done) throw badResetToken();
  return done.id;
}
