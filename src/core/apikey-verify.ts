import { isoTime } from '../clock.js';
import { openApiKey, type Claims, type OpenResult } from '../crypto/envelope.js';
import { roleLimit } from '../policy/evaluate.js';
import type { ApiKeyDeps } from './apikeys.js';
import { ipAllowed, userAgentHash } from './ip-binding.js';
import { hashToken, safeEqual } from './tokens.js';
import type { OpenedKey } from './verify-cache.js';

/*
 * verify_apikey (SPEC §4.2, §4.3). Reasons are checked in the order of the SPEC. The hot path
 * does one cached-or-computed decrypt+verify, one indexed read (key joined with its owner), no
 * write: usage goes to the buffer. Revocation and owner state are never cached.
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

/** Revocations made by an owner's lock or deletion (the users stores). */
const ownerCascades = new Set(['user_locked', 'user_deleted']);

/** Decrypt + verify, through the cache keyed by the whole key string. */
export async function openCached(
  deps: Pick<ApiKeyDeps, 'keyring' | 'cache' | 'now'>, apikey: string,
): Promise<{ ok: true; key: OpenedKey } | Exclude<OpenResult, { ok: true }>> {
  const hit = deps.cache.get(apikey, deps.now());
  if (hit) return { ok: true, key: hit };
  const opened = await openApiKey(apikey, deps.keyring);
  if (!opened.ok) return opened;
  const key: OpenedKey = { claims: opened.claims, tknHash: hashToken(opened.claims.tkn), expiresIso: isoTime(opened.claims.exp * 1000) };
  deps.cache.set(apikey, key, deps.now());
  return { ok: true, key };
}

function subjectMatches(sub: Claims['sub'], wanted: string): boolean {
  return Array.isArray(sub) ? sub.includes(wanted) : sub === wanted;
}

export async function verifyApiKey(deps: ApiKeyDeps, req: VerifyRequest): Promise<VerifyResult> {
  const now = deps.now();
  let opened = deps.cache.get(req.apikey, now);
  if (opened === undefined) {
    const result = await openCached(deps, req.apikey);
    if (!result.ok) return no(result.reason);
    opened = result.key;
  }
  const c = opened.claims;
  if (c.nbf * 1000 > now) return no('not_yet_valid');
  if (c.exp * 1000 <= now) return no('expired');

  const row = await deps.store.apikeys.getForVerify(c.jti);
  if (!row || !safeEqual(row.tokenHash, opened.tknHash)) return no('revoked');
  const ownerInactive = row.userRole === null || !row.userActive || row.userLocked || row.userRole !== c.rol;
  if (row.revokedAt !== null) {
    // Locking or deleting the owner revokes the key (SPEC §4.2); while the owner is still locked
    // or gone, the reason the caller sees is the owner's state, as SPEC's reason list says.
    return no(ownerInactive && ownerCascades.has(row.revokedReason ?? '') ? 'user_inactive' : 'revoked');
  }
  if (ownerInactive) return no('user_inactive');

  if (!ipAllowed(c.ipa, req.ipAddress)) return no('ip_mismatch');
  if (c.usa !== undefined && req.userAgent !== opened.userAgentSeen) {
    if (!safeEqual(c.usa, userAgentHash(req.userAgent))) return no('user_agent_mismatch');
    opened.userAgentSeen = req.userAgent;
  }
  if (req.audience !== undefined && req.audience !== c.aud) return no('audience_mismatch');
  if (req.subject !== undefined && !subjectMatches(c.sub, req.subject)) return no('subject_mismatch');
  if (req.apiVersion !== undefined && String(req.apiVersion) !== String(c.ver)) return no('version_mismatch');
  if (req.scope !== undefined && !(c.scp ?? []).includes(req.scope)) return no('insufficient_scope');

  const max = deps.limiter ? roleLimit(deps.policy(), c.rol, 'max_requests_per_minute') : undefined;
  if (deps.limiter && max !== undefined) {
    const key = (opened.limitKey ??= `verify:${c.jti}`);
    const hit = deps.limiter.hitNow?.(key, max, 60_000, now) ?? await deps.limiter.hit(key, max, 60_000, now);
    if (!hit.allowed) return { valid: false, reason: 'rate_limited', retryAfter: Math.max(1, Math.ceil(hit.resetMs / 1000)) };
  }

  deps.usage.record(c.jti, now);
  return {
    valid: true,
    key: {
      key_id: c.jti, kind: c.knd, user_id: c.uid, role: c.rol, scopes: c.scp ?? [], audience: c.aud,
      subject: c.sub, api_version: c.ver, expires_at: opened.expiresIso,
    },
  };
}
