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
    else parseJson(req, body as string, (err, value) => done(err === null ? unstorableText(body as string, value) : poisoningOr(err, body as string), value));
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

/** `\u0000` or a UTF-16 surrogate escape may be in the text; only then are the values walked. */
const SUSPECT_ESCAPE = /\\u(?:0000|d[89a-f])/i;
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const unstorable = (s: string) => s.includes('\0') || UNPAIRED_SURROGATE.test(s);

/** The JSON pointer of the first string (key or value) holding U+0000 or an unpaired surrogate. */
function unstorablePath(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return unstorable(value) ? path || '/' : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const here = `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (unstorable(k)) return here;
    const found = unstorablePath(v, here);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Text holding U+0000 or an unpaired UTF-16 surrogate (`"\u0000"`, `"\ud800"`) is refused in
 * every field: PostgreSQL can store neither, and the same request must get the same answer on
 * either database (SQLite stored both). Raw bytes cannot make them (JSON refuses a raw control
 * character, and invalid UTF-8 decodes to U+FFFD), so bodies without such an escape, nearly all of
 * them, cost one scan and no walk.
 */
function unstorableText(body: string, value: unknown): Error | null {
  if (!body.includes('\\u') || !SUSPECT_ESCAPE.test(body)) return null;
  const path = unstorablePath(value, '');
  if (path === undefined) return null;
  return new ApiError('invalid_request', 'Text holding U+0000 or an unpaired UTF-16 surrogate is refused.', {
    details: [{ path, message: 'must not contain U+0000 or an unpaired surrogate (\\ud800-\\udfff)' }],
  });
}
