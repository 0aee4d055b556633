import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { isoTime } from '../../clock.js';
import { openCached, verifyApiKey, verifyApiKeyNow, type VerifyResult } from '../../core/apikey-verify.js';
import { issueStandaloneKey, refreshStandaloneKey } from '../../core/apikey-refresh.js';
import { decodeApiVersion, issueSessionKey, listKeys, revokeAllKeys, revokeKey, type ApiKeyDeps } from '../../core/apikeys.js';
import { MAX_APIKEY_LENGTH } from '../../crypto/envelope.js';
import { ApiError } from '../../errors.js';
import { IpAddress, PassedUserAgent, Seconds, Timestamp, Token, UserAgent, UserId } from '../../schemas.js';
import { registerAction } from '../action.js';
import { SeriesCounter } from '../../plugins/series.js';

const ApiKeyString = Type.String({ minLength: 1, maxLength: MAX_APIKEY_LENGTH, description: 'An API key (azk_…)' });
/**
 * verify_apikey's key: no length bound in the schema (the body limit bounds it). An empty or
 * overlong string is a well-formed call carrying something that is not a key: `malformed`.
 */
const VerifiedApiKeyString = Type.String({ description: 'An API key (azk_…); anything else answers valid: false, reason malformed' });
const Audience = Type.String({ minLength: 1, maxLength: 256, description: 'The service the key is for' });
const Subject = Type.Union([Type.String({ minLength: 1, maxLength: 256 }), Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1, maxItems: 64 })], { description: 'Endpoint(s) or resource(s) the key is for' });
// A safe integer: beyond 2^53 - 1 JSON numbers lose digits when parsed, and the key would carry another version.
const ApiVersion = Type.Union([Type.String({ minLength: 1, maxLength: 32 }), Type.Integer({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER })], { description: 'API version' });
const Scopes = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 64 });
const NotBefore = Type.Integer({ minimum: 0, maximum: 10 * 365 * 86400, description: 'Seconds from now before the key is valid' });
const Bind = Type.Object({
  ip: Type.Optional(Type.Union([Type.Boolean(), Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: 64 })], { description: 'true: the request IP (default); a list of CIDR blocks; false: any IP' })),
  user_agent: Type.Optional(Type.Boolean({ description: 'Bind to the user agent (default true)' })),
}, { additionalProperties: false });
const KeyId = Type.String({ minLength: 1, maxLength: 64, description: 'The key id (jti)' });

const StandaloneAnswer = Type.Object({
  apikey: Type.String(), key_id: Type.String(), expires_at: Timestamp, refresh_token: Type.String(), refresh_expires_at: Timestamp,
});

const audit = (req: FastifyRequest) => ({ requestId: String(req.id), client: req.client?.name ?? null });

const standaloneAnswer = (k: { apikey: string; keyId: string; expiresAt: number; refreshToken: string; refreshExpiresAt: number }) => ({
  apikey: k.apikey, key_id: k.keyId, expires_at: isoTime(k.expiresAt), refresh_token: k.refreshToken, refresh_expires_at: isoTime(k.refreshExpiresAt),
});

/** The key id of an API key string (expired keys too); 404 when it is not a key of this keyring. */
async function keyIdOf(deps: ApiKeyDeps, apikey: string): Promise<string> {
  const opened = await openCached(deps, apikey);
  if (!opened.ok) throw new ApiError('not_found', `This is not an API key of this service (${opened.reason}).`);
  return opened.key.claims.jti;
}

