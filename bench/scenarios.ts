import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadJob, LoadResult } from './load.js';
import { cpuSeconds, runToEnd } from './proc.js';
import { ratio, type Row } from './report.js';
import type { Api } from './seed.js';

/**
 * Scenario plumbing: a load run is a job file plus a body list handed to bench/load.ts in its
 * own process on core 1; a scenario is one such run (or two at once) plus its checks.
 */

export const benchDir = import.meta.dirname;

export interface Settings {
  quick: boolean;
  tmp: string;
  /** Seconds of each measured run, and of the unmeasured warm-up before it. */
  measure: number;
  warmup: number;
  /** Seconds of the baseline measured right before a scenario (after a 1 s warm-up). */
  pairedMeasure: number;
  connections: number;
}

export interface Scenario {
  name: string;
  /** null when skipped or failed (see note). */
  load: LoadResult | null;
  /** The baseline measured right before this scenario (its ratio uses this one). */
  baseline?: LoadResult;
  note?: string;
  /** Extra figures of the scenario (RSS, rows, seconds of seeding…). */
  extra?: Record<string, unknown>;
}

let bodyFiles = 0;
/** Writes a body list once and returns its path (the lists can be tens of MB: not in the job). */
export function bodiesFile(s: Settings, bodies: string[]): string {
  const file = path.join(s.tmp, `bodies-${++bodyFiles}.json`);
  writeFileSync(file, JSON.stringify(bodies));
  return file;
}

export interface LoadSpec {
  url: string | string[];
  action: string;
  secret?: string;
  bodies: string;
  order?: LoadJob['order'];
  expect?: string;
  connections?: number;
  pipelining?: number;
  amount?: LoadJob['amount'];
  maxSeconds?: number;
  duration?: number;
  warmup?: number;
  warmupAmount?: LoadJob['warmupAmount'];
  /** CPU of the load generator: 1 normally, null to let it float (PostgreSQL slot). */
  cpu?: number | null;
  /** Pid of the process under load, to report its CPU time per request. */
  cpuPid?: number;
}

let jobs = 0;
export async function runLoad(s: Settings, spec: LoadSpec): Promise<LoadResult> {
  const urls = (Array.isArray(spec.url) ? spec.url : [spec.url]).map((u) => `${u}/v1/${spec.action}`);
  const job: LoadJob = {
    url: urls.length === 1 ? urls[0]! : urls,
    headers: spec.secret ? { authorization: `Bearer ${spec.secret}` } : {},
    bodiesFile: spec.bodies,
    order: spec.order ?? 'cycle',
    connections: spec.connections ?? s.connections,
    duration: spec.duration ?? s.measure,
    warmup: spec.warmup ?? s.warmup,
    ...(spec.warmupAmount !== undefined ? { warmupAmount: spec.warmupAmount } : {}),
    ...(spec.pipelining ? { pipelining: spec.pipelining } : {}),
    ...(spec.amount !== undefined ? { amount: spec.amount } : {}),
    ...(spec.maxSeconds !== undefined ? { maxSeconds: spec.maxSeconds } : {}),
    ...(spec.expect !== undefined ? { expect: spec.expect } : {}),
  };
  const file = path.join(s.tmp, `job-${++jobs}-${spec.action}.json`);
  writeFileSync(file, JSON.stringify(job));
  let cpuStart: number | undefined;
  const pid = spec.cpuPid;
  const out = await runToEnd(`load ${spec.action}`, spec.cpu === undefined ? 1 : spec.cpu,
    [process.execPath, '--import', 'tsx', path.join(benchDir, 'load.ts'), file], {
      log: path.join(s.tmp, 'load.log'),
      onLine: (line) => {
        if (line === 'measuring' && pid !== undefined) cpuStart = cpuSeconds(pid);
      },
    });
  const result = JSON.parse(out.trim().split('\n').pop() ?? '') as LoadResult;
  if (pid !== undefined && cpuStart !== undefined && result.requests > 0) {
    result.cpuUsPerReq = ((cpuSeconds(pid) - cpuStart) * 1e6) / result.requests;
  }
  return result;
}

