/*
 * Domain records as every store implementation returns them. Times are epoch milliseconds.
 * The SQLite row types are the reference shape; other dialects map their rows onto them.
 */
export type {
  ClientRow as Client,
  UserRow as User,
  SessionRow as Session,
  UserTokenRow as UserToken,
  ApiKeyRow as ApiKey,
  RefreshTokenRow as RefreshToken,
  KeyringRow as KeyringEntry,
  AuditRow as AuditEntry,
} from './sqlite/schema.js';

/** One audit row to write in the same transaction as the change it records (SPEC §7). */
export interface AuditEvent {
  event: string;
  outcome: 'success' | 'failure';
  requestId?: string | null;
  client?: string | null;
  actorUserId?: number | null;
  targetUserId?: number | null;
  subject?: string | null;
  details?: Record<string, unknown>;
}
