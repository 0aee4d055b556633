import { Counter, Histogram, Registry } from 'prom-client';
import t from 'tap';
import { SeriesCounter, SeriesHistogram } from '../../src/plugins/series.js';

// The hand-rolled series must render exactly as prom-client's own Counter and Histogram do, so
// dashboards and alerts written against the old output keep working.
t.test('renders as prom-client renders its own metrics', async (t) => {
  const buckets = [0.001, 0.01, 0.1];
  const ours = new Registry();
  const theirs = new Registry();
  const c = new SeriesCounter('x_requests_total', 'Requests', ours);
  const h = new SeriesHistogram('x_seconds', 'Latency', buckets, ours);
  const pc = new Counter({ name: 'x_requests_total', help: 'Requests', labelNames: ['action', 'status'], registers: [theirs] });
  const ph = new Histogram({ name: 'x_seconds', help: 'Latency', labelNames: ['action', 'status'], buckets, registers: [theirs] });

  const observations: Array<[string, string, number]> = [
    ['verify', '200', 0.0004], ['verify', '200', 0.001], ['verify', '200', 0.05], ['verify', '200', 3],
    ['login', '401', 0.2], ['verify', '200', 0.01],
  ];
  for (const [action, status, v] of observations) {
    const key = `${action} ${status}`;
    c.at(key, { action, status }).value++;
    h.at(key, { action, status }).observe(v);
    pc.inc({ action, status });
    ph.observe({ action, status }, v);
  }
  t.equal(await ours.metrics(), await theirs.metrics());
  t.match(await ours.metrics(), /x_seconds_bucket\{le="0\.01",action="verify",status="200"\} 3\n/, 'buckets are cumulative, bounds inclusive');

  c.reset();
  h.reset();
  t.notMatch(await ours.metrics(), /action=/, 'reset empties every series');
});

t.test('bucket bounds must increase', async (t) => {
  t.throws(() => new SeriesHistogram('y_seconds', 'y', [0.1, 0.1], new Registry()), /increase/);
});
