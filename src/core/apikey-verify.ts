import { isoTime } from '../clock.js';
import { MAX_APIKEY_LENGTH, openApiKey, openApiKeyNow, type Claims, type OpenResult } from '../crypto/envelope.js';
import { roleLimit } from '../policy/evaluate.js';
import type { ApiKeyDeps } from './apikeys.js';
import { ipAllowed, userAgentHash } from './ip-binding.js';
import { hashToken, safeEqual } from './tokens.js';
import type { OpenedKey } from './verify-cache.js';
import type { ApiKeyVerifyRow } from '../db/store/apikeys.js';
import type { ReadStamp } from '../db/store.js';
import type { LimitResult } from '../ratelimit/limiter.js';

/*
 * verify_apikey (SPEC §4.2, §4.3). Reasons are checked in the order of the SPEC. The hot path
 * does one cached-or-computed decrypt+verify, one indexed read (key joined with its owner), no
 * write: usage goes to the buffer. Revocation and owner state come from the store on every
 * verify; the SQLite store may answer from its read memo, which any write by any connection
 * invalidates before the next verify (db/sqlite/read-memo.ts).
 */

export type VerifyReason =
  | 'malformed' | 'invalid' | 'not_yet_valid' | 'expired' | 'revoked' | 'user_inactive' | 'ip_mismatch'
  | 'user_agent_mismatch' | 'audience_mismatch' | 'subject_mismatch' | 'version_mismatch' | 'insufficient_scope'
  | 'rate_limited';

export interface VerifyRequest {
  apikey: string;
  ipAddress: string;
  userAgent: string;
  audience?: string;
  subject?: string;
  apiVersion?: string | number;
  scope?: string;
  /** The request's change stamp (`FastifyRequest.readStamp`), for the memoised read. */
  at?: ReadStamp;
}

export interface VerifiedKey {
  key_id: string;
  kind: 'session' | 'standalone';
  user_id: number;
  role: string;
  scopes: string[];
  audience: string;
  subject: string | string[];
  api_version: string | number;
  /** ISO 8601. */
  expires_at: string;
}

export type VerifyResult =
  | { valid: true; key: VerifiedKey }
  | { valid: false; reason: VerifyReason; retryAfter?: number };

const no = (reason: VerifyReason): VerifyResult => ({ valid: false, reason });
const MALFORMED = no('malformed');

/** Revocations made by an owner's lock, deletion or deactivation (the users stores). */
const ownerCascades = new Set(['user_locked', 'user_deleted', 'user_deactivated']);

type OpenOutcome = { ok: true; key: OpenedKey } | Exclude<OpenResult, { ok: true }>;

/** A successful open is kept in the verify cache (keyed by the whole key string). */
function remember(deps: Pick<ApiKeyDeps, 'cache' | 'now'>, apikey: string, opened: OpenResult): OpenOutcome {
  if (!opened.ok) return opened;
  const key: OpenedKey = { claims: opened.claims, tknHash: hashToken(opened.claims.tkn), expiresIso: isoTime(opened.claims.exp * 1000) };
  deps.cache.set(apikey, key, deps.now());
  return { ok: true, key };
}

/**
 * Decrypt + verify through the cache, without a promise: undefined when the open must wait (a
 * key not loaded here yet, an asymmetric signature); `openCached` then does it.
 */
export function openCachedNow(deps: Pick<ApiKeyDeps, 'keyring' | 'cache' | 'now'>, apikey: string): OpenOutcome | undefined {
  const hit = deps.cache.get(apikey, deps.now());
  if (hit) return { ok: true, key: hit };
  const opened = openApiKeyNow(apikey, deps.keyring);
  return opened && remember(deps, apikey, opened);
}

/** Decrypt + verify, through the cache keyed by the whole key string. */
export async function openCached(deps: Pick<ApiKeyDeps, 'keyring' | 'cache' | 'now'>, apikey: string): Promise<OpenOutcome> {
  const hit = deps.cache.get(apikey, deps.now());
  if (hit) return { ok: true, key: hit };
  return remember(deps, apikey, await openApiKey(apikey, deps.keyring));
}

function subjectMatches(sub: Claims['sub'], wanted: string): boolean {
  return Array.isArray(sub) ? sub.includes(wanted) : sub === wanted;
}

/** What the claims alone refuse, before any read: not valid yet, or expired. */
function timeRefusal(c: Claims, now: number): VerifyResult | undefined {
  if (c.nbf * 1000 > now) return no('not_yet_valid');
  if (c.exp * 1000 <= now) return no('expired');
  return undefined;
}

