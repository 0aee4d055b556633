import fp from 'fastify-plugin';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

/** Prometheus metrics: request counts and latency by action and status, plus process metrics. */
export default fp(async (app) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'authnzd_' });
  const requests = new Counter({
    name: 'authnzd_requests_total', help: 'Requests answered, by action and status',
    labelNames: ['action', 'status'] as const, registers: [registry],
  });
  const latency = new Histogram({
    name: 'authnzd_request_duration_seconds', help: 'Request latency, by action and status',
    labelNames: ['action', 'status'] as const, registers: [registry],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  app.decorate('metrics', registry);
  app.addHook('onResponse', async (req, reply) => {
    // Unknown routes share one label so a scanner cannot blow up the series count.
    const action = req.routeOptions.config.action ?? (req.routeOptions.url ? req.routeOptions.url : 'unmatched');
    const labels = { action, status: String(reply.statusCode) };
    requests.inc(labels);
    latency.observe(labels, reply.elapsedTime / 1000);
  });
}, { name: 'metrics', dependencies: ['base'] });
