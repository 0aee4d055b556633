/**
 * Every action of the service: each is `POST /v1/<name>`, and these names are what client action
 * lists, AUTHNZD_RATE_LIMITS and the SDK use. This is the one list, kept equal to the routes:
 * registerAction (routes/action.ts) accepts only these names, src/client/types.ts fails to compile
 * unless every name has schemas, and test/client/sdk.test.ts checks that every name has
 * a registered route.
 */
export const actionNames = [
  'session_new', 'session_exists', 'session_delete', 'session_delete_user', 'session_list', 'session_edit',
  'user_new', 'user_verify_email', 'user_login', 'user_logout', 'user_passcheck', 'user_passcheck_nosession',
  'user_changepass', 'user_resetpass_token', 'user_resetpass', 'user_edit', 'user_lock', 'user_delete',
  'user_get', 'user_list',
  'issue_apikey', 'verify_apikey', 'revoke_apikey', 'revoke_all_apikeys', 'list_apikeys',
  'issue_apikey_nosession', 'refresh_apikey',
  'check_access', 'check_limit', 'policy_get', 'audit_query',
] as const;

export type ActionName = (typeof actionNames)[number];

const known: ReadonlySet<string> = new Set(actionNames);

export function isActionName(name: string): name is ActionName {
  return known.has(name);
}
