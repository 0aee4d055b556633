import { isIP } from 'node:net';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AuthnzdError, type AuthnzdClient } from './sdk.js';
import type { ActionAnswer, ActionBody } from './types.js';

/**
 * Fastify plugin for services that accept authnzd API keys from their own callers (SPEC §8).
 * Reads the key from `Authorization: Bearer <key>`, `Authorization: Token <key>` or
 * `X-API-Key`, verifies it with `verify_apikey` (the request's IP and user agent, plus the
 * route's required scope), and sets `request.apiKey`. Missing or invalid keys answer 401 with
 * `WWW-Authenticate`; a missing scope answers 403; a per-key limit answers 429. When the verify
 * call itself fails (authnzd down, slow, refusing this service's client secret, …) the caller
 * gets 503 `unavailable` and the cause goes to the request's log: it is not the caller's fault.
 */

/**
 * The longest key `verify_apikey` can find valid (MAX_APIKEY_LENGTH, src/crypto/envelope.ts: a
 * longer one answers `malformed`) and the longest user agent it accepts (its body schema,
 * src/routes/actions/apikeys.ts). Longer values are refused here without a call: a longer key
 * cannot be valid, and a longer user agent would fail the verify call with 400, which would turn
 * a caller's odd request into a 503 and an error line in the service's log. Copies: the client
 * does not load server code (test/client/fastify.test.ts checks they agree).
 */
const MAX_KEY_LENGTH = 32_768;
const MAX_USER_AGENT_LENGTH = 16384;

/** The verified key's claims, as `verify_apikey` answers them (its answer schema). */
export type VerifiedKey = NonNullable<ActionAnswer<'verify_apikey'>['key']>;

export interface ApiKeyPluginOptions {
  client: AuthnzdClient;
  /** Checked by authnzd on every verify when set. */
  audience?: string;
  subject?: string;
  apiVersion?: string;
  /** Realm in `WWW-Authenticate` (default: `api`). */
  realm?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: VerifiedKey | undefined;
  }
  interface FastifyContextConfig {
    /** Scope a route requires of the API key. */
    apiKeyScope?: string;
    /** Set to false on routes that do not need a key (e.g. health checks). */
    apiKeyRequired?: boolean;
  }
}

export function extractApiKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^(?:Bearer|Token)\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const header = req.headers['x-api-key'];
  return typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined;
}

/**
 * The 401/403 answer with its `WWW-Authenticate` challenge (RFC 6750 §3). `error` undefined: the
 * request carried no key at all, and RFC 6750 §3.1 says such a challenge carries no error code.
 */
function challenge(reply: FastifyReply, realm: string, status: 401 | 403, error: string | undefined, reason: string, message = `API key refused: ${reason}`) {
  reply.header('www-authenticate', error === undefined
    ? `Bearer realm="${realm}"`
    : `Bearer realm="${realm}", error="${error}", error_description="${reason}"`);
  return reply.code(status).send({ code: status === 401 ? 'unauthenticated' : 'insufficient_scope', message });
}

/**
 * The verify call failed: the service's own problem, so no `WWW-Authenticate` and none of
 * authnzd's text (a wrong client secret must not read as the caller's wrong key). The cause is
 * logged for the operator: status, code and authnzd's request id, or the network error. Never
 * the key, and the client secret is only in the request headers, which are not logged.
 */
function unavailable(req: FastifyRequest, reply: FastifyReply, err: unknown) {
  if (err instanceof AuthnzdError) {
    req.log.error({ authnzd: { status: err.status, code: err.code, message: err.message, request_id: err.requestId } }, 'API key verification failed: authnzd answered verify_apikey with an error');
    if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
  } else {
    // fetch's own errors ("fetch failed", TimeoutError); undici puts ECONNREFUSED etc. in cause.
    const e = err instanceof Error ? err : new Error(String(err));
    const c = e.cause as { code?: unknown; message?: unknown } | undefined;
    const cause = typeof c?.code === 'string' ? c.code : typeof c?.message === 'string' ? c.message : undefined;
    req.log.error({ authnzd: { error: e.name, message: e.message, cause } }, 'API key verification failed: authnzd did not answer');
  }
  return reply.code(503).send({ code: 'unavailable', message: 'API key verification is unavailable' });
}

const plugin: FastifyPluginAsync<ApiKeyPluginOptions> = async (app, opts) => {
  const realm = opts.realm ?? 'api';
  app.decorateRequest('apiKey', undefined);
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.apiKeyRequired === false) return;
    const apikey = extractApiKey(req);
    if (apikey === undefined) return challenge(reply, realm, 401, undefined, 'missing');
    if (apikey.length > MAX_KEY_LENGTH) return challenge(reply, realm, 401, 'invalid_token', 'malformed');
    const userAgent = req.headers['user-agent'] ?? '';
    if (userAgent.length > MAX_USER_AGENT_LENGTH) {
      return challenge(reply, realm, 401, 'invalid_request', 'user_agent_too_long', `API key refused: the User-Agent header is longer than ${MAX_USER_AGENT_LENGTH} characters`);
    }
    // request.ip honours the app's trustProxy; a trusted proxy can still forward junk.
    if (isIP(req.ip) === 0) {
      req.log.warn('API key refused: request.ip is not an IP address (check trustProxy and the proxy\'s X-Forwarded-For)');
      return challenge(reply, realm, 401, 'invalid_request', 'client_address', 'API key refused: the client address is not an IP address');
    }
    const body: ActionBody<'verify_apikey'> = {
      apikey,
      ip_address: req.ip,
      user_agent: userAgent,
      ...(opts.audience !== undefined ? { audience: opts.audience } : {}),
      ...(opts.subject !== undefined ? { subject: opts.subject } : {}),
      ...(opts.apiVersion !== undefined ? { api_version: opts.apiVersion } : {}),
      ...(req.routeOptions.config.apiKeyScope !== undefined ? { scope: req.routeOptions.config.apiKeyScope } : {}),
    };
    let answer: ActionAnswer<'verify_apikey'>;
    try {
      answer = await opts.client.verifyApikey(body, { requestId: String(req.id) });
    } catch (err) {
      return unavailable(req, reply, err);
    }
    if (answer.valid && answer.key !== undefined) {
      req.apiKey = answer.key;
      return;
    }
    const reason = answer.reason ?? 'invalid';
    if (reason === 'insufficient_scope') return challenge(reply, realm, 403, 'insufficient_scope', reason);
    if (reason === 'rate_limited') {
      const retry = answer.retry_after ?? 60;
      return reply.code(429).header('retry-after', String(retry)).send({ code: 'rate_limited', message: 'API key rate limit exceeded' });
    }
    return challenge(reply, realm, 401, 'invalid_token', reason);
  });
};

export const authnzdApiKeys = fp(plugin, { name: 'authnzd-api-keys', fastify: '5.x' });
