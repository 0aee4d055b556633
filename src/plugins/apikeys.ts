import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import type { ApiKeyDeps } from '../core/apikeys.js';
import { UsageBuffer } from '../core/usage-buffer.js';
import { VerifyCache } from '../core/verify-cache.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** What the API-key actions need: store, keyring, verify cache, usage buffer, policy, limiter. */
    apikeys: ApiKeyDeps;
  }
}

/** Usage counters are written at least this often (SPEC §4.3: ≤ 5 s). */
export const USAGE_FLUSH_MS = 4000;

/**
 * API-key services. Registered after 'database': Fastify runs onClose hooks of sibling plugins
 * in reverse registration order, so the last usage flush runs before the store is closed
 * (test/apikeys/shutdown.test.ts proves it on SIGTERM).
 */
export default fp(async (app) => {
  const usage = new UsageBuffer((updates) => app.store.apikeys.recordUsage(updates));
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
  const timer = setInterval(() => {
    usage.flush().catch((err: unknown) => app.log.error({ err, pending: usage.size }, 'API key usage flush failed; kept for the next one'));
  }, USAGE_FLUSH_MS);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await usage.flush();
  });
}, { name: 'apikeys', dependencies: ['metrics', 'database', 'keyring', 'policy'] });
