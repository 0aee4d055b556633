import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.js';

/**
 * A zero-length body is the empty object: with `content-type: application/json` or with no
 * content type at all (Fastify parses nothing then). Schema validation then decides, so an action
 * whose fields are all optional (`policy_get`) can be called with no body, and one with required
 * fields answers 400 `invalid_request` naming them. Every other body goes through Fastify's own
 * JSON parser unchanged (malformed → 400, `__proto__`/`constructor` poisoning refused, 64 KiB).
 */
export function emptyBodyIsEmptyObject(v1: FastifyInstance): void {
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
