import t from 'tap';
import type { LoadResult } from '../../bench/load.js';
import { fmt, met, median, percentile, pooled, ratio, resultsTable, table, targetsTable } from '../../bench/report.js';

// The bench's pure helpers only: no timings are asserted anywhere in the suite.

t.test('percentile is nearest-rank on a sorted list', async (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(percentile(xs, 50), 50);
  t.equal(percentile(xs, 99), 99);
  t.equal(percentile(xs, 100), 100);
  t.equal(percentile(xs, 0), 1);
  t.equal(percentile([7], 99), 7);
  t.ok(Number.isNaN(percentile([], 50)));
  t.equal(median([3, 1, 2]), 2);
});

t.test('ratio refuses missing or non-positive denominators', async (t) => {
  t.equal(ratio(6, 10), 0.6);
  t.equal(ratio(null, 10), null);
  t.equal(ratio(5, 0), null);
  t.equal(ratio(5, undefined), null);
  t.equal(ratio(Infinity, 2), null);
});

t.test('targets: min and max bounds, missing values are n/a', async (t) => {
  t.equal(met({ name: 'a', value: 0.6, bound: 0.6, kind: 'min' }), true);
  t.equal(met({ name: 'a', value: 0.59, bound: 0.6, kind: 'min' }), false);
  t.equal(met({ name: 'b', value: 51, bound: 50, kind: 'max' }), false);
  t.equal(met({ name: 'b', value: null, bound: 50, kind: 'max' }), null);
  const md = targetsTable([
    { name: 'x', value: 0.5, bound: 0.6, kind: 'min', cpuValue: 0.7 },
    { name: 'y', value: 12, bound: 50, kind: 'max', unit: 'MiB' },
    { name: 'z', value: null, bound: 2000, kind: 'min', unit: '/s' },
  ]);
  t.match(md, /\| x \| 0\.50 \| ≥ 0\.60 \| \*\*no\*\* \| 0\.70 \| yes \|/);
  t.match(md, /\| y \| 12\.00 MiB \| ≤ 50\.00 MiB \| yes \|  \|  \|/);
  t.match(md, /\| z \| — \/s \| ≥ 2,000 \/s \| n\/a \|/);
});

t.test('numbers and tables', async (t) => {
  t.equal(fmt(12345.6), '12,346');
  t.equal(fmt(1.234), '1.23');
  t.equal(fmt(null), '—');
  t.equal(fmt(NaN), '—');
  t.equal(table(['a', 'b'], [['x|y', '1']], [1]), '| a | b |\n|---|---:|\n| x\\|y | 1 |');
  const md = resultsTable([
    { scenario: 'baseline', rps: 15000, p50: 0.5, p99: 1.2, ratio: 1, baselineRps: 15000, cpuUs: 61.4, cpuRatio: 1, loopMaxMs: 12.34 },
    { scenario: 'verify_apikey', rps: null, p50: null, p99: null, ratio: null, note: 'skipped: not available yet' },
  ]);
  const lines = md.split('\n');
  t.equal(lines.length, 4);
  t.equal(lines[1], '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  t.equal(lines[2], '| baseline | 15,000 | 0.50 | 1.20 | 1.00 | 15,000 | 61 | 1.00 | 12 |  |');
  t.equal(lines[3], '| verify_apikey | — | — | — | — | — | — | — | — | skipped: not available yet |');
});

t.test('pooled: two baseline loads as one figure (before and after a scenario)', async (t) => {
  const load = (requests: number, seconds: number, p99: number, cpu: number | undefined, codes: Record<string, number>): LoadResult => ({
    requests, seconds, rps: requests / seconds, p50: p99 / 4, p90: p99 / 2, p99, max: p99 * 3, non2xx: 1, errors: 0, timeouts: 0,
    mismatches: 0, exhausted: 0, statusCodes: codes, ...(cpu === undefined ? {} : { cpuUsPerReq: cpu }),
  });
  const before = load(20_000, 2, 2, 100, { 200: 20_000 });
  const after = load(10_000, 2, 4, 130, { 200: 9_999, 500: 1 });
  const p = pooled([before, after]);
  t.equal(p.requests, 30_000);
  t.equal(p.rps, 7_500, 'all requests over all the time, not the mean of the two rates');
  t.equal(p.p99, 3, 'percentiles averaged');
  t.equal(p.max, 12, 'the worst maximum');
  t.equal(p.cpuUsPerReq, 110, 'CPU per request weighted by requests');
  t.equal(p.non2xx, 2);
  t.same(p.statusCodes, { 200: 29_999, 500: 1 });
  t.equal(pooled([before]), before, 'one run is itself');
  t.equal(pooled([before, load(1, 1, 1, undefined, {})]).cpuUsPerReq, undefined, 'no CPU figure unless every run has one');
  t.throws(() => pooled([]));
});
