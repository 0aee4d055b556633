import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { DestinationStream, Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { ensureDataDir, resolvePiiSalt } from './core/bootstrap.js';
import { configureArgon2 } from './core/passwords.js';
import { piiHasher, type PiiHasher } from './core/pii.js';
import type { Store } from './db/store.js';
import { ApiError, UnavailableError, errorCatalog, isBadValue, isOutage, type ErrorBody, type ErrorCode } from './errors.js';
import { createLogger, lazyChildLoggerFactory } from './logger.js';
import apikeys from './plugins/apikeys.js';
import clientAuth, { requireClient } from './plugins/client-auth.js';
import database from './plugins/database.js';
import keyring from './plugins/keyring.js';
import metrics from './plugins/metrics.js';
import sessions from './plugins/sessions.js';
import policy from './plugins/policy.js';
import rateLimit from './plugins/rate-limit.js';
import rateLimitHooks from './ratelimit/hooks.js';
import { Readiness } from './readiness.js';
import { loadTls } from './tls.js';
import apikeyActions from './routes/actions/apikeys.js';
import auditActions from './routes/actions/audit.js';
import loginActions from './routes/actions/login.js';
import passwordActions from './routes/actions/passwords.js';
import sessionActions from './routes/actions/sessions.js';
import userActions from './routes/actions/users.js';
import policyActions from './routes/actions/policy.js';
import publicRoutes from './routes/public.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    clock: Clock;
    readiness: Readiness;
    /** Keyed hash for personal data in logs (SPEC §7). */
    pii: PiiHasher;
  }
}

export interface AppOptions {
  /** Time source; tests pass a controllable clock. */
  clock?: Clock;
  /** Where log lines go (default stdout). */
  logStream?: DestinationStream;
  /** An already opened store (tests of several apps on one database). */
  store?: Store;
  /** Namespace of the rate-limit keys in Redis (tests of several apps on one Redis). */
  rateLimitKeyPrefix?: string;
}

export const BODY_LIMIT = 64 * 1024;

/** Request ids from callers are echoed only when they are short and printable (no log injection). */
const requestIdPattern = /^[A-Za-z0-9._:\-]{1,128}$/;

/** Ajv format for `ip_address` fields: any valid IPv4 or IPv6 address. */
function ipAddressFormat(ajv: { addFormat(name: string, fn: (v: string) => boolean): unknown }) {
  ajv.addFormat('ip-address', (v) => isIP(v) !== 0);
  return ajv;
}

/** config, clock, readiness and the PII hasher: what every other plugin depends on. */
const base = fp(async (app, opts: { config: Config; clock: Clock }) => {
  app.decorate('config', opts.config);
  app.decorate('clock', opts.clock);
  app.decorate('readiness', new Readiness());
  ensureDataDir(opts.config.dataDir);
  app.decorate('pii', piiHasher(resolvePiiSalt(opts.config)));
  configureArgon2({ nice: opts.config.argon2Nice });
}, { name: 'base' });

/**
 * The whole service as a Fastify instance. Production (server.ts) and tests build it the same
 * way; this function is the table of contents.
 */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: createLogger(config.logLevel, opts.logStream),
    // One line per request is written by our onResponse hook, not Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    childLoggerFactory: lazyChildLoggerFactory as never,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
    },
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...(config.tls ? { https: loadTls(config.tls) } : {}),
    ajv: {
      // Strict bodies: no stripping of unknown fields, no type coercion (SPEC §2).
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: true },
      plugins: [ipAddressFormat as never],
    },
    // The HTTPS variant of the instance has the same API; one type keeps every plugin simple.
  }) as unknown as FastifyInstance;

  // Callback-style hooks: no promise per request on the hot paths.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    if (!(app.log as Logger).isLevelEnabled('info')) return done();
    req.log.info({
      action: req.routeOptions.config.action ?? req.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      duration_ms: Math.round(reply.elapsedTime * 100) / 100,
      client: req.client?.name,
    }, 'request');
    done();
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(async (req) => {
    throw new ApiError('not_found', `No such endpoint: ${req.method} ${req.url.split('?')[0]}`);
  });

  await app.register(base, { config, clock: opts.clock ?? systemClock });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'authnzd', version: '1', description: 'Auth decisions over HTTP. Every action is POST /v1/<action>.' },
      components: { securitySchemes: { clientSecret: { type: 'http', scheme: 'bearer', description: 'Client secret' } } },
    },
  });
  await app.register(metrics);
  await app.register(rateLimit, { keyPrefix: opts.rateLimitKeyPrefix });
  await app.register(database, { store: opts.store });
  await app.register(policy);
  await app.register(keyring);
  await app.register(apikeys);
  await app.register(clientAuth);
  await app.register(sessions);

  await app.register(publicRoutes);
  await app.register(async (v1) => {
    v1.addHook('onRequest', requireClient);
    await v1.register(rateLimitHooks);
    await v1.register(auditActions);
    await v1.register(sessionActions);
    await v1.register(loginActions);
    await v1.register(passwordActions);
    await v1.register(userActions);
    await v1.register(policyActions);
    await v1.register(apikeyActions);
  }, { prefix: '/v1' });
  return app;
}

function send(reply: import('fastify').FastifyReply, code: ErrorCode, message: string, extra: Partial<ErrorBody> = {}) {
  const body: ErrorBody = { code, message, request_id: String(reply.request.id), ...extra };
  return reply.code(errorCatalog[code].status).send(body);
}

/** Maps every failure onto the error body of SPEC §2. 5xx answers never carry internal text. */
function errorHandler(this: FastifyInstance, err: FastifyError, req: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) {
  if (err instanceof ApiError) {
    return send(reply, err.code, err.message, { ...(err.details ? { details: err.details } : {}), ...err.extra });
  }
  if (err.validation) {
    const details = err.validation.map((v) => ({
      path: v.instancePath || '/',
      message: v.message ?? 'invalid',
      ...(v.keyword === 'additionalProperties' ? { field: (v.params as { additionalProperty?: string }).additionalProperty } : {}),
      ...(v.keyword === 'required' ? { field: (v.params as { missingProperty?: string }).missingProperty } : {}),
    }));
    return send(reply, 'invalid_request', `Invalid request ${err.validationContext ?? 'body'}.`, { details });
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return send(reply, 'payload_too_large', errorCatalog.payload_too_large.message);
  if (isBadValue(err)) {
    const message = 'A value is out of range or holds characters that cannot be stored (such as U+0000).';
    return send(reply, 'invalid_request', message, { details: [{ path: '/', message }] });
  }
  if (isOutage(err)) {
    req.log.error({ err, dependency: err instanceof UnavailableError ? err.dependency : 'database' }, 'dependency unavailable');
    return send(reply, 'unavailable', errorCatalog.unavailable.message);
  }
  if (err.statusCode === 429) return send(reply, 'rate_limited', errorCatalog.rate_limited.message);
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    // Fastify's own client errors (bad JSON, empty body, unsupported content type): their
    // messages describe the request, not internals.
    return send(reply, 'invalid_request', err.message, { details: [{ path: '/', message: err.message }] });
  }
  req.log.error({ err }, 'unhandled error');
  return send(reply, 'internal_error', errorCatalog.internal_error.message);
}
