import type { Store } from '../db/store.js';
import { ConflictError } from '../db/errors.js';
import type { UserPatch } from '../db/store/users.js';
import type { AuditEvent, User } from '../db/types.js';
import { ApiError } from '../errors.js';
import { evaluateAccess, type Policy } from '../policy/evaluate.js';
import { ANONYMOUS_USER_ID } from './bootstrap.js';
import { looksLikeEmail, normaliseEmail } from './email.js';
import { credentialError, type LoginGuard } from './login.js';
import { requireSession, userIsUsable, type AuditContext } from './sessions.js';
import { newVerificationToken } from './users.js';

/**
 * Changes to users by an acting user (SPEC §3). Every decision uses the actor's role as stored
 * in the database (read through the session), never a role sent by the caller.
 */

/** The role of an admin-locked user; the previous role comes back on unlock. */
export const LOCKED_ROLE = 'locked';
export const SUPERUSER_ROLE = 'superuser';

export interface AdminDeps {
  store: Store;
  now(): number;
  policy(): Policy;
}

function denied(message: string): ApiError {
  return new ApiError('permission_denied', message);
}

async function actorAndTarget(deps: AdminDeps, sessionToken: string, targetId: number): Promise<{ actor: User; target: User }> {
  const { user: actor } = await requireSession(deps.store, sessionToken, deps.now());
  if (!userIsUsable(actor)) throw new ApiError('user_inactive');
  const target = targetId === actor.id ? actor : await deps.store.users.getById(targetId);
  if (!target) throw new ApiError('not_found', `No user ${targetId}.`);
  if (target.id === ANONYMOUS_USER_ID) throw denied('The anonymous user cannot be changed.');
  return { actor, target };
}

/** Someone else's account: the policy decides (item `user`, visibility `private`). */
function allowedOnOther(deps: AdminDeps, actor: User, target: User, action: string): boolean {
  return evaluateAccess(deps.policy(), { actorId: actor.id, role: actor.role, action, item: 'user', ownerId: target.id, visibility: 'private' }).allowed;
}

export interface EditInput {
  fullName?: string | null;
  email?: string;
  role?: string;
  isActive?: boolean;
  emailVerified?: boolean;
}

export interface EditResult {
  user: User;
  /** A new email verification token, when the edit left the email unverified (see editUser). */
  verification?: { token: string; expiresAt: number };
}

/** The audit row names the changed fields as user_edit's `update` does, not as the store does. */
const WIRE_FIELD: Record<keyof UserPatch, string> = { email: 'email', fullName: 'full_name', role: 'role', isActive: 'is_active', emailVerified: 'email_verified' };

/**
 * `user_edit`: self may change name and email; a superuser anything of anyone, including role.
 *
 * A new email is unproven: the edit marks it unverified and answers a fresh verification token
 * (`user_verify_email`) that the frontend mails to the new address; logging in needs a verified
 * email. Sending the current, still unverified email again replaces the pending token (a
 * resend). A deactivated user gets no token (store/users.ts), and a superuser may set
 * `email_verified` in the same edit instead.
 */
