import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, UnavailableError, errorCatalog, isBadValue, isOutage, type ErrorBody, type ErrorCode } from './errors.js';

/*
 * Every failure answered with the error body of SPEC §2 (`code`, `message`, `request_id`), at
 * each depth a request can fail: Node's HTTP parser (clientErrorHandler), Fastify's router
 * (badUrlAnswer), and everything after routing (errorHandler).
 */

/** A request's duration for its log line, in ms with two decimals. */
export function durationMs(reply: { elapsedTime: number }): number {
  return Math.round(reply.elapsedTime * 100) / 100;
}

/**
 * Fastify's router refuses a path that is not valid percent-encoding before any hook runs; its
 * default answer had neither the SPEC error body nor the request id (SPEC §2). Fastify's
 * `frameworkErrors` option.
 */
export function badUrlAnswer(error: FastifyError, req: FastifyRequest, reply: unknown): void {
  const r = reply as FastifyReply;
  send(r.header('x-request-id', req.id), 'invalid_request', `The request URL is not valid (${error.code}).`);
  // No route, so no onResponse hook: the request's log line is written here.
  req.log.info({ action: 'unmatched', status: 400, duration: durationMs(r), client: null }, 'request');
}

/**
 * Answers a request that Node's HTTP parser refused (no request object exists: no hook, no
 * route) with the error body of SPEC §2, then closes the connection, as the parser state is
 * lost. Headers over Node's limit get 431, a request line or header that is not HTTP 400.
 * `this` is the Fastify instance: its logger gets the one line the request would have had.
 */
export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
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

function send(reply: FastifyReply, code: ErrorCode, message: string, extra: Partial<ErrorBody> = {}) {
  const body: ErrorBody = { code, message, request_id: String(reply.request.id), ...extra };
  return reply.code(errorCatalog[code].status).send(body);
}

/** Maps every failure onto the error body of SPEC §2. 5xx answers never carry internal text. */
export function errorHandler(this: FastifyInstance, err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof ApiError) {
    // A temporary refusal (423 of a temporary lock) says when to retry in the header HTTP clients
    // read, as 429 does, and in the body (SPEC §2).
    const retryAfter = err.extra?.retry_after;
    if (typeof retryAfter === 'number' && !reply.hasHeader('retry-after')) reply.header('retry-after', String(retryAfter));
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
