import fp from 'fastify-plugin';
import { LoginGuard } from '../core/login.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Password checks with failed-login backoff and the temporary lock (core/login.ts). */
    logins: LoginGuard;
    /** Deletes expired sessions (revoking their keys) and spent or expired user tokens now. */
    purgeExpiredSessions(): Promise<{ sessions: number; tokens: number }>;
  }
}

/** How often the purge job runs. Expired sessions are refused on read anyway; this frees the rows. */
export const PURGE_INTERVAL_MS = 60_000;

/**
 * Sessions and logins: the login guard and the periodic purge of expired sessions, stopped on
 * close. The purge never throws out of the timer: a failure is logged and retried next time.
 */
export default fp(async (app) => {
  app.decorate('logins', new LoginGuard(app.store, () => app.clock.now(), app.config));
  app.decorate('purgeExpiredSessions', async () => {
    const now = app.clock.now();
    const sessions = await app.store.sessions.purgeExpired(now);
    const tokens = await app.store.users.purgeExpiredTokens(now);
    return { sessions, tokens };
  });
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    app.purgeExpiredSessions()
      .then((n) => { if (n.sessions + n.tokens > 0) app.log.info(n, 'expired sessions and tokens purged'); })
      .catch((err: unknown) => app.log.warn({ err }, 'session purge failed; will retry'))
      .finally(() => { running = false; });
  }, PURGE_INTERVAL_MS);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
  });
}, { name: 'sessions', dependencies: ['database'] });
