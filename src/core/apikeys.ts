import type { Claims } from '../crypto/envelope.js';
import { MAX_ISSUED_APIKEY_LENGTH, sealApiKey } from '../crypto/envelope.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Store } from '../db/store.js';
import type { NewApiKey } from '../db/store/apikeys.js';
import type { ApiKey, AuditEvent, User } from '../db/types.js';
import { ApiError } from '../errors.js';
import type { Limiter } from '../ratelimit/limiter.js';
import { evaluateAccess, type Policy } from '../policy/evaluate.js';
import { bindIpColumn, resolveBinding, type BindRequest } from './ip-binding.js';
import { requireSession, userIsUsable } from './sessions.js';
import { hashToken, newId, newToken } from './tokens.js';
import type { UsageBuffer } from './usage-buffer.js';
import type { VerifyCache } from './verify-cache.js';

/*
 * API keys (SPEC §4): issue, revoke, list. Verify is in apikey-verify.ts, refresh in
 * apikey-refresh.ts. The key itself is never stored: the database keeps the claims that matter
 * for revocation and listing, and the SHA-256 of the random `tkn` claim.
 */

export const ISSUER = 'authnzd';

export interface ApiKeyDeps {
  store: Store;
  keyring: Keyring;
  now(): number;
  cache: VerifyCache;
  usage: UsageBuffer;
  policy(): Policy;
  limiter: Limiter | undefined;
}

/** Who asked, for audit rows. */
export type AuditContext = Pick<AuditEvent, 'requestId' | 'client'>;

export interface KeySpec {
  owner: User;
  kind: 'session' | 'standalone';
  sessionId?: string;
  familyId?: string;
  ipAddress: string;
  userAgent?: string;
  audience: string;
  subject: string | string[];
  apiVersion: string | number;
  /** Seconds. */
  expiresIn: number;
  notBefore?: number;
  /** Epoch ms the key may not outlive (its session's expiry). */
  notAfter?: number;
  scopes?: string[];
  bind?: BindRequest;
}

/** Builds the claims and the database row of a new key, and seals the key string. */
export async function mintApiKey(deps: Pick<ApiKeyDeps, 'keyring' | 'now'>, spec: KeySpec): Promise<{ apikey: string; row: NewApiKey; claims: Claims }> {
  const iat = Math.floor(deps.now() / 1000);
  const nbf = iat + (spec.notBefore ?? 0);
  let exp = iat + spec.expiresIn;
  if (spec.notAfter !== undefined) exp = Math.min(exp, Math.floor(spec.notAfter / 1000));
  if (nbf >= exp) throw neverValid('API key', exp < iat + spec.expiresIn ? "the session's expiry, which caps the key" : 'expires_in');
  const { ipa, usa } = resolveBinding(spec.bind, spec.ipAddress, spec.userAgent);
  // Optional claims are assigned, not spread in: spreads on this path cost microseconds a key.
  const claims: Claims = {
    jti: newId('key_'), tkn: newToken(), knd: spec.kind, iss: ISSUER, aud: spec.audience, sub: spec.subject,
    ver: spec.apiVersion, uid: spec.owner.id, rol: spec.owner.role, iat, nbf, exp,
  };
  if (spec.scopes) claims.scp = spec.scopes;
  if (ipa !== undefined) claims.ipa = ipa;
  if (usa !== undefined) claims.usa = usa;
  // A rotation by another process (`keys rotate`) issues from the next key on (SPEC §4.1).
  await deps.keyring.reloadIfChanged();
  const apikey = await sealApiKey(claims, deps.keyring);
  const row: NewApiKey = {
    id: claims.jti, tokenHash: hashToken(claims.tkn), kind: spec.kind, userId: spec.owner.id, role: spec.owner.role,
    sessionId: spec.sessionId ?? null, familyId: spec.familyId ?? null, audience: spec.audience, subject: spec.subject,
    apiVersion: encodeApiVersion(spec.apiVersion), scopes: spec.scopes ?? null, bindIp: bindIpColumn(ipa), bindUserAgent: usa ?? null,
    issuedAt: iat * 1000, notBefore: nbf * 1000, expiresAt: exp * 1000,
  };
  return { apikey, row, claims };
}

/** 400 for a key longer than verify_apikey takes (many long subjects, scopes or CIDR blocks). */
export function refuseOversized(apikey: string): void {
  if (apikey.length <= MAX_ISSUED_APIKEY_LENGTH) return;
  const message = `the API key would be ${apikey.length} characters, longer than ${MAX_ISSUED_APIKEY_LENGTH}: give fewer or shorter subject, scopes or bind.ip entries`;
  throw new ApiError('invalid_request', `The API key would be longer than verify_apikey takes: ${message}.`, { details: [{ path: '/', message }] });
}

/** 400 for a key or refresh token that could never be used: `not_before` at or after its end. */
export function neverValid(what: 'API key' | 'refresh token', end: string): ApiError {
  const message = `not_before must be earlier than ${end}`;
  return new ApiError('invalid_request', `The ${what} could never be used: ${message}.`, { details: [{ path: '/not_before', message }] });
}

/**
 * `api_version` is a string or an integer on the wire (SPEC §4.2); the text column keeps which,
 * as JSON, so `list_apikeys` answers the value the key was issued with.
 */
