import type { ReadStamp, Store } from '../db/store.js';
import type { User } from '../db/types.js';
import { checkLimit, evaluateAccess, type Decision, type LimitDecision } from '../policy/evaluate.js';
import type { Policy } from '../policy/schema.js';

export interface AccessQuery {
  userId: number;
  action: string;
  item: string;
  ownerId: number;
  visibility: string;
  sharedWith?: readonly number[];
  /** The request's change stamp (`FastifyRequest.readStamp`), for the memoised read of the actor. */
  at?: ReadStamp;
}

/** The acting user, or why it may not act: unknown, or deactivated / admin-locked. */
async function actor(store: Store, userId: number, at?: ReadStamp): Promise<{ user: User } | { reason: 'unknown_user' | 'user_inactive' }> {
  const user = await store.users.getById(userId, at);
  if (!user) return { reason: 'unknown_user' };
  if (!user.isActive || user.adminLocked) return { reason: 'user_inactive' };
  return { user };
}

/**
 * check_access: the acting user's role comes from the database, never from the caller. Only the
 * actor is looked up: unlike authnzerver, an owner or shared-with user who was deleted or
 * locked does not make the item inaccessible to everyone else.
 */
export async function checkAccess(store: Store, policy: Policy, q: AccessQuery): Promise<Decision> {
  const a = await actor(store, q.userId, q.at);
  if ('reason' in a) return { allowed: false, reason: a.reason };
  return evaluateAccess(policy, {
    actorId: a.user.id, role: a.user.role, action: q.action, item: q.item,
    ownerId: q.ownerId, visibility: q.visibility, sharedWith: q.sharedWith,
  });
}

/** check_limit: the acting user's role limit applied to `value` (unknown limits are not a pass). */
export async function checkUserLimit(store: Store, policy: Policy, userId: number, limitName: string, value: number): Promise<LimitDecision> {
  const a = await actor(store, userId);
  if ('reason' in a) return { within: false, reason: a.reason };
  return checkLimit(policy, a.user.role, limitName, value);
}