export async function editUser(deps: AdminDeps, sessionToken: string, targetId: number, update: EditInput, audit: AuditContext): Promise<EditResult> {
  const { actor, target } = await actorAndTarget(deps, sessionToken, targetId);
  const isSuper = actor.role === SUPERUSER_ROLE;
  if (actor.id !== target.id && !(isSuper && allowedOnOther(deps, actor, target, 'edit'))) throw denied('You may not edit this user.');
  const privileged = (['role', 'isActive', 'emailVerified'] as const).filter((k) => update[k] !== undefined);
  if (privileged.length > 0 && !isSuper) throw denied('Only a superuser may change role, is_active or email_verified.');
  // A superuser cannot demote, deactivate or unverify themselves: logging in needs an active
  // user with a verified email, so any of these could leave the service without a superuser.
  if (actor.id === target.id && (update.role !== undefined || update.isActive !== undefined || update.emailVerified === false)) {
    throw denied('You may not change your own role, deactivate yourself or mark your own email unverified.');
  }

  const patch: UserPatch = {};
  let verification: ReturnType<typeof newVerificationToken> | undefined;
  const now = deps.now();
  if (update.fullName !== undefined) patch.fullName = update.fullName === null ? null : update.fullName.normalize('NFKC').trim();
  if (update.email !== undefined) {
    const email = normaliseEmail(update.email);
    if (!looksLikeEmail(email)) throw new ApiError('invalid_request', 'The email address is not valid.', { details: [{ path: '/update/email', message: 'must be an email address' }] });
    if (email !== target.email || !target.emailVerified) {
      patch.email = email;
      // A new address is unproven until verified again (unless a superuser says otherwise).
      patch.emailVerified = false;
      verification = newVerificationToken(now);
    }
  }
  if (update.role !== undefined) {
    if (!deps.policy().roles.has(update.role) || update.role === LOCKED_ROLE || update.role === 'anonymous') {
      throw new ApiError('invalid_request', `"${update.role}" is not an assignable role.`, { details: [{ path: '/update/role', message: 'must be a role of the policy (not locked or anonymous; use user_lock)' }] });
    }
    patch.role = update.role;
  }
  if (update.isActive !== undefined) patch.isActive = update.isActive;
  if (update.emailVerified !== undefined) patch.emailVerified = update.emailVerified;

  const base = { ...audit, outcome: 'success' as const, actorUserId: actor.id, targetUserId: target.id };
  const audits: AuditEvent[] = [{ ...base, event: 'user_edit', details: { fields: (Object.keys(patch) as (keyof UserPatch)[]).map((k) => WIRE_FIELD[k]) } }];
  const currentRole = target.adminLocked ? target.roleBeforeLock : target.role;
  if (patch.role !== undefined && patch.role !== currentRole) audits.push({ ...base, event: 'role_change', details: { from: currentRole, to: patch.role } });
  try {
    const updated = await deps.store.users.update(target.id, patch, now, audits, verification?.row);
    if (!updated) throw new ApiError('not_found', `No user ${targetId}.`);
    if (!updated.verificationIssued || verification === undefined) return { user: updated.user };
    return { user: updated.user, verification: { token: verification.token, expiresAt: verification.row.expiresAt } };
  } catch (err) {
    if (err instanceof ConflictError) throw new ApiError('conflict', 'This email address is already registered.');
    throw err;
  }
}

/** `user_lock`: superusers only; never on themselves (no one could unlock the last one). */
export async function lockUser(deps: AdminDeps, sessionToken: string, targetId: number, locked: boolean, audit: AuditContext): Promise<User> {
  const { actor, target } = await actorAndTarget(deps, sessionToken, targetId);
  if (actor.role !== SUPERUSER_ROLE) throw denied('Only a superuser may lock or unlock users.');
  if (actor.id === target.id) throw denied('You may not lock yourself.');
  const user = await deps.store.users.setAdminLock(target.id, locked, LOCKED_ROLE, deps.now(), {
    ...audit, event: locked ? 'user_lock' : 'user_unlock', outcome: 'success', actorUserId: actor.id, targetUserId: target.id,
  });
  if (!user) throw new ApiError('not_found', `No user ${targetId}.`);
  return user;
}

/** `user_delete`: self, or another user where the policy allows; the actor's password confirms it. */
export async function deleteUser(
  deps: AdminDeps, guard: LoginGuard, input: { sessionToken: string; targetId: number; password: string }, audit: AuditContext,
): Promise<number> {
  const { actor, target } = await actorAndTarget(deps, input.sessionToken, input.targetId);
  if (actor.id !== target.id && !allowedOnOther(deps, actor, target, 'delete')) throw denied('You may not delete this user.');
  // As with user_edit and user_lock: a superuser cannot remove themselves (the service could be left without one).
  if (actor.id === target.id && actor.role === SUPERUSER_ROLE) throw denied('A superuser cannot delete their own account.');
  const checked = await guard.check(actor, actor.email, input.password, 'user_delete', audit);
  if (!checked.ok) throw credentialError(checked);
  const done = await deps.store.users.delete(target.id, deps.now(), {
    ...audit, event: 'user_delete', outcome: 'success', actorUserId: actor.id, targetUserId: target.id,
  });
  if (!done) throw new ApiError('not_found', `No user ${input.targetId}.`);
  return target.id;
}

/** `user_list`: policy-checked (`list` on item `user`, staff and superusers by default). */
export async function listUsers(deps: AdminDeps, sessionToken: string, afterId: number, limit: number): Promise<User[]> {
  const { user: actor } = await requireSession(deps.store, sessionToken, deps.now());
  if (!userIsUsable(actor)) throw new ApiError('user_inactive');
  // The user directory belongs to no one (owner 0), so this is "list someone else's".
  const decision = evaluateAccess(deps.policy(), { actorId: actor.id, role: actor.role, action: 'list', item: 'user', ownerId: 0, visibility: 'private' });
  if (!decision.allowed) throw denied(`The policy denies listing users (${decision.reason}).`);
  return deps.store.users.list(afterId, limit);
}
