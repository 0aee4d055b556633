import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CLIENT_CACHE_TTL_MS, ClientAuthenticator, clientMayCall } from '../core/clients.js';
import type { ReadStamp } from '../db/store.js';
import type { Client } from '../db/types.js';
import { ApiError } from '../errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    clientAuth: ClientAuthenticator;
  }
  interface FastifyRequest {
    /** The authenticated calling client (set in the action context only). */
    client: Client | undefined;
    /**
     * The store's change stamp, read when the request arrived (SQLite; undefined on PostgreSQL):
     * the hot actions pass it to their memoised reads, so a request reads it once (read-memo.ts).
     */
    readStamp: ReadStamp | undefined;
  }
  interface FastifyContextConfig {
    /** Action name of a /v1 route, checked against the client's action list. */
    action?: string;
  }
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/**
 * Client authentication (SPEC §2) as an onRequest hook for the action context: a missing or
 * unknown secret is 401 `unauthenticated`, an action outside the client's list 403
 * `client_forbidden`. Runs before the body is parsed, so unauthenticated callers cost little.
 *
 * On a store that announces client changes (PostgreSQL: `Store.watchClients`) the cache follows
 * the announcements (core/clients.ts); the watch is started here, before the service listens,
 * and closed on shutdown. Its outages are logged once each (warn), its recoveries at info; a
 * watch that cannot connect does not stop the start: the cache falls back to its TTL meanwhile.
 */
export default fp(async (app) => {
  const auth = new ClientAuthenticator(app.store, () => app.clock.now());
  if (app.store.watchClients) {
    let wasDown = false;
    const watch = await app.store.watchClients({
      onChange: () => auth.invalidate(),
      onState: (state) => {
        if (state.live) {
          app.log.info(wasDown
            ? 'client changes: listening again (cached client answers dropped: changes meanwhile may have been missed)'
            : 'client changes: listening (LISTEN authnzd_clients)');
          wasDown = false;
        } else {
          wasDown = true;
          app.log.warn({ reason: state.reason },
            `client changes: listener down, reconnecting; cached client answers are kept at most ${CLIENT_CACHE_TTL_MS} ms until it is back`);
        }
      },
    });
    auth.follow(watch);
    // Still ready while the listener is down (answers then expire within the TTL), but /ready
    // says why client changes are slower, as it does for the Redis fallback.
    app.readiness.add('client_changes', () => watch.live
      ? { ok: true }
      : { ok: true, warning: `PostgreSQL listener down, reconnecting: client changes by other processes apply within ${CLIENT_CACHE_TTL_MS} ms instead of at once` });
    new Gauge({
      name: 'authnzd_client_watch_up',
      help: 'PostgreSQL: 1 while the LISTEN authnzd_clients connection is live (client changes apply at once), 0 while cached client answers fall back to their 1 s TTL',
      registers: [app.metrics],
      collect() { this.set(watch.live ? 1 : 0); },
    });
    app.addHook('onClose', async () => {
      await watch.close();
    });
  }
  app.decorate('clientAuth', auth);
  app.decorateRequest('client', undefined);
  app.decorateRequest('readStamp', undefined);
}, { name: 'client-auth', dependencies: ['database', 'metrics'] });

/**
 * The action context's onRequest hook, callback-style: a cached secret (the usual case) costs
 * no promise.
 */
export function requireClient(req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  const secret = bearer(req);
  if (secret === undefined) return done(new ApiError('unauthenticated'));
  let at: ReadStamp | undefined;
  try {
    at = req.server.store.readStamp?.();
  } catch (err) {
    return done(err as Error); // a database that cannot answer: the error handler's 503
  }
  req.readStamp = at;
  const hit = req.server.clientAuth.cached(secret, at);
  if (hit !== undefined) return done(admit(req, hit.client));
  req.server.clientAuth.authenticate(secret, at).then((client) => done(admit(req, client)), done);
}

/**
 * Sets `req.client` (an authenticated client, allowed or not: the request's log line names it),
 * and returns the refusal when the action is outside its list.
 */
function admit(req: FastifyRequest, client: Client | undefined): ApiError | undefined {
  if (client === undefined) return new ApiError('unauthenticated');
  req.client = client;
  const action = req.routeOptions.config.action;
  if (action === undefined || !clientMayCall(client, action)) {
    return new ApiError('client_forbidden', `This client may not call ${action ?? 'this route'}.`);
  }
  return undefined;
}
