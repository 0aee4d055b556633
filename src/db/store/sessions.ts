import type { Session, AuditEvent } from '../types.js';

export interface NewSession {
  id: string;
  tokenHash: string;
  userId: number;
  ipAddress: string;
  userAgent: string;
  extra: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
}

export interface SessionStore {
  create(session: NewSession, audit?: AuditEvent): Promise<Session>;
  /** The session whose token hashes to `tokenHash`, expired or not (callers check `expiresAt`). */
  getByTokenHash(tokenHash: string): Promise<Session | undefined>;
  /** Deletes the session (and revokes its session-bound API keys). False if it did not exist. */
  delete(id: string, now: number, audit?: AuditEvent): Promise<boolean>;
}
