import type { LoadResult } from './load.js';

/**
 * Pure helpers of the bench: percentiles, ratios, target checks and the markdown table. No I/O,
 * so test/bench/report.test.ts covers them.
 */

export interface Row {
  scenario: string;
  rps: number | null;
  p50: number | null;
  p99: number | null;
  /** Throughput divided by the baseline's (null when there is no throughput figure). */
  ratio: number | null;
  /** The baseline throughput the ratio was taken against (measured right before the scenario). */
  baselineRps?: number | null;
  /** Service CPU time per request (µs), and the baseline's CPU per request divided by it. */
  cpuUs?: number | null;
  cpuRatio?: number | null;
  /** Longest event-loop delay of the service during the scenario (ms, 10 ms resolution). */
  loopMaxMs?: number | null;
  note?: string;
}

export interface Target {
  name: string;
  /** Measured value and the bound it must meet. */
  value: number | null;
  /** The same figure computed from CPU time per request instead of wall-clock throughput. */
  cpuValue?: number | null;
  bound: number;
  /** `min`: value ≥ bound; `max`: value ≤ bound. */
  kind: 'min' | 'max';
  unit?: string;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** a / b, or null when either is missing or b is not positive. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !(b > 0) || !Number.isFinite(a)) return null;
  return a / b;
}

export function met(t: Target): boolean | null {
  if (t.value === null || !Number.isFinite(t.value)) return null;
  return t.kind === 'min' ? t.value >= t.bound : t.value <= t.bound;
}

/** Numbers for humans: thousands separators for big values, 2 significant decimals for small. */
export function fmt(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
}

/** A markdown table; columns listed in `right` are right-aligned (numbers). */
export function table(header: string[], rows: string[][], right: number[] = []): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (right.includes(i) ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
  return lines.join('\n');
}

export function resultsTable(rows: readonly Row[]): string {
  return table(
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', '× baseline', 'baseline req/s', 'CPU µs/req', '× baseline (CPU)', 'loop max ms', 'note'],
    rows.map((r) => [
      r.scenario, fmt(r.rps), fmt(r.p50), fmt(r.p99), fmt(r.ratio), fmt(r.baselineRps),
      fmt(r.cpuUs, 0), fmt(r.cpuRatio), fmt(r.loopMaxMs, 0), r.note ?? '',
    ]),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
}

export function targetsTable(targets: readonly Target[]): string {
  return table(
    ['target', 'measured', 'bound', 'met', 'from CPU time', 'met (CPU)'],
    targets.map((t) => {
      const unit = t.unit ? ` ${t.unit}` : '';
      const yes = (v: boolean | null) => (v === null ? 'n/a' : v ? 'yes' : '**no**');
      const cpu = t.cpuValue === undefined ? null : met({ ...t, value: t.cpuValue });
      return [
        t.name, `${fmt(t.value)}${unit}`, `${t.kind === 'min' ? '≥' : '≤'} ${fmt(t.bound)}${unit}`, yes(met(t)),
        t.cpuValue === undefined ? '' : `${fmt(t.cpuValue)}${unit}`, t.cpuValue === undefined ? '' : yes(cpu),
      ];
    }),
    [1, 2, 4],
  );
}

/**
 * Several loads of the same thing as one figure: throughput over all their requests and time,
 * CPU per request weighted by requests, latency percentiles averaged, the worst maximum, the
 * counts summed. The paired baseline is measured before and after its scenario and pooled so.
 */
export function pooled(runs: readonly LoadResult[]): LoadResult {
  if (runs.length === 0) throw new Error('pooled: no runs');
  if (runs.length === 1) return runs[0]!;
  const sum = (f: (r: LoadResult) => number) => runs.reduce((acc, r) => acc + f(r), 0);
  const mean = (f: (r: LoadResult) => number) => Math.round((sum(f) / runs.length) * 100) / 100;
  const requests = sum((r) => r.requests);
  const seconds = sum((r) => r.seconds);
  const statusCodes: Record<string, number> = {};
  for (const r of runs) for (const [code, n] of Object.entries(r.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const out: LoadResult = {
    requests, seconds, rps: requests / seconds,
    p50: mean((r) => r.p50), p90: mean((r) => r.p90), p99: mean((r) => r.p99), max: Math.max(...runs.map((r) => r.max)),
    non2xx: sum((r) => r.non2xx), errors: sum((r) => r.errors), timeouts: sum((r) => r.timeouts),
    mismatches: sum((r) => r.mismatches), exhausted: sum((r) => r.exhausted), statusCodes,
  };
  if (runs.every((r) => r.cpuUsPerReq !== undefined)) out.cpuUsPerReq = sum((r) => r.cpuUsPerReq! * r.requests) / requests;
  return out;
}
