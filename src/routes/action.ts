import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Static, TSchema } from 'typebox';
import type { ActionName } from '../actions.js';
import { ErrorBody } from '../schemas.js';

export type ActionRequest<B extends TSchema> = FastifyRequest<{ Body: Static<B> }>;

export interface ActionSpec<B extends TSchema, R extends TSchema> {
  /** The action name: the route is POST /v1/<name>, and the name is what client lists hold. */
  name: ActionName;
  summary: string;
  body: B;
  response: R;
  /** Success status (201 for actions that create). */
  status?: 200 | 201;
  /** The answer, or a promise of it (a handler that can answer at once skips the promise). */
  handler: (req: ActionRequest<B>, reply: FastifyReply) => Static<R> | Promise<Static<R>>;
}

/**
 * Registers one action. The body schema rejects unknown fields and wrong types (Ajv is set to
 * neither strip nor coerce); the response schema is the serializer, so fields not listed there
 * (hashes, secrets) can never reach the wire.
 */
export function registerAction<B extends TSchema, R extends TSchema>(app: FastifyInstance, spec: ActionSpec<B, R>): void {
  const status = spec.status ?? 200;
  app.post(`/${spec.name}`, {
    config: { action: spec.name },
    schema: {
      summary: spec.summary,
      tags: [spec.name.split('_')[0]!],
      security: [{ clientSecret: [] }],
      body: spec.body,
      response: { [status]: spec.response, '4xx': ErrorBody, '5xx': ErrorBody },
    },
  }, status === 200
    ? (spec.handler as (req: FastifyRequest, reply: FastifyReply) => Static<R> | Promise<Static<R>>)
    : (req, reply) => {
        reply.code(status);
        return spec.handler(req as ActionRequest<B>, reply);
      });
}
