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

/**
 * An ISO 8601 / RFC 3339 time as the docs promise: `YYYY-MM-DD` (UTC midnight) or a date and
 * time (`T` or a space between) with `Z`, a `±HH:MM` / `±HHMM` offset or no zone (UTC, as every
 * time in answers), seconds and fractions optional; years as `YYYY` or, as toISOString writes
 * them beyond 0000–9999, `±YYYYYY`. Date.parse alone took anything V8 can
 * read ("1", "x 2020", "March 7, 2020"), rolled 2026-02-30 over to March, and read a time
 * without an offset in the server's own zone.
 */
const ISO_TIME = /^(?<year>\d{4}|[+-]\d{6})-(?<month>\d{2})-(?<day>\d{2})(?:[Tt ](?<hour>\d{2}):(?<minute>\d{2})(?::(?<second>\d{2})(?:\.(?<fraction>\d+))?)?(?:[Zz]|(?<sign>[+-])(?<offsetHours>\d{2}):?(?<offsetMinutes>\d{2}))?)?$/;

function parseIsoTime(v: string): number | undefined {
  const g = ISO_TIME.exec(v)?.groups;
  if (!g) return undefined;
  const num = (x: string | undefined) => (x === undefined ? 0 : Number(x));
  const [year, month, day] = [num(g.year), num(g.month), num(g.day)];
  const [hour, minute, second] = [num(g.hour), num(g.minute), num(g.second)];
  const [offsetHours, offsetMinutes] = [num(g.offsetHours), num(g.offsetMinutes)];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return undefined;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  if (day < 1 || d.getUTCMonth() !== month - 1) return undefined;
  d.setUTCHours(hour, minute, second, g.fraction === undefined ? 0 : Number(g.fraction.slice(0, 3).padEnd(3, '0')));
  const offset = (g.sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
  const t = d.getTime() - offset * 60_000;
  // Beyond the years a Date holds (±275,760): not a time Date.parse gives either.
  return Number.isNaN(t) || g.year === '-000000' ? undefined : t;
}

const parseTime = (field: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const t = parseIsoTime(v);
  if (t === undefined) throw new ApiError('invalid_request', `${field} is not an ISO 8601 time`, { details: [{ path: `/${field}`, message: 'must be an ISO 8601 time (YYYY-MM-DD, or a date and time with Z or an offset)' }] });
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