/** The request and answer schemas of the apikey actions (also the SDK's types: src/client/types.ts). */
export const apikeySchemas = {
  issue_apikey: {
    body: Type.Object({
      session_token: Token, ip_address: IpAddress, user_agent: UserAgent, audience: Audience, subject: Subject,
      api_version: ApiVersion, expires_in: Seconds, not_before: Type.Optional(NotBefore), scopes: Type.Optional(Scopes), bind: Type.Optional(Bind),
    }, { additionalProperties: false }),
    response: Type.Object({ apikey: Type.String(), key_id: Type.String(), expires_at: Timestamp, not_before: Timestamp }),
  },
  verify_apikey: {
    body: Type.Object({
      apikey: VerifiedApiKeyString, ip_address: IpAddress, user_agent: PassedUserAgent, audience: Type.Optional(Audience),
      subject: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })), api_version: Type.Optional(ApiVersion),
      scope: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    }, { additionalProperties: false }),
    response: Type.Object({
      valid: Type.Boolean(),
      reason: Type.Optional(Type.String()),
      retry_after: Type.Optional(Type.Integer({ description: 'Seconds, with reason rate_limited' })),
      key: Type.Optional(Type.Object({
        key_id: Type.String(), kind: Type.String(), user_id: Type.Integer(), role: Type.String(), scopes: Type.Array(Type.String()),
        audience: Type.String(), subject: Subject, api_version: ApiVersion, expires_at: Timestamp,
      })),
    }),
  },
  revoke_apikey: {
    body: Type.Object({
      session_token: Token, apikey: Type.Optional(ApiKeyString), key_id: Type.Optional(KeyId), reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    }, { additionalProperties: false }),
    response: Type.Object({ revoked: Type.Boolean() }),
  },
  revoke_all_apikeys: {
    body: Type.Object({ session_token: Token, target_user_id: Type.Optional(UserId) }, { additionalProperties: false }),
    response: Type.Object({ revoked: Type.Integer() }),
  },
  list_apikeys: {
    body: Type.Object({ session_token: Token, target_user_id: Type.Optional(UserId) }, { additionalProperties: false }),
    response: Type.Object({
      keys: Type.Array(Type.Object({
        key_id: Type.String(), kind: Type.String(), audience: Type.String(), subject: Subject, api_version: ApiVersion,
        scopes: Type.Array(Type.String()), issued_at: Timestamp, expires_at: Timestamp,
        last_used_at: Type.Union([Timestamp, Type.Null()]), revoked_at: Type.Union([Timestamp, Type.Null()]),
      })),
    }),
  },
  issue_apikey_nosession: {
    body: Type.Object({
      user_id: UserId, ip_address: IpAddress, audience: Audience, subject: Subject, api_version: ApiVersion, expires_in: Seconds,
      refresh_expires_in: Seconds, user_agent: Type.Optional(UserAgent), not_before: Type.Optional(NotBefore),
      scopes: Type.Optional(Scopes), bind: Type.Optional(Bind),
    }, { additionalProperties: false }),
    response: StandaloneAnswer,
  },
  refresh_apikey: {
    body: Type.Object({ apikey: ApiKeyString, refresh_token: Token, ip_address: IpAddress, user_agent: PassedUserAgent }, { additionalProperties: false }),
    response: StandaloneAnswer,
  },
};

