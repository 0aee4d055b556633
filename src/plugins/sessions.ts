import fp from 'fastify-plugin';
import { normaliseEmail } from '../core/email.js';
import { LoginGuard, StoreUnknownEmailFailures, UNKNOWN_LOGIN_DIGEST } from '../core/login.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Password checks with failed-login backoff and the temporary lock (core/login.ts). */
    logins: LoginGuard;
    /** Deletes expired sessions (revoking their keys) and spent or expired user tokens now. */
    purgeExpiredSessions(): Promise<{ sessions: number; tokens: number; unknownLoginFailures: number }>;
  }
}

/** How often the purge job runs. Expired sessions are refused on read anyway; this frees the rows. */
export const PURGE_INTERVAL_MS = 60_000;

/**
 * Sessions and logins: the login guard and the periodic purge of expired sessions (and spent
 * tokens, and unknown-email failure counts that no longer count), stopped on close. The purge
 * never throws out of the timer: a failure is logged and retried next time.
 *
 * Failed logins to unknown emails are counted in the database, by a keyed digest of the email
 * (core/login.ts: StoreUnknownEmailFailures); with Redis the rate-limit hooks count them there
 * instead (ratelimit/hooks.ts).
 */
export default fp(async (app) => {
  const logins = new LoginGuard(app.store, () => app.clock.now(), app.config);
  logins.unknownFailures = new StoreUnknownEmailFailures(app.store, (email) => app.keyedDigest(UNKNOWN_LOGIN_DIGEST, normaliseEmail(email)));
  app.decorate('logins', logins);
  app.decorate('purgeExpiredSessions', async () => {
    const now = app.clock.now();
    const sessions = await app.store.sessions.purgeExpired(now);
    const tokens = await app.store.users.purgeExpiredTokens(now);
    const unknownLoginFailures = await app.store.users.purgeUnknownLoginFailures(now);
    return { sessions, tokens, unknownLoginFailures };
  });
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    app.purgeExpiredSessions()
      .then((n) => { if (n.sessions + n.tokens + n.unknownLoginFailures > 0) app.log.info(n, 'expired sessions, tokens and unknown-email login counts purged'); })
      .catch((err: unknown) => app.log.warn({ err }, 'session purge failed; will retry'))
      .finally(() => { running = false; });
  }, PURGE_INTERVAL_MS);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
  });
}, { name: 'sessions', dependencies: ['database', 'data-dir'] });
