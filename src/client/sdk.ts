/**
 * Client SDK for authnzd (SPEC §8): one method per action, each a `POST /v1/<action>` with the
 * client secret. Failed calls (non-2xx, or an answer that is not a JSON object) throw an
 * `AuthnzdError` carrying the error body; yes/no answers (`verify_apikey`, `check_access`, …) are
 * returned as values, never thrown. Network failures and timeouts reject with fetch's own error.
 */

import { actionNames, type ActionName } from '../actions.js';
import type { ActionAnswer, ActionBody } from './types.js';

/** The service's action names (src/actions.ts, the list the routes are checked against). */
export { actionNames, type ActionName };
export type Json = Record<string, unknown>;

/** `session_new` → `sessionNew` */
type Camel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
/**
 * One method per action, typed by the action's own schemas (types.ts): `client.verifyApikey(body)`
 * takes `ActionBody<'verify_apikey'>` and resolves to `ActionAnswer<'verify_apikey'>`.
 */
export type AuthnzdClient = { [A in ActionName as Camel<A>]: (body: ActionBody<A>, opts?: CallOptions) => Promise<ActionAnswer<A>> } & {
  /** Calls any action by its wire name, untyped (for actions newer than this SDK). */
  call(action: string, body: Json, opts?: CallOptions): Promise<Json>;
};

export interface CallOptions {
  /** Sent as `x-request-id`, so the service's log lines join yours. */
  requestId?: string;
}

export interface ClientOptions {
  /** Base URL of the service, e.g. `http://127.0.0.1:13431`. */
  url: string;
  clientSecret: string;
  /** A fetch implementation (tests pass one that calls `app.inject`). Default: global fetch. */
  fetch?: typeof fetch;
  /** Per-call timeout in milliseconds (default 5000). */
  timeoutMs?: number;
}

/** One entry of an error answer's `details` (SPEC §2). */
type ErrorDetail = { path: string; message: string };

/**
 * A failed call: `status`, the error body's `code`, `message`, `request_id`, `details`, and
 * `retryAfter` (seconds, from a `Retry-After` header). A non-2xx answer keeps its status; an
 * answer that is not a JSON object has the code `invalid_response`, and status 502 when it came
 * with a 2xx (the service, or whatever answered in its place, did not speak the protocol).
 */
export class AuthnzdError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  readonly retryAfter: number | undefined;
  /** The validation `details` of a 400 (`[{path, message}]`, SPEC §2); undefined when there are none. */
  readonly details: ErrorDetail[] | undefined;
  readonly body: Json;

  constructor(status: number, body: Json, retryAfter?: number) {
    super(typeof body.message === 'string' ? body.message : `authnzd answered ${status}`);
    this.name = 'AuthnzdError';
    this.status = status;
    this.code = typeof body.code === 'string' ? body.code : 'unknown';
    this.requestId = typeof body.request_id === 'string' ? body.request_id : undefined;
    this.retryAfter = retryAfter;
    this.details = Array.isArray(body.details) ? (body.details as ErrorDetail[]) : undefined;
    this.body = body;
  }
}

/** The body as a JSON object, or undefined: every authnzd answer, success or error, is one. */
function jsonObject(text: string): Json | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** `Retry-After` as delta-seconds (what authnzd sends); an HTTP date or junk is ignored. */
function retryAfterOf(res: Response): number | undefined {
  const v = res.headers.get('retry-after')?.trim();
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined;
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

/**
 * The secret as it can go into `Authorization: Bearer …`, surrounding whitespace dropped (a secret
 * file's trailing newline, which fetch dropped as well). A secret that fetch would refuse (a line
 * break, NUL or character above U+00FF inside it) or an empty one is refused here, at
 * construction: fetch's own refusal quotes the whole header value, secret included, in its
 * message, which then reached callers' logs (the Fastify plugin logs the verify call's error).
 */
function headerSafeSecret(secret: unknown): string {
  const s = typeof secret === 'string' ? secret.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '') : '';
  if (s === '') throw new TypeError('createClient: clientSecret is missing or empty');
  if (/[\0\r\n]|[^\u0000-\u00ff]/.test(s)) {
    throw new TypeError('createClient: clientSecret cannot be sent in an HTTP header (it holds a line break, a NUL or a character above U+00FF); the secret is not shown');
  }
  return s;
}

/**
 * The base URL without trailing slashes. A URL with credentials (`user:password@`) is refused at
 * construction: fetch refuses it on every call with a message quoting the whole URL, password
 * included, which then reached callers' logs.
 */
function baseUrl(url: unknown): string {
  if (typeof url !== 'string') throw new TypeError('createClient: url must be a string');
  let parsed: URL | undefined;
  try {
    parsed = new URL(url); // not URL.parse: package.json allows Node 20.12, which lacks it
  } catch {
    parsed = undefined; // fetch reports an unusable URL on the call, as before
  }
  if (parsed !== undefined && (parsed.username !== '' || parsed.password !== '')) {
    throw new TypeError('createClient: url must not include credentials (user:password@), which fetch cannot send; the URL is not shown');
  }
  return url.replace(/\/+$/, '');
}

export function createClient(opts: ClientOptions): AuthnzdClient {
  const clientSecret = headerSafeSecret(opts.clientSecret);
  const base = baseUrl(opts.url);
  const doFetch = opts.fetch ?? globalThis.fetch;
  const timeoutMs = opts.timeoutMs ?? 5000;

  async function call(action: string, body: Json, callOpts: CallOptions = {}): Promise<Json> {
    if (!/^[a-z_]+$/.test(action)) throw new TypeError(`not an action name: ${action}`);
    const headers: Record<string, string> = {
      authorization: `Bearer ${clientSecret}`,
      'content-type': 'application/json',
    };
    if (callOpts.requestId) headers['x-request-id'] = callOpts.requestId;
    const res = await doFetch(`${base}/v1/${action}`, {
      method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
    });
    const parsed = jsonObject(await res.text());
    if (parsed === undefined) {
      // Never hand a typed caller something that is not the declared answer: a proxy's HTML
      // page, an empty body or a JSON array is a failed call, not a result.
      const body = { code: 'invalid_response', message: `authnzd answered ${res.status} with a body that is not a JSON object` };
      throw new AuthnzdError(res.ok ? 502 : res.status, body, retryAfterOf(res));
    }
    if (!res.ok) throw new AuthnzdError(res.status, parsed, retryAfterOf(res));
    return parsed;
  }

  const client: Record<string, unknown> = { call };
  for (const name of actionNames) client[camel(name)] = (body: Json, o?: CallOptions) => call(name, body, o);
  return client as AuthnzdClient;
}
