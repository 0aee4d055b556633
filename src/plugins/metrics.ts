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
  // The labelled series of each (action, status), looked up once: prom-client hashes the label
  // object on every inc/observe otherwise (2% of a verify_apikey, issue 7). Bounded: actions are
  // the routes (unknown paths share one label) and statuses are a few dozen codes.
  const series = new Map<string, { count: Counter.Internal; time: Histogram.Internal<'action' | 'status'> }>();
  app.addHook('onResponse', (req, reply, done) => {
    // Unknown routes share one label so a scanner cannot blow up the series count.
    const action = req.routeOptions.config.action ?? (req.routeOptions.url ? req.routeOptions.url : 'unmatched');
    const key = `${action} ${reply.statusCode}`;
    let s = series.get(key);
    if (s === undefined) {
      const labels = { action, status: String(reply.statusCode) };
      s = { count: requests.labels(labels), time: latency.labels(labels) };
      series.set(key, s);
    }
    s.count.inc();
    s.time.observe(reply.elapsedTime / 1000);
    done();
  });
}, { name: 'metrics', dependencies: ['base'] });
