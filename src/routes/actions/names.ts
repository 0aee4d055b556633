import { apikeySchemas } from './apikeys.js';
import { auditSchemas } from './audit.js';
import { loginSchemas } from './login.js';
import { passwordSchemas } from './passwords.js';
import { policySchemas } from './policy.js';
import { sessionSchemas } from './sessions.js';
import { userSchemas } from './users.js';

/**
 * Every action the service serves (POST /v1/<name>): the keys of the schema tables the action
 * routes are registered from. What `authnzd client add --actions` accepts; the SDK's list and the
 * served routes are checked against the same tables (src/client/types.ts, test/client/sdk.test.ts).
 */
export const actionNames: readonly string[] = Object.keys({
  ...apikeySchemas, ...auditSchemas, ...loginSchemas, ...passwordSchemas, ...policySchemas, ...sessionSchemas, ...userSchemas,
});
