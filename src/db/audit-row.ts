import type { AuditEvent } from './types.js';

/** The audit_log row of one event, the same for every dialect (optional fields become null). */
export function auditRow(event: AuditEvent, now: number) {
  return {
    at: now,
    event: event.event,
    outcome: event.outcome,
    requestId: event.requestId ?? null,
    client: event.client ?? null,
    actorUserId: event.actorUserId ?? null,
    targetUserId: event.targetUserId ?? null,
    subject: event.subject ?? null,
    details: event.details ?? {},
  };
}
