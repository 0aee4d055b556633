import { randomUUID } from 'node:crypto';
import type { Store } from '../db/store.js';
import type { NewUserToken } from '../db/store/users.js';
import { ConflictError } from '../db/errors.js';
import type { User } from '../db/types.js';
import { ApiError } from '../errors.js';
import { looksLikeEmail, normaliseEmail } from './email.js';
import { checkPasswordPolicy } from './password-policy.js';
import { hashPassword } from './passwords.js';
import type { AuditContext } from './sessions.js';
import { hashToken, newToken } from './tokens.js';

/** Sign-up, email verification and lookups of users (SPEC §3). */

export const VERIFICATION_TOKEN_PREFIX = 'azv_';
/** How long an email verification token stays usable. */
export const VERIFICATION_TTL_SECONDS = 2 * 86400;
/** The role a user signs up with (active once the email is verified; SPEC §3). */
export const VERIFIED_ROLE = 'authenticated';

/**
 * 400 `weak_password` with every failed rule, when the password fails the policy. `field` is the
 * request field the password came in (`password` on sign-up, `new_password` on change and
 * reset), so each detail's `path` points at what the caller sent.
 */
export function enforcePasswordPolicy(password: string, user: { email: string; fullName?: string | null }, field: 'password' | 'new_password'): void {
  const failures = checkPasswordPolicy(password, user);
  if (failures.length > 0) {
    throw new ApiError('weak_password', `The password fails ${failures.length} rule(s) of the password policy.`, {
      details: failures.map((f) => ({ path: `/${field}`, rule: f.rule, message: f.message })),
    });
  }
}

/** A fresh email verification token: the token for the user, and its row (only the hash is stored). */
export function newVerificationToken(now: number): { token: string; row: NewUserToken } {
  const token = newToken(VERIFICATION_TOKEN_PREFIX);
  return { token, row: { tokenHash: hashToken(token), purpose: 'verify_email', createdAt: now, expiresAt: now + VERIFICATION_TTL_SECONDS * 1000 } };
}

function badEmail(path = '/email'): ApiError {
  return new ApiError('invalid_request', 'The email address is not valid.', { details: [{ path, message: 'must be an email address' }] });
}

export async function createUser(
  store: Store, now: number,
  input: { email: string; password: string; fullName: string; systemId?: string; extra?: Record<string, unknown> },
  audit: AuditContext,
): Promise<{ user: User; verificationToken: string; verificationExpiresAt: number }> {
  const email = normaliseEmail(input.email);
  if (!looksLikeEmail(email)) throw badEmail();
  const fullName = input.fullName.normalize('NFKC').trim();
  enforcePasswordPolicy(input.password, { email, fullName }, 'password');
  // Cheap pre-check so a duplicate does not cost an argon2 hash; the unique index decides races.
  if (await store.users.getByEmail(email)) throw new ApiError('conflict', 'This email address is already registered.');
  const verification = newVerificationToken(now);
  try {
    const user = await store.users.createWithToken({
      systemId: input.systemId ?? randomUUID(), email, fullName, passwordHash: await hashPassword(input.password),
      role: VERIFIED_ROLE, isActive: false, emailVerified: false, extra: input.extra ?? {}, createdAt: now,
    }, verification.row, {
      ...audit, event: 'user_create', outcome: 'success',
    });
    return { user, verificationToken: verification.token, verificationExpiresAt: verification.row.expiresAt };
  } catch (err) {
    if (err instanceof ConflictError) {
      throw new ApiError('conflict', err.constraint === 'users_system_id_uq' ? 'This system_id is already taken.' : 'This email address is already registered.');
    }
    throw err;
  }
}

export async function verifyEmail(store: Store, now: number, token: string, audit: AuditContext): Promise<User> {
  const user = await store.users.verifyEmail(hashToken(token), now, { ...audit, event: 'email_verify', outcome: 'success' });
  if (!user) {
    throw new ApiError('invalid_request', 'The verification token is unknown, used or expired.', {
      details: [{ path: '/verification_token', message: 'unknown, used or expired' }],
    });
  }
  return user;
}

/** `user_get`: by exactly one of id, email, system id. */
export async function getUser(store: Store, by: { userId?: number; email?: string; systemId?: string }): Promise<User> {
  const given = [by.userId, by.email, by.systemId].filter((v) => v !== undefined).length;
  if (given !== 1) {
    throw new ApiError('invalid_request', 'Give exactly one of user_id, email, system_id.', {
      details: [{ path: '/', message: 'exactly one of user_id, email, system_id is required' }],
    });
  }
  const user = by.userId !== undefined ? await store.users.getById(by.userId)
    : by.email !== undefined ? await store.users.getByEmail(normaliseEmail(by.email))
      : await store.users.getBySystemId(by.systemId!);
  if (!user) throw new ApiError('not_found', 'No such user.');
  return user;
}

/**
 * An operator-created user (CLI `user add`): active and verified at once, with the given role.
 * The password policy applies as for sign-up.
 */
export async function addUserDirectly(
  store: Store, now: number, input: { email: string; password: string; fullName: string | null; role: string }, audit: AuditContext,
): Promise<User> {
  const email = normaliseEmail(input.email);
  if (!looksLikeEmail(email)) throw badEmail();
  const fullName = input.fullName === null ? null : input.fullName.normalize('NFKC').trim();
  enforcePasswordPolicy(input.password, { email, fullName }, 'password');
  if (await store.users.getByEmail(email)) throw new ApiError('conflict', 'This email address is already registered.');
  try {
    return await store.users.create({
      systemId: randomUUID(), email, fullName, passwordHash: await hashPassword(input.password),
      role: input.role, isActive: true, emailVerified: true, extra: {}, createdAt: now,
    }, { ...audit, event: 'user_create', outcome: 'success', details: { role: input.role } });
  } catch (err) {
    if (err instanceof ConflictError) throw new ApiError('conflict', 'This email address is already registered.');
    throw err;
  }
}
