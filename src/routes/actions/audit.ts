import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { isoTime } from '../../clock.js';
import { ApiError } from '../../errors.js';
import { Timestamp, UserId } from '../../schemas.js';
import { registerAction } from '../action.js';

const AuditEntry = Type.Object({
  id: Type.Integer(),
  at: Timestamp,
  event: Type.String(),
  outcome: Type.String(),
  request_id: Type.Union([Type.String(), Type.Null()]),
  client: Type.Union([Type.String(), Type.Null()]),
  actor_user_id: Type.Union([Type.Integer(), Type.Null()]),
  target_user_id: Type.Union([Type.Integer(), Type.Null()]),
  subject: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
});

const parseTime = (field: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new ApiError('invalid_request', `${field} is not an ISO 8601 time`, { details: [{ path: `/${field}`, message: 'must be an ISO 8601 time' }] });
  return t;
};

/** The request and answer schemas of the audit actions (also the SDK's types: src/client/types.ts). */
export const auditSchemas = {
  audit_query: {
    body: Type.Object({
      event: Type.Optional(Type.String({ maxLength: 64 })),
      actor_user_id: Type.Optional(UserId),
      target_user_id: Type.Optional(UserId),
      subject: Type.Optional(Type.String({ maxLength: 256 })),
      since: Type.Optional(Type.String({ maxLength: 40 })),
      until: Type.Optional(Type.String({ maxLength: 40 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
      cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
    }, { additionalProperties: false }),
    response: Type.Object({ events: Type.Array(AuditEntry), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
  },
};

/** The audit log (SPEC §7), newest first. Restrict it to admin clients via their action list. */
export default async function auditActions(app: FastifyInstance): Promise<void> {
  registerAction(app, {
    name: 'audit_query',
    summary: 'Read the audit log with filters, newest first, paged by cursor',
    body: auditSchemas.audit_query.body,
    response: auditSchemas.audit_query.response,
    handler: async (req) => {
      const b = req.body;
      const limit = b.limit ?? 100;
      const rows = await app.store.audit.query({
        event: b.event, actorUserId: b.actor_user_id, targetUserId: b.target_user_id, subject: b.subject,
        since: parseTime('since', b.since), until: parseTime('until', b.until),
        // One row more than asked tells whether another page follows (no cursor to an empty page).
        beforeId: b.cursor === undefined ? undefined : Number(b.cursor), limit: limit + 1,
      });
      const more = rows.length > limit;
      if (more) rows.length = limit;
      return {
        events: rows.map((r) => ({
          id: r.id, at: isoTime(r.at), event: r.event, outcome: r.outcome, request_id: r.requestId, client: r.client,
          actor_user_id: r.actorUserId, target_user_id: r.targetUserId, subject: r.subject, details: r.details,
        })),
        next_cursor: more ? String(rows[rows.length - 1]!.id) : null,
      };
    },
  });
}
