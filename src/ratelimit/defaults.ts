import type { ActionName } from '../actions.js';
import type { RateLimitOverrides, RateLimitRule } from '../config.js';

/**
 * The built-in per-client limits, by action: hits per sliding window of `window` seconds, counted
 * per calling client (one frontend = one client). This table is the one place the defaults live;
 * docs/rate-limits.md documents it and AUTHNZD_RATE_LIMITS overrides it per action.
 *
 * Read-only decisions a busy frontend makes on every page view are generous (a verify is ~0.1 ms
 * of CPU, an instance serves ~8k/s). Actions that write, hash a password (argon2 ≈ 50 ms) or
 * hand out credentials are strict; the per-end-user limits (end-user.ts) are stricter still.
 */
export const defaultClientLimits: Readonly<Record<string, RateLimitRule>> = ({
  // decisions, on every request of a frontend or service
  verify_apikey: { max: 600_000, window: 60 },
  session_exists: { max: 300_000, window: 60 },
  check_access: { max: 300_000, window: 60 },
  check_limit: { max: 300_000, window: 60 },
  // sessions
  session_new: { max: 60_000, window: 60 },
  session_edit: { max: 30_000, window: 60 },
  session_delete: { max: 30_000, window: 60 },
  session_delete_user: { max: 6_000, window: 60 },
  session_list: { max: 6_000, window: 60 },
  // users: password hashing and account creation
  user_new: { max: 300, window: 60 },
  user_login: { max: 1_200, window: 60 },
  user_logout: { max: 30_000, window: 60 },
  user_passcheck: { max: 1_200, window: 60 },
  user_passcheck_nosession: { max: 600, window: 60 },
  user_changepass: { max: 300, window: 60 },
  user_resetpass_token: { max: 300, window: 60 },
  user_resetpass: { max: 300, window: 60 },
  user_verify_email: { max: 600, window: 60 },
  user_edit: { max: 1_200, window: 60 },
  user_lock: { max: 300, window: 60 },
  user_delete: { max: 300, window: 60 },
  user_get: { max: 30_000, window: 60 },
  user_list: { max: 3_000, window: 60 },
  // API keys
  issue_apikey: { max: 600, window: 60 },
  issue_apikey_nosession: { max: 600, window: 60 },
  refresh_apikey: { max: 1_200, window: 60 },
  revoke_apikey: { max: 3_000, window: 60 },
  revoke_all_apikeys: { max: 600, window: 60 },
  list_apikeys: { max: 6_000, window: 60 },
  // operations
  policy_get: { max: 600, window: 60 },
  audit_query: { max: 600, window: 60 },
}) satisfies Record<ActionName, RateLimitRule>; // one entry for each action, no other

/** For a route without an action (none in /v1 today): every action has its entry above, the compiler checks. */
export const fallbackClientLimit: RateLimitRule = { max: 6_000, window: 60 };

/**
 * The limit in force for `action`: the override from AUTHNZD_RATE_LIMITS when there is one,
 * else the default. `undefined` when limits are `off`.
 */
export function clientLimit(action: string, overrides: RateLimitOverrides | undefined): RateLimitRule | undefined {
  if (overrides === 'off') return undefined;
  return overrides?.[action] ?? defaultClientLimits[action] ?? fallbackClientLimit;
}
