import fp from 'fastify-plugin';
import type { Limiter } from '../ratelimit/limiter.js';
import { MemoryLimiter } from '../ratelimit/memory.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The counter behind every rate limit (memory, or Redis with a memory fallback). */
    limiter: Limiter;
  }
}

/**
 * Rate-limit counters (SPEC §6). Without AUTHNZD_REDIS_URL they live in this instance's memory.
 * Limits themselves are applied in the /v1 context (see src/ratelimit/hooks.ts).
 */
export default fp(async (app) => {
  app.decorate('limiter', new MemoryLimiter());
}, { name: 'rate-limit', dependencies: ['base'] });