/** The checks after the read, in SPEC order up to the rate limit; undefined when all pass. */
function refusal(opened: OpenedKey, row: ApiKeyVerifyRow | undefined, req: VerifyRequest): VerifyResult | undefined {
  const c = opened.claims;
  // The row's verdict depends on the row and the claims only. A store that keeps rows (SQLite's
  // read memo) hands out the same frozen object until anything is written: the object this key
  // already passed with needs no second look. A new object (any write, PostgreSQL) is checked.
  if (row === undefined || row !== opened.rowPassed) {
    if (!row || !safeEqual(row.tokenHash, opened.tknHash)) return no('revoked');
    const ownerInactive = row.userRole === null || !row.userActive || row.userLocked || row.userRole !== c.rol;
    if (row.revokedAt !== null) {
      // Locking or deleting the owner revokes the key (SPEC §4.2), and deactivating the owner ends
      // its sessions with their keys; while the owner is still locked, gone or inactive, the
      // reason the caller sees is the owner's state, as SPEC's reason list says.
      return no(ownerInactive && ownerCascades.has(row.revokedReason ?? '') ? 'user_inactive' : 'revoked');
    }
    if (ownerInactive) return no('user_inactive');
    if (Object.isFrozen(row)) opened.rowPassed = row;
  }

  if (!ipAllowed(c.ipa, req.ipAddress)) return no('ip_mismatch');
  if (c.usa !== undefined && req.userAgent !== opened.userAgentSeen) {
    if (!safeEqual(c.usa, userAgentHash(req.userAgent))) return no('user_agent_mismatch');
    opened.userAgentSeen = req.userAgent;
  }
  if (req.audience !== undefined && req.audience !== c.aud) return no('audience_mismatch');
  if (req.subject !== undefined && !subjectMatches(c.sub, req.subject)) return no('subject_mismatch');
  if (req.apiVersion !== undefined && String(req.apiVersion) !== String(c.ver)) return no('version_mismatch');
  if (req.scope !== undefined && !(c.scp ?? []).includes(req.scope)) return no('insufficient_scope');
  return undefined;
}

/** The key's per-minute verify limit from its role's policy, when there is a limiter and a limit. */
function limitOf(deps: ApiKeyDeps, c: Claims): number | undefined {
  return deps.limiter ? roleLimit(deps.policy(), c.rol, 'max_requests_per_minute') : undefined;
}

const limitWindowMs = 60_000;

function rateLimited(hit: LimitResult): VerifyResult {
  return { valid: false, reason: 'rate_limited', retryAfter: Math.max(1, Math.ceil(hit.resetMs / 1000)) };
}

/** Valid: the use is counted (buffered) and the key described. */
function accept(deps: ApiKeyDeps, opened: OpenedKey, now: number): VerifyResult {
  const c = opened.claims;
  deps.usage.record(c.jti, now);
  // The same for every valid verify of this key: built once, frozen, shared (less garbage).
  return (opened.accepted ??= Object.freeze({
    valid: true,
    key: Object.freeze({
      key_id: c.jti, kind: c.knd, user_id: c.uid, role: c.rol, scopes: c.scp ?? [], audience: c.aud,
      subject: c.sub, api_version: c.ver, expires_at: opened.expiresIso,
    }),
  } as const));
}

/**
 * The whole verify without a promise, when it can be: a key that opens at once (cached, or keys
 * loaded and HS256), a store that reads at once (SQLite) and a limiter that counts at once
 * (memory). Undefined when any of them needs to wait; nothing has been counted or recorded then
 * (an open may have been cached), and `verifyApiKey` does it all. On the default setup no verify
 * waits, new key or repeat: no promise, no microtask (issue 7).
 */
export function verifyApiKeyNow(deps: ApiKeyDeps, req: VerifyRequest): VerifyResult | undefined {
  // No schema bound on the key (a 400 would say the call was wrong): longer than any key is malformed.
  if (req.apikey.length > MAX_APIKEY_LENGTH) return MALFORMED;
  const read = deps.store.apikeys.getForVerifyNow;
  if (read === undefined) return undefined;
  const result = openCachedNow(deps, req.apikey);
  if (result === undefined) return undefined;
  if (!result.ok) return no(result.reason);
  const opened = result.key;
  const now = deps.now();
  const c = opened.claims;
  const max = limitOf(deps, c);
  if (max !== undefined && deps.limiter!.hitNow === undefined) return undefined;
  const early = timeRefusal(c, now) ?? refusal(opened, read(c.jti, req.at), req);
  if (early !== undefined) return early;
  if (max !== undefined) {
    const hit = deps.limiter!.hitNow!(limitKey(opened), max, limitWindowMs, now);
    if (!hit.allowed) return rateLimited(hit);
  }
  return accept(deps, opened, now);
}

const limitKey = (opened: OpenedKey) => (opened.limitKey ??= `verify:${opened.claims.jti}`);

export async function verifyApiKey(deps: ApiKeyDeps, req: VerifyRequest): Promise<VerifyResult> {
  if (req.apikey.length > MAX_APIKEY_LENGTH) return MALFORMED;
  const result = await openCached(deps, req.apikey);
  if (!result.ok) return no(result.reason);
  const opened = result.key;
  const c = opened.claims;
  const now = deps.now();
  const early = timeRefusal(c, now);
  if (early !== undefined) return early;
  const refused = refusal(opened, await deps.store.apikeys.getForVerify(c.jti, req.at), req);
  if (refused !== undefined) return refused;
  const max = limitOf(deps, c);
  if (max !== undefined) {
    const key = limitKey(opened);
    const hit = deps.limiter!.hitNow?.(key, max, limitWindowMs, now) ?? await deps.limiter!.hit(key, max, limitWindowMs, now);
    if (!hit.allowed) return rateLimited(hit);
  }
  return accept(deps, opened, now);
}