export function encodeApiVersion(v: string | number): string {
  return JSON.stringify(v);
}

export function decodeApiVersion(stored: string): string | number {
  try {
    const v: unknown = JSON.parse(stored);
    if (typeof v === 'string' || Number.isSafeInteger(v)) return v as string | number;
  } catch {
    // a bare string written before the encoding: the value itself
  }
  return stored;
}

/** 403 `permission_denied` unless the policy lets `actor` do `action` on an `apikey` owned by `ownerId`. */
export function authorize(deps: Pick<ApiKeyDeps, 'policy'>, actor: User, action: 'create' | 'delete' | 'list', ownerId: number): void {
  const decision = userIsUsable(actor)
    ? evaluateAccess(deps.policy(), { actorId: actor.id, role: actor.role, action, item: 'apikey', ownerId, visibility: 'private' })
    : { allowed: false as const, reason: 'user_inactive' };
  if (!decision.allowed) throw new ApiError('permission_denied', `The policy does not let this user ${action} this API key (${decision.reason}).`);
}

export interface IssueRequest {
  sessionToken: string;
  ipAddress: string;
  userAgent: string;
  audience: string;
  subject: string | string[];
  apiVersion: string | number;
  expiresIn: number;
  notBefore?: number;
  scopes?: string[];
  bind?: BindRequest;
}

/** issue_apikey: a session key for the session's user, who must be allowed to `create` an `apikey`. */
export async function issueSessionKey(deps: ApiKeyDeps, req: IssueRequest, audit: AuditContext) {
  const { session, user } = await requireSession(deps.store, req.sessionToken, deps.now(), { ipAddress: req.ipAddress, userAgent: req.userAgent });
  authorize(deps, user, 'create', user.id);
  const { apikey, row } = await mintApiKey(deps, {
    owner: user, kind: 'session', sessionId: session.id, notAfter: session.expiresAt, ipAddress: req.ipAddress, userAgent: req.userAgent,
    audience: req.audience, subject: req.subject, apiVersion: req.apiVersion, expiresIn: req.expiresIn, notBefore: req.notBefore,
    scopes: req.scopes, bind: req.bind,
  });
  refuseOversized(apikey);
  // The session may have ended while the key was made (logout, lock, password change): the
  // store inserts a session key only while its session exists.
  if (!(await deps.store.apikeys.create(row, undefined, issueAudit(row, user.id, audit)))) throw new ApiError('invalid_session');
  return { apikey, keyId: row.id, expiresAt: row.expiresAt, notBefore: row.notBefore };
}

export function issueAudit(row: NewApiKey, actorUserId: number | null, audit: AuditContext): AuditEvent {
  const details: Record<string, unknown> = { kind: row.kind, audience: row.audience, expires_at: new Date(row.expiresAt).toISOString() };
  if (row.familyId) details.family_id = row.familyId;
  return {
    requestId: audit.requestId, client: audit.client, event: 'apikey_issue', outcome: 'success', actorUserId, targetUserId: row.userId,
    subject: row.id, details,
  };
}

/** revoke_apikey: the owner (policy `delete` on own keys) or someone allowed to `delete` others' keys. */
export async function revokeKey(deps: ApiKeyDeps, req: { sessionToken: string; keyId: string; reason?: string }, audit: AuditContext): Promise<void> {
  const { user } = await requireSession(deps.store, req.sessionToken, deps.now());
  const key = await deps.store.apikeys.getById(req.keyId);
  if (!key) throw new ApiError('not_found', 'No such API key.');
  authorize(deps, user, 'delete', key.userId);
  await deps.store.apikeys.revoke(key.id, deps.now(), req.reason ?? 'revoked', {
    ...audit, event: 'apikey_revoke', outcome: 'success', actorUserId: user.id, targetUserId: key.userId, subject: key.id,
    details: { reason: req.reason ?? 'revoked' },
  });
}

/** revoke_all_apikeys: every live key of the actor, or of `targetUserId` when the policy allows. */
export async function revokeAllKeys(deps: ApiKeyDeps, req: { sessionToken: string; targetUserId?: number }, audit: AuditContext): Promise<number> {
  const { user } = await requireSession(deps.store, req.sessionToken, deps.now());
  const target = req.targetUserId ?? user.id;
  // The policy first: a user who may not name other users learns nothing about which ids exist.
  authorize(deps, user, 'delete', target);
  if (target !== user.id && !(await deps.store.users.getById(target))) throw new ApiError('not_found', `No user ${target}.`);
  return deps.store.apikeys.revokeAllOfUser(target, deps.now(), 'revoked_all', {
    ...audit, event: 'apikey_revoke_all', outcome: 'success', actorUserId: user.id, targetUserId: target,
  });
}

/** list_apikeys: the actor's keys, or another user's when the policy allows `list` on them. */
export async function listKeys(deps: ApiKeyDeps, req: { sessionToken: string; targetUserId?: number }): Promise<ApiKey[]> {
  const { user } = await requireSession(deps.store, req.sessionToken, deps.now());
  const target = req.targetUserId ?? user.id;
  authorize(deps, user, 'list', target);
  if (target !== user.id && !(await deps.store.users.getById(target))) throw new ApiError('not_found', `No user ${target}.`);
  return deps.store.apikeys.listByUser(target);
}
