import type { Static, TSchema } from 'typebox';
import type { apikeySchemas } from '../routes/actions/apikeys.js';
import type { auditSchemas } from '../routes/actions/audit.js';
import type { loginSchemas } from '../routes/actions/login.js';
import type { passwordSchemas } from '../routes/actions/passwords.js';
import type { policySchemas } from '../routes/actions/policy.js';
import type { sessionSchemas } from '../routes/actions/sessions.js';
import type { userSchemas } from '../routes/actions/users.js';
import type { ActionName } from './sdk.js';

/**
 * The SDK's request and answer types, derived from the very schemas the service validates
 * requests and serializes answers with (src/routes/actions/*.ts), so they cannot drift apart.
 * Type-only imports: the SDK carries no server code at run time.
 */
type Schemas = typeof apikeySchemas & typeof auditSchemas & typeof loginSchemas & typeof passwordSchemas
  & typeof policySchemas & typeof sessionSchemas & typeof userSchemas;

/** Fails to compile if an action of `actionNames` has no schemas, or a schema no action name. */
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const everyActionTyped: Exactly<keyof Schemas, ActionName> = true;
void everyActionTyped;

type Entry<A extends ActionName> = Schemas[A] extends { body: infer B extends TSchema; response: infer R extends TSchema } ? { body: B; response: R } : never;

/** The request body of `action`, e.g. `ActionBody<'verify_apikey'>`. */
export type ActionBody<A extends ActionName> = Static<Entry<A>['body']>;
/** The success answer of `action`, e.g. `ActionAnswer<'verify_apikey'>` (`{valid, reason?, retry_after?, key?}`). */
export type ActionAnswer<A extends ActionName> = Static<Entry<A>['response']>;
