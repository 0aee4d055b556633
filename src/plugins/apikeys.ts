import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import type { ApiKeyDeps } from '../core/apikeys.js';
import { UsageBuffer } from '../core/usage-buffer.js';
import { VerifyCache } from '../core/verify-cache.js';
import { isSqliteLockBusy } from '../errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** What the API-key actions need: store, keyring, verify cache, usage buffer, policy, limiter. */
    apikeys: ApiKeyDeps;
  }
}

/** Usage counters are written at least this often (SPEC §4.3: ≤ 5 s). */
export const USAGE_FLUSH_MS = 4000;
/**
 * How long a periodic usage flush waits for another connection's write lock on SQLite (the
 * CLI, a second instance on the file) before giving up: it waits on the event loop, so every
 * verify would wait with it. The usual 5 s busy timeout is for writes a request needs.
 */
export const USAGE_FLUSH_LOCK_WAIT_MS = 50;
/** A flush given up on a lock is tried again this soon (and at every later tick until it lands). */
export const USAGE_FLUSH_RETRY_MS = 250;

/**
 * API-key services. Registered after 'database': Fastify runs onClose hooks of sibling plugins
 * in reverse registration order, so the last usage flush runs before the store is closed
 * (test/apikeys/shutdown.test.ts proves it on SIGTERM).
 */
export default fp(async (app) => {
  const usage = new UsageBuffer((updates, opts) => app.store.apikeys.recordUsage(updates, opts));
  const deps: ApiKeyDeps = {
    store: app.store,
    keyring: app.keyring,
    now: () => app.clock.now(),
    cache: new VerifyCache(10_000),
    usage,
    policy: () => app.policy.current().policy,
    limiter: app.hasDecorator('limiter') ? app.limiter : undefined,
  };
  app.decorate('apikeys', deps);
  new Gauge({
    name: 'authnzd_apikey_verify_cache_entries', help: 'Decrypt-and-verify results cached (bounded)', registers: [app.metrics],
    collect() { this.set(deps.cache.size); },
  });
  new Gauge({
    name: 'authnzd_apikey_usage_pending', help: 'API keys with verify usage not yet written to the database', registers: [app.metrics],
    collect() { this.set(usage.size); },
  });
  let retry: NodeJS.Timeout | undefined;
  // When the current run of deferrals began: one warning per run, not one per retry.
  let deferredSince: number | undefined;
  const flushSoon = (): void => {
    usage.flush({ lockWaitMs: USAGE_FLUSH_LOCK_WAIT_MS }).then(() => {
      if (deferredSince === undefined) return;
      app.log.info({ deferred_ms: Date.now() - deferredSince }, 'API key usage flush landed after a deferral');
      deferredSince = undefined;
    }, (err: unknown) => {
      if (!isSqliteLockBusy(err)) {
        app.log.error({ err, pending: usage.size }, 'API key usage flush failed; kept for the next one');
        return;
      }
      if (deferredSince === undefined) {
        deferredSince = Date.now();
        app.log.warn({ code: (err as { code: string }).code, pending: usage.size, retry_ms: USAGE_FLUSH_RETRY_MS },
          'API key usage flush deferred: another connection holds the database write lock');
      }
      if (retry === undefined) {
        retry = setTimeout(() => {
          retry = undefined;
          flushSoon();
        }, USAGE_FLUSH_RETRY_MS);
        retry.unref();
      }
    });
  };
  const timer = setInterval(flushSoon, USAGE_FLUSH_MS);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    clearTimeout(retry);
    // The last flush waits the usual busy timeout: nothing is lost at shutdown.
    await usage.flush();
  });
}, { name: 'apikeys', dependencies: ['metrics', 'database', 'keyring', 'policy'] });
