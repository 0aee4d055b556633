import fastifyRateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hashToken } from '../core/tokens.js';
import type { ReadStamp } from '../db/store.js';
import { ApiError } from '../errors.js';
import { clientLimit, fallbackClientLimit } from './defaults.js';
import { endUserLimits, LimiterKeys, type EndUserRule, type Subjects } from './end-user.js';
import type { LimitResult, Limiter } from './limiter.js';
import { limiterUnknownEmailFailures, loginThrottle } from './login-throttle.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What to record if this call succeeds (the login throttle). */
    rateLimitOnSuccess: { resets: string[]; login?: { email: string; ip: string } } | undefined;
  }
}

/**
 * The limits of SPEC §6 for the /v1 context, registered there before the actions:
 * - per client and action, with @fastify/rate-limit on a store backed by `app.limiter` (sliding
 *   windows, shared through Redis). Its hook is a route `onRequest`, which runs after the
 *   context's client authentication and before the body is parsed: a limited call does no work.
 * - per end user (end-user.ts) in a `preHandler`: after validation (the body is known), before
 *   the handler (no write, no argon2).
 * AUTHNZD_RATE_LIMITS=off turns both off (tests of other areas use it).
 */
export default fp(async (v1: FastifyInstance) => {
  const { config, limiter, clock } = v1;
  const overrides = config.rateLimits;
  if (overrides === 'off') return;
  const keys = new LimiterKeys(v1.keyedDigest);

  // Each action route gets its limit as numbers (registered before the plugin, this onRoute hook
  // runs first): @fastify/rate-limit awaits `max` and `timeWindow` on every request when they are
  // functions. A route without an action (none in /v1 today) gets the fallback limit.
  v1.addHook('onRoute', (route) => {
    const action = route.config?.action;
    if (action === undefined || route.config?.rateLimit !== undefined) return;
    const { max, window } = clientLimit(action, overrides)!;
    route.config = { ...route.config, rateLimit: { max, timeWindow: window * 1000 } };
  });
  await v1.register(fastifyRateLimit, {
    global: true,
    hook: 'onRequest',
    enableDraftSpec: true,
    store: limiterStore(limiter, () => clock.now()),
    keyGenerator: (req) => `client:${req.client?.id ?? 'none'}:${req.routeOptions.config.action ?? req.url}`,
    max: fallbackClientLimit.max,
    timeWindow: fallbackClientLimit.window * 1000,
    errorResponseBuilder: () => new ApiError('rate_limited'),
  });

  // Lockout abuse: the temporary lock spares places the owner logged in from (login-throttle.ts).
  if (v1.hasDecorator('logins')) {
    v1.logins.knownLocation = (email, ip) => loginThrottle.isKnownLocation(limiter, keys, email, ip, clock.now());
    // With Redis, unknown emails' failures are counted there, next to the other login counters;
    // without it they stay in the database (plugins/sessions.ts), which a restart does not empty
    // (this instance's in-memory limiter would: a known account's lock survives a restart).
    if (config.redisUrl !== undefined) v1.logins.unknownFailures = limiterUnknownEmailFailures(limiter, keys);
  }

  v1.decorateRequest('rateLimitOnSuccess', undefined);
  // Callback-style hooks that return at once for the actions without end-user rules (the
  // decisions frontends make on every request): an async hook costs a promise per request.
  v1.addHook('preHandler', (req, reply, done) => {
    const action = req.routeOptions.config.action;
    const rules = action === undefined ? undefined : endUserLimits[action];
    if (action === undefined || rules === undefined) return done();
    checkEndUser(req, reply, action, rules).then(() => done(), done);
  });
  v1.addHook('onResponse', (req, reply, done) => {
    const after = req.rateLimitOnSuccess;
    if (after === undefined || reply.statusCode >= 300) return done();
    recordSuccess(after).then(() => done(), done);
  });

  async function checkEndUser(req: FastifyRequest, reply: FastifyReply, action: string, rules: readonly EndUserRule[]): Promise<void> {
    const subjects = await subjectsOf(v1, req.body, req.readStamp);
    const resets: string[] = [];
    for (const r of rules) {
      const key = keys.rule(action, r, subjects);
      if (key === undefined) continue;
      const result = await limiter.hit(key, r.max, r.window * 1000, clock.now());
      if (!result.allowed) refuse(reply, result);
      if (r.resetOnSuccess) resets.push(key);
    }
    // The login rotates the session away: keep what the success needs now.
    const login = action === 'user_login' && subjects.email !== undefined && subjects.sessionIp !== undefined
      ? { email: subjects.email, ip: subjects.sessionIp }
      : undefined;
    if (resets.length || login) req.rateLimitOnSuccess = { resets, login };
  }

  async function recordSuccess(after: NonNullable<FastifyRequest['rateLimitOnSuccess']>): Promise<void> {
    for (const key of after.resets) await limiter.reset(key);
    if (after.login) await loginThrottle.succeeded(limiter, keys, after.login.email, after.login.ip, clock.now());
  }
}, { name: 'rate-limit-hooks', dependencies: ['rate-limit', 'client-auth'] });

/** 429 with the headers of SPEC §6, from the rule that refused. */
function refuse(reply: FastifyReply, r: LimitResult): never {
  const seconds = Math.max(1, Math.ceil(r.resetMs / 1000));
  reply.header('ratelimit-limit', r.limit);
  reply.header('ratelimit-remaining', 0);
  reply.header('ratelimit-reset', seconds);
  reply.header('retry-after', seconds);
  throw new ApiError('rate_limited');
}

/**
 * The end user behind a request: the body's IP, email, user id, and the presented session's.
 * `at`: the request's change stamp (client-auth.ts), so the session read here costs no second
 * stamp read. Only the limiter's keys come from it; the handler then reads the session again
 * with a fresh stamp (served from the memo when nothing changed), since its writes must see
 * every commit made while this request waited.
 */
async function subjectsOf(app: FastifyInstance, body: unknown, at: ReadStamp | undefined): Promise<Subjects> {
  const b = (body ?? {}) as Record<string, unknown>;
  const s: Subjects = {};
  if (typeof b.ip_address === 'string') s.ip = b.ip_address;
  if (typeof b.email === 'string') s.email = b.email;
  if (typeof b.user_id === 'number') s.user = b.user_id;
  if (typeof b.session_token === 'string') {
    // The read the action's handler makes next (findSession): on SQLite the handler's is then
    // served from the read memo, one trip into the database instead of two.
    const session = (await app.store.sessions.getWithUserByTokenHash(hashToken(b.session_token), at))?.session;
    if (session !== undefined) {
      s.sessionIp = session.ipAddress;
      s.sessionUser = session.userId;
    }
  }
  return s;
}

/** @fastify/rate-limit's store interface over our Limiter (sliding windows, Redis or memory). */
function limiterStore(limiter: Limiter, now: () => number) {
  return class LimiterStore implements FastifyRateLimitStore {
    incr(key: string, cb: (err: Error | null, res?: { current: number; ttl: number }) => void, windowMs: number, max: number): void {
      const answer = (r: LimitResult) => cb(null, { current: r.allowed ? max - r.remaining : max + 1, ttl: r.resetMs });
      // The in-memory limiter answers at once (no promise); Redis goes through `hit`.
      if (limiter.hitNow !== undefined) return answer(limiter.hitNow(key, max, windowMs, now()));
      limiter.hit(key, max, windowMs, now()).then(answer, (err: Error) => cb(err));
    }
    child(): FastifyRateLimitStore {
      return this;
    }
  };
}