/** Problems worth a note next to the figures: error answers, wrong bodies, reused bodies. */
export function problems(r: LoadResult): string {
  const p: string[] = [];
  if (r.non2xx) p.push(`${r.non2xx} non-2xx (${Object.entries(r.statusCodes).map(([c, n]) => `${c}×${n}`).join(', ')})`);
  if (r.mismatches) p.push(`${r.mismatches} unexpected bodies`);
  if (r.exhausted) p.push(`${r.exhausted} reused bodies`);
  if (r.errors) p.push(`${r.errors} errors`);
  return p.join('; ');
}

/** One sanity call before loading a scenario: the answer must be what the load expects. */
export async function check(api: Api, action: string, body: string, status: number, expect: string): Promise<string | null> {
  const r = await api.call(action, JSON.parse(body));
  const text = JSON.stringify(r.json);
  return r.status === status && text.includes(expect) ? null : `sanity call answered ${r.status} ${text.slice(0, 200)}`;
}

/**
 * The value of one unlabelled series in the service's /metrics (`name` is a regex source, so a
 * prefix can be matched), or null when the scrape fails or does not have it.
 */
async function metricValue(url: string, name: string): Promise<number | null> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Waits until the service has written its buffered verify usage (`authnzd_apikey_usage_pending`
 * is 0), at most `maxMs`: after the cold-key run tens of thousands of keys wait for the flush,
 * which would otherwise run during the next scenario and be charged to it. Answers the ms waited.
 */
export async function usageSettled(url: string, maxMs = 30_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    const pending = await metricValue(url, 'authnzd_apikey_usage_pending');
    if (pending === null || pending === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return Date.now() - t0;
}

let lagProbe: string | null = null;
/** The service whose event-loop lag (prom-client's, from /metrics) scenarios record; null: none. */
export function probeLoopLag(url: string | null): void {
  lagProbe = url;
}

/**
 * Maximum event-loop delay in ms since the previous scrape (prom-client resets its histogram at
 * every collection, with a 10 ms resolution), or null when /metrics does not say.
 */
export async function loopLagMaxMs(url: string): Promise<number | null> {
  const seconds = await metricValue(url, '\\w*nodejs_eventloop_lag_max_seconds');
  return seconds === null ? null : Math.round(seconds * 1000 * 10) / 10;
}

/** A progress line on stderr, with the seconds since the bench started (where a run's time goes). */
export function progress(line: string): void {
  process.stderr.write(`bench [${Math.round(process.uptime())} s]: ${line}\n`);
}

export async function scenario(name: string, fn: () => Promise<Omit<Scenario, 'name'>>): Promise<Scenario> {
  progress(`${name}…`);
  const started = Date.now();
  try {
    const probe = lagProbe;
    if (probe) await loopLagMaxMs(probe);
    const r: Scenario = { name, ...(await fn()) };
    const lag = probe && lagProbe === probe ? await loopLagMaxMs(probe) : null;
    if (lag !== null) r.extra = { ...r.extra, loop_lag_max_ms: lag };
    r.extra = { ...r.extra, seconds: Math.round((Date.now() - started) / 100) / 10 };
    const extra = r.load ? problems(r.load) : '';
    if (extra) r.note = r.note ? `${r.note}; ${extra}` : extra;
    progress(`${name}: ${r.load ? `${Math.round(r.load.rps)} req/s, p99 ${r.load.p99} ms` : ''} ${r.note ?? ''}`);
    return r;
  } catch (err) {
    const note = `failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
    progress(`${name}: ${note}`);
    return { name, load: null, note };
  }
}

export function skipped(name: string, why: string): Scenario {
  progress(`${name}: skipped (${why})`);
  return { name, load: null, note: `skipped: ${why}` };
}

/** The row of a scenario; the ratio is to its paired baseline when it has one. */
export function toRow(sc: Scenario, baseline: LoadResult | null): Row {
  const l = sc.load;
  baseline = sc.baseline ?? baseline;
  return {
    scenario: sc.name,
    rps: l?.rps ?? null,
    p50: l?.p50 ?? null,
    p99: l?.p99 ?? null,
    ratio: ratio(l?.rps, baseline?.rps),
    baselineRps: l ? baseline?.rps ?? null : null,
    loopMaxMs: (sc.extra?.loop_lag_max_ms as number | undefined) ?? null,
    cpuUs: l?.cpuUsPerReq ?? null,
    cpuRatio: ratio(baseline?.cpuUsPerReq, l?.cpuUsPerReq),
    ...(sc.note ? { note: sc.note } : {}),
  };
}
