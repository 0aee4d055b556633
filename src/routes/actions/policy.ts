import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { isoTime } from '../../clock.js';
import { checkAccess, checkUserLimit } from '../../core/access.js';
import { PolicyDocument } from '../../policy/schema.js';
import { Timestamp, UserId } from '../../schemas.js';
import { registerAction } from '../action.js';

const PolicyName = Type.String({ minLength: 1, maxLength: 128 });
const Reason = Type.String({ description: 'Why the answer is no (docs/policy.md lists the codes)' });

/** The request and answer schemas of the policy actions (also the SDK's types: src/client/types.ts). */
export const policySchemas = {
  check_access: {
    body: Type.Object({
      user_id: UserId,
      action: PolicyName,
      item: PolicyName,
      owner_id: UserId,
      visibility: PolicyName,
      shared_with: Type.Optional(Type.Array(UserId, { maxItems: 1000 })),
    }, { additionalProperties: false }),
    response: Type.Object({ allowed: Type.Boolean(), reason: Type.Optional(Reason) }),
  },
  check_limit: {
    body: Type.Object({ user_id: UserId, limit_name: PolicyName, value: Type.Number() }, { additionalProperties: false }),
    response: Type.Object({ within: Type.Boolean(), limit: Type.Optional(Type.Number()), reason: Type.Optional(Reason) }),
  },
  policy_get: {
    body: Type.Object({}, { additionalProperties: false }),
    response: Type.Object({
      policy: PolicyDocument,
      sha256: Type.String(),
      loaded_at: Timestamp,
      source: Type.String(),
      error: Type.Optional(Type.String({ description: 'Why the file on disk was refused; the policy shown stays in force' })),
    }),
  },
};

/** Permission decisions from permissions.json (SPEC §5). Yes/no answers are 200 with a reason. */
export default async function policyActions(app: FastifyInstance): Promise<void> {
  registerAction(app, {
    name: 'check_access',
    summary: 'May this user do this action on this item?',
    body: policySchemas.check_access.body,
    response: policySchemas.check_access.response,
    handler: async (req) => {
      const b = req.body;
      return checkAccess(app.store, app.policy.current().policy, {
        userId: b.user_id, action: b.action, item: b.item, ownerId: b.owner_id, visibility: b.visibility, sharedWith: b.shared_with, at: req.readStamp,
      });
    },
  });

  registerAction(app, {
    name: 'check_limit',
    summary: "Is a value within the user's role limit?",
    body: policySchemas.check_limit.body,
    response: policySchemas.check_limit.response,
    handler: async (req) => checkUserLimit(app.store, app.policy.current().policy, req.body.user_id, req.body.limit_name, req.body.value),
  });

  registerAction(app, {
    name: 'policy_get',
    summary: 'The policy in force, its hash, when and from where it was loaded, and any refused edit',
    body: policySchemas.policy_get.body,
    response: policySchemas.policy_get.response,
    handler: async () => {
      const { policy, sha256, loadedAt, source } = app.policy.current();
      const error = app.policy.lastError();
      return { policy: policy.document, sha256, loaded_at: isoTime(loadedAt), source, ...(error ? { error } : {}) };
    },
  });
}