/** API keys (SPEC §4.2). */
export default async function apikeyActions(app: FastifyInstance): Promise<void> {
  const deps = app.apikeys;
  const verifications = new SeriesCounter('authnzd_apikey_verifications_total', 'verify_apikey answers, by result (valid, or the reason)', app.metrics);
  const verificationCount = (result: string) => verifications.at(result, { result });
  const answer = (r: VerifyResult) => {
    verificationCount(r.valid ? 'valid' : r.reason).value++;
    if (!r.valid) return { valid: false, reason: r.reason, ...(r.retryAfter !== undefined ? { retry_after: r.retryAfter } : {}) };
    return r; // exactly { valid: true, key }
  };

  registerAction(app, {
    name: 'issue_apikey',
    summary: "Issue an API key bound to the caller's live session",
    status: 201,
    body: apikeySchemas.issue_apikey.body,
    response: apikeySchemas.issue_apikey.response,
    handler: async (req) => {
      const b = req.body;
      const k = await issueSessionKey(deps, {
        sessionToken: b.session_token, ipAddress: b.ip_address, userAgent: b.user_agent, audience: b.audience, subject: b.subject,
        apiVersion: b.api_version, expiresIn: b.expires_in, notBefore: b.not_before, scopes: b.scopes, bind: b.bind,
      }, audit(req));
      return { apikey: k.apikey, key_id: k.keyId, expires_at: isoTime(k.expiresAt), not_before: isoTime(k.notBefore) };
    },
  });

  registerAction(app, {
    name: 'verify_apikey',
    summary: 'Is this API key valid for this request? 200 with valid true/false and a reason',
    body: apikeySchemas.verify_apikey.body,
    response: apikeySchemas.verify_apikey.response,
    handler: (req) => {
      const b = req.body;
      const q = {
        apikey: b.apikey, ipAddress: b.ip_address, userAgent: b.user_agent, audience: b.audience, subject: b.subject,
        apiVersion: b.api_version, scope: b.scope, at: req.readStamp,
      };
      const atOnce = verifyApiKeyNow(deps, q);
      return atOnce !== undefined ? answer(atOnce) : verifyApiKey(deps, q).then(answer);
    },
  });

  registerAction(app, {
    name: 'revoke_apikey',
    summary: 'Revoke one API key (own keys, or anyone\'s when the policy allows)',
    body: apikeySchemas.revoke_apikey.body,
    response: apikeySchemas.revoke_apikey.response,
    handler: async (req) => {
      const b = req.body;
      if ((b.apikey === undefined) === (b.key_id === undefined)) {
        throw new ApiError('invalid_request', 'Give exactly one of apikey and key_id.', { details: [{ path: '/', message: 'exactly one of apikey, key_id' }] });
      }
      const keyId = b.key_id ?? (await keyIdOf(deps, b.apikey!));
      await revokeKey(deps, { sessionToken: b.session_token, keyId, reason: b.reason }, audit(req));
      return { revoked: true };
    },
  });

  registerAction(app, {
    name: 'revoke_all_apikeys',
    summary: "Revoke every API key of the acting user (or of target_user_id, superuser only)",
    body: apikeySchemas.revoke_all_apikeys.body,
    response: apikeySchemas.revoke_all_apikeys.response,
    handler: async (req) => ({
      revoked: await revokeAllKeys(deps, { sessionToken: req.body.session_token, targetUserId: req.body.target_user_id }, audit(req)),
    }),
  });

  registerAction(app, {
    name: 'list_apikeys',
    summary: 'List the API keys of the acting user (or of target_user_id when the policy allows); never secrets',
    body: apikeySchemas.list_apikeys.body,
    response: apikeySchemas.list_apikeys.response,
    handler: async (req) => {
      const keys = await listKeys(deps, { sessionToken: req.body.session_token, targetUserId: req.body.target_user_id });
      return {
        keys: keys.map((k) => ({
          key_id: k.id, kind: k.kind, audience: k.audience, subject: k.subject, api_version: decodeApiVersion(k.apiVersion), scopes: k.scopes ?? [],
          issued_at: isoTime(k.issuedAt), expires_at: isoTime(k.expiresAt),
          last_used_at: k.lastUsedAt === null ? null : isoTime(k.lastUsedAt), revoked_at: k.revokedAt === null ? null : isoTime(k.revokedAt),
        })),
      };
    },
  });

  registerAction(app, {
    name: 'issue_apikey_nosession',
    summary: 'Issue a standalone API key with a refresh token for a user (trusted clients)',
    status: 201,
    body: apikeySchemas.issue_apikey_nosession.body,
    response: apikeySchemas.issue_apikey_nosession.response,
    handler: async (req) => {
      const b = req.body;
      return standaloneAnswer(await issueStandaloneKey(deps, {
        userId: b.user_id, ipAddress: b.ip_address, userAgent: b.user_agent, audience: b.audience, subject: b.subject,
        apiVersion: b.api_version, expiresIn: b.expires_in, refreshExpiresIn: b.refresh_expires_in, notBefore: b.not_before,
        scopes: b.scopes, bind: b.bind,
      }, audit(req)));
    },
  });

  registerAction(app, {
    name: 'refresh_apikey',
    summary: 'Exchange a standalone key (expired or not) and its single-use refresh token for new ones',
    status: 201,
    body: apikeySchemas.refresh_apikey.body,
    response: apikeySchemas.refresh_apikey.response,
    handler: async (req) => {
      const b = req.body;
      return standaloneAnswer(await refreshStandaloneKey(deps, {
        apikey: b.apikey, refreshToken: b.refresh_token, ipAddress: b.ip_address, userAgent: b.user_agent,
      }, audit(req)));
    },
  });
}
