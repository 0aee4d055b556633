import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

/**
 * The load generator, run as its own process pinned to the other core (`taskset -c 1 node
 * --import tsx bench/load.ts <job.json>`). It runs autocannon's programmatic API with a
 * per-request body taken from a list, and prints one JSON line: a LoadResult.
 */

export interface LoadJob {
  /** One URL, or several (autocannon spreads the connections over them). */
  url: string | string[];
  headers: Record<string, string>;
  /** JSON file holding an array of request bodies (strings). */
  bodiesFile: string;
  /**
   * `cycle`: round-robin over the bodies. `once`: bodies are never meant to repeat; if the run
   * outlasts the list they do, and are counted in `exhausted`.
   */
  order: 'cycle' | 'once';
  connections: number;
  /** Seconds of the measured run (ignored for `once`, which runs until the bodies are spent). */
  duration: number;
  /** Seconds of an unmeasured run first (JIT, caches, connection set-up). Uses the same body list. */
  warmup: number;
  /** Instead of `warmup` seconds: this many warm-up requests (for `once` lists, which a fast service would spend). */
  warmupAmount?: number;
  pipelining?: number;
  /** Fixed number of measured requests (overrides duration); `rest`: every body not used yet. */
  amount?: number | 'rest';
  /** With `amount`: stop after this many seconds even if the amount is not reached. */
  maxSeconds?: number;
  /** Substring every response body must contain; the others are counted as mismatches. */
  expect?: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  exhausted: number;
  /** Service CPU time (all threads) per measured request, µs; set by the parent when asked. */
  cpuUsPerReq?: number;
  statusCodes: Record<string, number>;
}

/** p50/p90/p99/max of the 2xx latencies in ms, to 0.01 ms (autocannon's own are whole ms). */
export function percentiles(ms: number[]): { p50: number; p90: number; p99: number; max: number } {
  if (ms.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(ms).sort();
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! * 100) / 100;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

async function main(jobFile: string): Promise<void> {
  const job = JSON.parse(readFileSync(jobFile, 'utf8')) as LoadJob;
  const bodies = JSON.parse(readFileSync(job.bodiesFile, 'utf8')) as string[];
  if (bodies.length === 0) throw new Error('no request bodies');
  let next = 0;
  let mismatches = 0;
  let exhausted = 0;
  const requests = [{
    method: 'POST',
    headers: { 'content-type': 'application/json', ...job.headers },
    setupRequest: (req: { body?: string | Buffer }) => {
      if (job.order === 'once' && next >= bodies.length) exhausted++;
      req.body = bodies[next++ % bodies.length]!;
      return req;
    },
    onResponse: (_status: number, body: string) => {
      if (job.expect !== undefined && !body.includes(job.expect)) mismatches++;
    },
  }];
  const common = { url: job.url, connections: job.connections, pipelining: job.pipelining ?? 1, requests };

  if (job.warmupAmount !== undefined || job.warmup > 0) {
    const warm = autocannon(job.warmupAmount !== undefined ? { ...common, amount: job.warmupAmount } : { ...common, duration: job.warmup });
    await warm;
    next += job.connections * (job.pipelining ?? 1); // margin: autocannon may have set up a few more
  }
  mismatches = 0;
  exhausted = 0;
  process.stdout.write('measuring\n'); // the parent starts counting the service's CPU time here
  const left = bodies.length - next;
  if (job.order === 'once' && left < job.connections * 10) throw new Error(`only ${left} unused bodies left after the warm-up`);
  const amount = job.amount === 'rest' ? left - job.connections * (job.pipelining ?? 1) : job.amount;
  const startedAt = performance.now();
  const run = autocannon(amount !== undefined ? { ...common, amount } : { ...common, duration: job.duration });
  // autocannon's histogram keeps whole milliseconds; the response event has the exact time.
  const latencies: number[] = [];
  // The run's length is taken here, first request to last response: autocannon ends a run (and
  // measures its `duration`) only at its next 1-second sample tick, so a fixed `amount` served
  // in 1.2 s was reported as 2 s (the cold-key scenario's rate was understated up to 2x).
  let lastResponseAt = startedAt;
  run.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    lastResponseAt = performance.now();
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const cap = job.maxSeconds ? setTimeout(() => run.stop(), job.maxSeconds * 1000) : undefined;
  const r = await run;
  clearTimeout(cap);
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = Number(s.count);
  const total = r.requests.total;
  const seconds = lastResponseAt > startedAt ? (lastResponseAt - startedAt) / 1000 : r.duration;
  const out: LoadResult = {
    requests: total,
    seconds,
    rps: total / seconds,
    ...percentiles(latencies),
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    mismatches,
    exhausted,
    statusCodes,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

await main(process.argv[2] ?? '');
