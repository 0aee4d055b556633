import type { AuditEntry, AuditEvent } from '../types.js';

export interface AuditFilter {
  event?: string;
  actorUserId?: number;
  targetUserId?: number;
  subject?: string;
  since?: number;
  until?: number;
  /** Return rows with id below this (newest first paging). */
  beforeId?: number;
  limit: number;
}

export interface AuditStore {
  /** Standalone audit row (for events that change nothing else, e.g. a failed login of an unknown email). */
  append(event: AuditEvent, now: number): Promise<void>;
  query(filter: AuditFilter): Promise<AuditEntry[]>;
}
