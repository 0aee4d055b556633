import fp from 'fastify-plugin';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { HistogramSeries, SeriesCounter, SeriesHistogram } from './series.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

/** Prometheus metrics: request counts and latency by action and status, plus process metrics. */
export default fp(async (app) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'authnzd_' });
  const requests = new SeriesCounter('authnzd_requests_total', 'Requests answered, by action and status', registry);
  const latency = new SeriesHistogram('authnzd_request_duration_seconds', 'Request latency, by action and status',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registry);
  app.decorate('metrics', registry);
  // The series of each (action, status), found by one lookup. Bounded: actions are the routes
  // (unknown paths share one label) and statuses a few dozen codes.
  const series = new Map<string, { count: { value: number }; time: HistogramSeries }>();
  app.addHook('onResponse', (req, reply, done) => {
    // Unknown routes share one label so a scanner cannot blow up the series count.
    const action = req.routeOptions.config.action ?? (req.routeOptions.url ? req.routeOptions.url : 'unmatched');
    const key = `${action} ${reply.statusCode}`;
    let s = series.get(key);
    if (s === undefined) {
      const labels = { action, status: String(reply.statusCode) };
      s = { count: requests.at(key, labels), time: latency.at(key, labels) };
      series.set(key, s);
    }
    s.count.value++;
    s.time.observe(reply.elapsedTime / 1000);
    done();
  });
}, { name: 'metrics', dependencies: ['base'] });
