import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { Gauge } from 'prom-client';
import { FallbackLimiter } from '../ratelimit/fallback.js';
import type { Limiter } from '../ratelimit/limiter.js';
import { MemoryLimiter } from '../ratelimit/memory.js';
import { RedisLimiter } from '../ratelimit/redis.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The counter behind every rate limit (memory, or Redis with a memory fallback). */
    limiter: Limiter;
  }
}

export interface RateLimitPluginOptions {
  /** Namespace of the Redis keys (tests use one per run). */
  keyPrefix?: string;
}

/** How long start-up waits for Redis before starting on the in-memory fallback. */
const CONNECT_WAIT_MS = 2000;

/**
 * Rate-limit counters (SPEC §6). Without AUTHNZD_REDIS_URL they live in this instance's memory;
 * with it, in Redis, shared by every instance, falling back to memory while Redis is unreachable
 * (logged, a warning in /ready, `authnzd_ratelimit_redis_fallback 1` in /metrics).
 * The limits themselves are applied in the /v1 context (src/ratelimit/hooks.ts).
 */
export default fp<RateLimitPluginOptions>(async (app, opts) => {
  const memory = new MemoryLimiter();
  const { redisUrl } = app.config;
  if (redisUrl === undefined) {
    app.decorate('limiter', memory);
    app.readiness.add('rate_limits', () => ({ ok: true }));
    return;
  }
  const redis = new Redis(redisUrl, {
    // Fail fast while disconnected (the fallback answers) instead of queueing requests.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: CONNECT_WAIT_MS,
    commandTimeout: 500,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  });
  // ioredis sends the URL's SELECT as it connects and only emits its refusal (a database number
  // the server does not have, a cluster), just before 'ready': the connection stays on database
  // 0. Counters there would be shared with whatever else uses it, so a refused SELECT counts as
  // Redis being unusable (the memory fallback) until the connection is made again.
  let refusedSelect: string | undefined;
  redis.on('error', (err: { command?: { name?: string }; message?: string }) => {
    if (err?.command?.name === 'select') refusedSelect = `Redis refused database ${redis.options.db} (${err.message ?? 'error'})`;
  });
  redis.on('close', () => {
    refusedSelect = undefined;
  });
  const conn = {
    get status() {
      return refusedSelect === undefined ? redis.status : 'refusing its database';
    },
    on: redis.on.bind(redis),
  };
  const limiter = new FallbackLimiter(conn, new RedisLimiter(redis, opts.keyPrefix ?? 'authnzd:rl:'), memory, app.log);
  await connected(redis);
  limiter.check();
  app.decorate('limiter', limiter);
  app.readiness.add('rate_limits', () => limiter.degraded
    ? { ok: true, warning: `${refusedSelect ?? 'Redis unreachable'}: rate limits are counted per instance (in-memory fallback)` }
    : { ok: true });
  new Gauge({
    name: 'authnzd_ratelimit_redis_fallback',
    help: '1 while rate limits are counted in memory because Redis is unreachable',
    registers: [app.metrics],
    collect() {
      this.set(limiter.degraded ? 1 : 0);
    },
  });
  app.addHook('onClose', async () => {
    limiter.stop();
    if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
    else redis.disconnect();
  });
}, { name: 'rate-limit', dependencies: ['base', 'metrics'] });

/** Resolves when Redis is ready, refuses, or after CONNECT_WAIT_MS, whichever comes first. */
function connected(redis: Redis): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, CONNECT_WAIT_MS);
    redis.once('ready', done);
    redis.once('error', done);
  });
}
