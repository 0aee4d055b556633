import type { Policy } from './schema.js';

export type { Policy } from './schema.js';

/**
 * The only place that decides access (SPEC §5). Pure: the caller supplies the acting user's
 * role (read from the database, never from the caller of the service).
 */
export interface AccessRequest {
  actorId: number;
  role: string;
  action: string;
  item: string;
  ownerId: number;
  visibility: string;
  sharedWith?: readonly number[];
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

/** authnzerver: an item shared with the anonymous user is shared with everyone. */
export const SHARED_WITH_EVERYONE_ID = 2;

const deny = (reason: string): Decision => ({ allowed: false, reason });
const allow: Decision = { allowed: true };

/**
 * authnzerver's `check_item_access`: the action must be in the role's actions for the item
 * (owned or someone else's at this visibility, intersected with the item's valid actions), and
 * the visibility gate must pass (unless the role bypasses it). Checked in the order of the
 * reason codes documented in docs/policy.md.
 */
export function evaluateAccess(policy: Policy, req: AccessRequest): Decision {
  const role = policy.roles.get(req.role);
  if (!role) return deny('unknown_role');
  const item = policy.items.get(req.item);
  if (!item) return deny('unknown_item');
  if (!policy.actions.has(req.action)) return deny('unknown_action');
  const access = policy.visibilities.get(req.visibility);
  if (access === undefined) return deny('unknown_visibility');

  if (item.invalidRoles.has(req.role)) return deny('role_not_allowed');
  if (!item.validVisibilities.has(req.visibility)) return deny('visibility_not_valid');
  if (!item.validActions.has(req.action)) return deny('action_not_valid');

  const owned = req.actorId === req.ownerId;
  if (owned && !role.canOwn.has(req.item)) return deny('cannot_own');
  const actions = owned ? role.forOwned : role.forOther.get(req.visibility);
  if (!actions?.has(req.action)) return deny('action_not_allowed');

  if (role.bypassVisibility) return allow;
  switch (access) {
    case 'anyone':
      return allow;
    case 'owner':
      return owned ? allow : deny('not_owner');
    case 'owner_or_shared': {
      const shared = req.sharedWith ?? [];
      return owned || shared.includes(req.actorId) || shared.includes(SHARED_WITH_EVERYONE_ID) ? allow : deny('not_shared');
    }
    case 'none':
      return deny('visibility');
  }
}

/** The role's limit value, or undefined when the role (or the limit) is not in the policy. */
export function roleLimit(policy: Policy, role: string, limitName: string): number | undefined {
  return policy.roles.get(role)?.limits.get(limitName)?.limit;
}

export type LimitDecision =
  | { within: boolean; limit: number; reason?: string }
  | { within: false; reason: string };

/**
 * authnzerver's `check_role_limits`: `lt` limits hold while value < limit, `gt` limits while
 * value > limit; `int` limits compare truncated integers. Unlike authnzerver, a limit the role
 * does not define is not a pass: it answers `unknown_limit`.
 */
export function checkLimit(policy: Policy, role: string, limitName: string, value: number): LimitDecision {
  const r = policy.roles.get(role);
  if (!r) return { within: false, reason: 'unknown_role' };
  const def = r.limits.get(limitName);
  if (!def) return { within: false, reason: 'unknown_limit' };
  const v = def.type === 'int' ? Math.trunc(value) : value;
  const limit = def.type === 'int' ? Math.trunc(def.limit) : def.limit;
  if (def.operator === 'lt') return v < limit ? { within: true, limit: def.limit } : { within: false, limit: def.limit, reason: 'over_limit' };
  return v > limit ? { within: true, limit: def.limit } : { within: false, limit: def.limit, reason: 'under_limit' };
}
