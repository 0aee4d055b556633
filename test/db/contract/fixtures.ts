import type { Test } from 'tap';
import type { Store } from '../../../src/db/store.js';
import type { NewApiKey, NewRefreshToken } from '../../../src/db/store/apikeys.js';
import type { NewSession } from '../../../src/db/store/sessions.js';
import type { NewUser, NewUserToken } from '../../../src/db/store/users.js';
import type { AuditEvent } from '../../../src/db/types.js';

export interface ContractTarget {
  dialect: Store['dialect'];
  /**
   * A store on a fresh, empty, migrated database, and a way to open another store on the same
   * database (a second instance, with its own connections). Both are closed by the target.
   * `refuseAudit` installs a trigger that fails every insert of an audit row whose event is
   * `boom` (the way to prove that a change and its audit row commit together or not at all).
   */
  fresh(t: Test): Promise<{ store: Store; another(): Promise<Store>; refuseAudit(): Promise<void> }>;
}

/** A fixed instant with milliseconds, so a dialect that loses precision fails. */
export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0) + 123;
export const HOUR = 3600_000;

export const ev = (event: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({ event, outcome: 'success', ...extra });

/** The pattern a ConflictError (db/errors.ts) on `constraint` matches. */
export const conflict = (constraint: string) => ({ name: 'ConflictError', constraint });

export function newUser(n: number, over: Partial<NewUser> = {}): NewUser {
  return {
    systemId: `sys-${n}`, email: `user${n}@example.test`, fullName: `User ${n}`, passwordHash: '$argon2id$x',
    role: 'authenticated', isActive: true, emailVerified: false, extra: { n, nested: { a: [1, 'b'] } }, createdAt: T0, ...over,
  };
}

export function newSession(n: number | string, userId: number, over: Partial<NewSession> = {}): NewSession {
  return {
    id: `ses_${n}`, tokenHash: `hash-session-${n}`, userId, ipAddress: '192.0.2.1', userAgent: 'ua/1',
    extra: { k: n }, createdAt: T0, expiresAt: T0 + HOUR, ...over,
  };
}

export function newToken(n: number | string, over: Partial<NewUserToken> = {}): NewUserToken {
  return { tokenHash: `hash-token-${n}`, purpose: 'verify_email', createdAt: T0, expiresAt: T0 + HOUR, ...over };
}

/** Rows of `event` in the audit log, oldest first. */
export async function audits(store: Store, event: string) {
  return (await store.audit.query({ event, limit: 1000 })).reverse();
}

export function newKey(id: string, userId: number, over: Partial<NewApiKey> = {}): NewApiKey {
  return {
    id, tokenHash: `hash-${id}`, kind: 'standalone', userId, role: 'authenticated', sessionId: null, familyId: null,
    audience: 'api.example.test', subject: ['/a', '/b'], apiVersion: '1', scopes: ['read'], bindIp: ['192.0.2.0/24'],
    bindUserAgent: 'ua/1', issuedAt: T0, notBefore: T0, expiresAt: T0 + HOUR, ...over,
  };
}

export function newRefresh(n: number | string, apiKeyId: string, familyId: string, userId: number, over: Partial<NewRefreshToken> = {}): NewRefreshToken {
  return { tokenHash: `hash-refresh-${n}`, familyId, apiKeyId, userId, createdAt: T0, notBefore: T0, expiresAt: T0 + 24 * HOUR, ...over };
}

/** The audit event `refuseAudit` makes fail. */
export const BOOM = 'boom';
