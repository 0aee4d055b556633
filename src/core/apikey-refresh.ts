import { ApiError } from '../errors.js';
import { authorize, issueAudit, mintApiKey, neverValid, refuseOversized, type ApiKeyDeps, type AuditContext, type KeySpec } from './apikeys.js';
import { openCached } from './apikey-verify.js';
import { ipAllowed, userAgentHash } from './ip-binding.js';
import { userIsUsable } from './sessions.js';
import { hashToken, newId, newToken, safeEqual } from './tokens.js';

/*
 * Standalone keys and their refresh tokens (SPEC §4.2). Every key issued by
 * issue_apikey_nosession starts a family; each refresh spends the presented token and issues
 * the next key and token of the family. A spent token presented again means two parties hold
 * it (one of them stole it): the whole family is revoked, the legitimate holder included, who
 * must sign in again — the thief is locked out with them.
 */

export const REFRESH_TOKEN_PREFIX = 'azr_';

/** What `issue_apikey_nosession` asks for: the key fields of a KeySpec, plus owner and refresh window. */
export interface NoSessionRequest
  extends Pick<KeySpec, 'ipAddress' | 'userAgent' | 'audience' | 'subject' | 'apiVersion' | 'expiresIn' | 'notBefore' | 'scopes' | 'bind'> {
  userId: number;
  refreshExpiresIn: number;
}

export interface StandaloneKey {
  apikey: string;
  keyId: string;
  expiresAt: number;
  refreshToken: string;
  refreshExpiresAt: number;
}

/** The refresh window opens when the key becomes valid and lasts `refreshSeconds` from issue. */
function refreshRow(familyId: string, apiKeyId: string, userId: number, now: number, notBefore: number, refreshSeconds: number) {
  const token = newToken(REFRESH_TOKEN_PREFIX);
  return {
    token,
    row: { tokenHash: hashToken(token), familyId, apiKeyId, userId, createdAt: now, notBefore, expiresAt: now + refreshSeconds * 1000 },
  };
}

/** issue_apikey_nosession: for a trusted client acting for `userId` (whose role must allow `create` on `apikey`). */
export async function issueStandaloneKey(deps: ApiKeyDeps, req: NoSessionRequest, audit: AuditContext): Promise<StandaloneKey> {
  // The refresh window opens at not_before (refreshRow): it must open before it closes.
  if ((req.notBefore ?? 0) >= req.refreshExpiresIn) throw neverValid('refresh token', 'refresh_expires_in (the refresh window opens at not_before)');
  const owner = await deps.store.users.getById(req.userId);
  if (!owner) throw new ApiError('not_found', `No user ${req.userId}.`);
  // As session_new answers for such a user: the caller names the user, so say what is wrong with it.
  if (!userIsUsable(owner)) throw new ApiError('user_inactive');
  authorize(deps, owner, 'create', owner.id);
  const familyId = newId('fam_');
  const { apikey, row } = await mintApiKey(deps, { ...req, owner, kind: 'standalone', familyId });
  refuseOversized(apikey);
  const refresh = refreshRow(familyId, row.id, owner.id, deps.now(), row.notBefore, req.refreshExpiresIn);
  // The owner may have been locked or deactivated while the key was made: the store inserts a
  // standalone key only while its owner is usable.
  if (!(await deps.store.apikeys.create(row, refresh.row, issueAudit(row, null, audit)))) throw new ApiError('user_inactive');
  return { apikey, keyId: row.id, expiresAt: row.expiresAt, refreshToken: refresh.token, refreshExpiresAt: refresh.row.expiresAt };
}

const refused = (why: string) => new ApiError('invalid_refresh_token', `The refresh token cannot be used: ${why}.`);

export async function refreshStandaloneKey(
  deps: ApiKeyDeps,
  req: { apikey: string; refreshToken: string; ipAddress: string; userAgent: string },
  audit: AuditContext,
): Promise<StandaloneKey> {
  const now = deps.now();
  const spentHash = hashToken(req.refreshToken);
  const token = await deps.store.apikeys.getRefreshToken(spentHash);
  if (!token) throw refused('unknown');
  const reuse = async () => {
    const revoked = await deps.store.apikeys.revokeFamily(token.familyId, now, {
      ...audit, event: 'apikey_refresh_reuse', outcome: 'failure', targetUserId: token.userId, subject: token.apiKeyId,
      details: { family_id: token.familyId },
    });
    return refused(`it was already used; every key of its family is revoked (${revoked})`);
  };
  if (token.usedAt !== null) throw await reuse();

  const opened = await openCached(deps, req.apikey);
  if (!opened.ok || opened.key.claims.jti !== token.apiKeyId) throw refused('it does not belong to this API key');
  const c = opened.key.claims;
  if (c.knd !== 'standalone') throw refused('session keys cannot be refreshed');
  if (now < token.notBefore) throw refused('the refresh window has not opened yet');
  if (now >= token.expiresAt) throw refused('expired');
  const key = await deps.store.apikeys.getById(c.jti);
  if (!key || key.revokedAt !== null || !safeEqual(key.tokenHash, hashToken(c.tkn))) throw refused('its API key was revoked');
  if (!ipAllowed(c.ipa, req.ipAddress) || (c.usa !== undefined && !safeEqual(c.usa, userAgentHash(req.userAgent)))) {
    throw refused("the request does not match the key's IP address or user agent");
  }
  const owner = await deps.store.users.getById(c.uid);
  // SPEC §4.2: every refresh failure is 401 invalid_refresh_token; the message says why.
  if (!owner || !userIsUsable(owner) || owner.role !== c.rol) throw refused('the key owner is inactive, locked or changed role');

  // The successor keeps the binding, audience, subject, version, scopes and lifetimes.
  const { apikey, row } = await mintApiKey(deps, {
    owner, kind: 'standalone', familyId: token.familyId, ipAddress: req.ipAddress, userAgent: req.userAgent,
    audience: c.aud, subject: c.sub, apiVersion: c.ver, expiresIn: c.exp - c.iat, scopes: c.scp,
    bind: { ip: c.ipa === undefined ? false : typeof c.ipa === 'string' ? true : c.ipa, user_agent: c.usa !== undefined },
  });
  const next = refreshRow(token.familyId, row.id, owner.id, now, now, (token.expiresAt - token.createdAt) / 1000);
  const result = await deps.store.apikeys.rotateRefresh(spentHash, c.jti, row, next.row, {
    ...audit, event: 'apikey_refresh', outcome: 'success', targetUserId: owner.id, subject: row.id,
    details: { previous_key_id: c.jti, family_id: token.familyId },
  });
  if (result === 'spent') throw await reuse();
  if (result === 'refused') throw refused('its API key was revoked, or its owner locked or deactivated, while it was refreshed');
  return { apikey, keyId: row.id, expiresAt: row.expiresAt, refreshToken: next.token, refreshExpiresAt: next.row.expiresAt };
}
