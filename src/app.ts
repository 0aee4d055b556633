import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { DestinationStream, Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { ensureDataDir, resolvePiiSalt } from './core/bootstrap.js';
import { depthMessage, nestsDeeperThan } from './core/extra.js';
import { configureArgon2 } from './core/passwords.js';
import { keyedDigest, piiHasher, type KeyedDigest, type PiiHasher } from './core/pii.js';
import type { Store } from './db/store.js';
import { badUrlAnswer, clientErrorHandler, durationMs, errorHandler } from './error-answers.js';
import { ApiError } from './errors.js';
import { emptyBodyIsEmptyObject } from './json-body.js';
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
    /** Keyed digest for personal data kept in the database (core/pii.ts), same key as `pii`. */
    keyedDigest: KeyedDigest;
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

/**
 * Ajv keyword `x-max-depth` (on `extra`): refuses values nested deeper than the limit, with the
 * field's path in the 400's details. An OpenAPI extension name, so the document stays valid.
 */
function maxDepthKeyword(ajv: { addKeyword(def: object): unknown }) {
  const validate = (limit: number, data: unknown): boolean => {
    if (!nestsDeeperThan(data, limit)) return true;
    validate.errors = [{ keyword: 'x-max-depth', message: depthMessage(limit), params: { limit } }];
    return false;
  };
  validate.errors = [] as object[];
  ajv.addKeyword({ keyword: 'x-max-depth', type: 'object', schemaType: 'number', errors: true, validate });
  return ajv;
}

/** config, clock and readiness: what every other plugin depends on. Writes nothing. */
const base = fp(async (app, opts: { config: Config; clock: Clock }) => {
  app.decorate('config', opts.config);
  app.decorate('clock', opts.clock);
  app.decorate('readiness', new Readiness());
  configureArgon2({ nice: opts.config.argon2Nice });
}, { name: 'base' });

/** The data dir (0700) and the PII hasher, whose salt may be generated into it. */
const dataDir = fp(async (app) => {
  ensureDataDir(app.config.dataDir);
  const salt = resolvePiiSalt(app.config);
  // The salt also keys end users in the rate-limit counters (ratelimit/end-user.ts): instances
  // that share Redis but each generated a salt in their own data dir (PostgreSQL instances have
  // a data dir each) would count the same end user separately.
  const { piiSalt, databaseUrl, redisUrl } = app.config;
  if (piiSalt === undefined && databaseUrl !== undefined && redisUrl !== undefined) {
    app.log.warn('AUTHNZD_PII_SALT is not set: this instance uses the salt generated in its data dir (pii.salt), which also keys end users in the shared rate-limit counters; instances with a data dir each count the same end user separately. Set AUTHNZD_PII_SALT to one value on every instance.');
  }
  app.decorate('pii', piiHasher(salt));
  app.decorate('keyedDigest', keyedDigest(salt));
}, { name: 'data-dir', dependencies: ['base'] });

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
    // Fastify's router refuses a path that is not valid percent-encoding before any hook runs;
    // its default answer had neither the SPEC error body nor the request id (SPEC §2).
    frameworkErrors: badUrlAnswer,
    // Requests Node's HTTP parser refuses before Fastify sees them (headers over 16 KiB, a
    // malformed request line): the SPEC error body instead of Fastify's, a fresh request id.
    clientErrorHandler,
    // During shutdown our hooks below answer instead (Fastify's own 503 has neither the SPEC
    // body nor the request id); idle keep-alive sockets are closed when close begins.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    ...(config.tls ? { https: loadTls(config.tls) } : {}),
    ajv: {
      // Strict bodies: no stripping of unknown fields, no type coercion (SPEC §2).
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: true },
      plugins: [ipAddressFormat as never, maxDepthKeyword as never],
    },
    // The HTTPS variant of the instance has the same API; one type keeps every plugin simple.
  }) as unknown as FastifyInstance;

  // Shutdown (SIGTERM → app.close()): from the first preClose hook on, a request that still
  // arrives (on a kept-alive socket, or a new one before the listener closes) is refused with
  // 503 unavailable, and every answer finished from then on, in-flight ones included, carries
  // `Connection: close`, so no client sends its next request on a socket about to be dropped.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });

  // Callback-style hooks: no promise per request on the hot paths.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    if (closing) return done(new ApiError('unavailable', 'The service is shutting down. Retry on a new connection.'));
    done();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (req, reply, done) => {
    if (!(app.log as Logger).isLevelEnabled('info')) return done();
    req.log.info({
      action: req.routeOptions.config.action ?? req.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      duration: durationMs(reply),
      client: req.client?.name ?? null,
    }, 'request');
    done();
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(async (req) => {
    throw new ApiError('not_found', `No such endpoint: ${req.method} ${req.url.split('?')[0]}`);
  });

  await app.register(base, { config, clock: opts.clock ?? systemClock });
  // Everything that can refuse the start without the database comes before the first write to
  // the data dir (its creation, the PII salt, the database, the seeded secrets): a refused start
  // leaves nothing behind. The TLS files were read above, by Fastify().
  await app.register(policy);
  await app.register(dataDir);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'authnzd', version: '1', description: 'Auth decisions over HTTP. Every action is POST /v1/<action>.' },
      components: { securitySchemes: { clientSecret: { type: 'http', scheme: 'bearer', description: 'Client secret' } } },
    },
    transformObject: (doc) => {
      if (!('openapiObject' in doc)) return doc.swaggerObject;
      optionalEmptyBodies(doc.openapiObject);
      return doc.openapiObject;
    },
  });
  await app.register(metrics);
  await app.register(rateLimit, { keyPrefix: opts.rateLimitKeyPrefix });
  await app.register(database, { store: opts.store });
  await app.register(keyring);
  await app.register(apikeys);
  await app.register(clientAuth);
  await app.register(sessions);

  await app.register(publicRoutes);
  await app.register(async (v1) => {
    emptyBodyIsEmptyObject(v1);
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

/** The part of a generated path item that optionalEmptyBodies reads. */
interface PostBody {
  post?: { requestBody?: { required?: boolean; content?: Record<string, { schema?: { required?: string[] } }> } };
}

/**
 * @fastify/swagger marks every request body required, but an action whose body schema has no
 * required field also takes an empty body (emptyBodyIsEmptyObject: `policy_get`,
 * `audit_query`): the document says so.
 */
function optionalEmptyBodies(doc: { paths?: object }): void {
  for (const item of Object.values(doc.paths ?? {}) as (PostBody | undefined)[]) {
    const body = item?.post?.requestBody;
    const schema = body?.content?.['application/json']?.schema;
    if (body && schema && !schema.required?.length) body.required = false;
  }
}
