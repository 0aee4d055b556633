import { randomUUID } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import type { DestinationStream, Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { ensureDataDir, resolvePiiSalt } from './core/bootstrap.js';
import { depthMessage, nestsDeeperThan } from './core/extra.js';
import { configureArgon2 } from './core/passwords.js';
import { keyedDigest, piiHasher, type KeyedDigest, type PiiHasher } from './core/pii.js';
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

/**
 * Answers a request that Node's HTTP parser refused (no request object exists: no hook, no
 * route) with the error body of SPEC §2, then closes the connection, as the parser state is
 * lost. Headers over Node's limit get 431, a request line or header that is not HTTP 400.
 * `this` is the Fastify instance: its logger gets the one line the request would have had.
 */
function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const requestId = randomUUID();
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? 431 : 400;
  const message = tooLarge
    ? 'The request headers are too large.'
    : 'The request is not valid HTTP.';
  const body = JSON.stringify({ code: 'invalid_request', message, request_id: requestId } satisfies ErrorBody);
  socket.end(
    `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n`
    + 'content-type: application/json; charset=utf-8\r\n'
    + `content-length: ${Buffer.byteLength(body)}\r\n`
    + `x-request-id: ${requestId}\r\n`
    + 'connection: close\r\n\r\n'
    + body,
  );
  this.log.info({ request_id: requestId, action: 'unparsed', status, parser: err.code }, 'request');
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
    frameworkErrors: (error, req, reply) => {
      const body: ErrorBody = { code: 'invalid_request', message: `The request URL is not valid (${error.code}).`, request_id: String(req.id) };
      (reply as unknown as FastifyReply).code(400).header('x-request-id', req.id).send(body);
      // No route, so no onResponse hook: the request's log line is written here.
      req.log.info({ action: 'unmatched', status: 400, duration_ms: Math.round(reply.elapsedTime * 100) / 100 }, 'request');
    },
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

/**
 * A zero-length body is the empty object: with `content-type: application/json` or with no
 * content type at all (Fastify parses nothing then). Schema validation then decides, so an action
 * whose fields are all optional (`policy_get`) can be called with no body, and one with required
 * fields answers 400 `invalid_request` naming them. Every other body goes through Fastify's own
 * JSON parser unchanged (malformed → 400, `__proto__`/`constructor` poisoning refused, 64 KiB).
 */
function emptyBodyIsEmptyObject(v1: FastifyInstance): void {
  const parseJson = v1.getDefaultJsonParser('error', 'error');
  v1.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body.length === 0) done(null, {});
    else parseJson(req, body as string, (err, value) => done(err === null ? null : poisoningOr(err, body as string), value));
  });
  v1.addHook('preValidation', (req, _reply, done) => {
    // undefined only when nothing was parsed; a JSON `null` body stays null (a 400).
    if (req.body === undefined) req.body = {};
    done();
  });
}

/**
 * Fastify answers "Body is not valid JSON" for a body that parses but holds `__proto__` or
 * `constructor.prototype` (refused: prototype poisoning). Say what is wrong with such a body;
 * the second parse runs only on refused bodies.
 */
function poisoningOr(err: Error, body: string): Error {
  try {
    JSON.parse(body);
  } catch {
    return err;
  }
  return new ApiError('invalid_request', 'The body holds a "__proto__" or "constructor.prototype" property, which is refused.', {
    details: [{ path: '/', message: 'forbidden property name (__proto__ or constructor.prototype)' }],
  });
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
