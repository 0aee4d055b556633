import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bodiesFile, runLoad, type Settings } from './scenarios.js';
import { anonymousSessions, fillApiKeys, issueBody, issueKeys, signUp, verifyBody } from './seed.js';
import { ADMIN_SECRET, startService, stopService } from './service.js';

/*
 * Where the service's CPU goes under one load: starts the built service with `--cpu-prof`
 * (core 0), seeds through the API, runs the load (core 1), stops the service and prints the
 * functions with the most self time, and the same grouped by package / source file.
 *
 *   npm run build && node --import tsx bench/profile.ts --scenario verify [--seconds 8] [--top 40] [--no-profile]
 *
 * Scenarios: verify (1,000 repeat keys), cold (never-repeated keys), session_exists,
 * check_access, issue. `--rate-limits` runs the service with the built-in limits (the default of
 * a real deployment; the bench turns them off) for session_exists and check_access: the key
 * scenarios seed more keys than the per-user issue limit allows. `--rows N` (verify only) adds
 * filler keys to the file until the table holds N rows and profiles a freshly started service,
 * as the bench's 1,000,000-keys scenario does (`--rows 0`: the fresh process without filler). A diagnosis tool for
 * docs/performance.md, not part of `npm run bench`.
 */

const { values: args } = parseArgs({
  options: { scenario: { type: 'string', default: 'verify' }, 'no-profile': { type: 'boolean' }, 'rate-limits': { type: 'boolean' }, 'extra-keys': { type: 'string', default: '0' }, rows: { type: 'string' }, seconds: { type: 'string', default: '8' }, top: { type: 'string', default: '40' } },
});
const seconds = Number(args.seconds);
const tmp = mkdtempSync(path.join(tmpdir(), 'authnzd-profile-'));
const profDir = path.join(tmp, 'prof');
mkdirSync(profDir);
const dataDir = path.join(tmp, 'data');
mkdirSync(dataDir);
const s: Settings = { quick: true, tmp, measure: seconds, warmup: 1, pairedMeasure: 2, connections: 10 };

if (args['rate-limits'] && !['session_exists', 'check_access'].includes(args.scenario)) {
  throw new Error('--rate-limits: only with --scenario session_exists or check_access (the others seed more keys than the limits allow)');
}
// `{}`: no overrides, the built-in limits.
const env = args['rate-limits'] ? { AUTHNZD_RATE_LIMITS: '{}' } : undefined;
if (args.rows !== undefined && args.scenario !== 'verify') throw new Error('--rows: only with --scenario verify');
const nodeArgs = args['no-profile'] ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
let svc = await startService({ dataDir, cpu: 0, log: path.join(tmp, 'authnzd.log'), env, nodeArgs: args.rows === undefined ? nodeArgs : [] });
const owner = await signUp(svc.api, 'owner@profile.example.test');
const load = (action: string, bodies: string[], expect: string, extra: object = {}) =>
  runLoad(s, { url: svc.url, action, secret: ADMIN_SECRET, bodies: bodiesFile(s, bodies), expect, cpuPid: svc.proc.pid, ...extra });

// Keys issued before the load and not used by it (the bench seeds its cold keys this way).
await issueKeys(svc.api, owner.session, Number(args['extra-keys']));
let result;
switch (args.scenario) {
  case 'verify': {
    const bodies = (await issueKeys(svc.api, owner.session, 1000)).map(verifyBody);
    if (args.rows !== undefined) {
      // The bench's large-table scenario: filler rows straight into the file, then a fresh
      // process (profiled) verifies the same working set. `--rows 0`: the fresh process alone.
      await stopService(svc);
      const file = path.join(dataDir, 'authnzd.sqlite');
      const fill = fillApiKeys(file, Math.max(0, Number(args.rows) - fillApiKeys(file, 0).rows));
      process.stderr.write(`profile: ${fill.rows} rows in api_keys\n`);
      svc = await startService({ dataDir, cpu: 0, log: path.join(tmp, 'authnzd.log'), env, nodeArgs });
    }
    result = await load('verify_apikey', bodies, '"valid":true');
    break;
  }
  case 'cold': {
    const keys = await issueKeys(svc.api, owner.session, Math.round(seconds * 4000));
    result = await load('verify_apikey', keys.map(verifyBody), '"valid":true', { order: 'once', amount: 'rest', warmup: 0 });
    break;
  }
  case 'session_exists':
    result = await load('session_exists', (await anonymousSessions(svc.api, 1000)).map((t) => JSON.stringify({ session_token: t })), '"exists":true');
    break;
  case 'check_access':
    result = await load('check_access', [JSON.stringify({ user_id: owner.userId, action: 'view', item: 'apikey', owner_id: owner.userId, visibility: 'private' })], '"allowed":true');
    break;
  case 'issue':
    result = await load('issue_apikey', [JSON.stringify(issueBody(owner.session))], '"apikey"');
    break;
  default:
    throw new Error(`unknown scenario ${args.scenario}`);
}
await stopService(svc);
console.log(`${args.scenario}: ${Math.round(result.rps)} req/s, p50 ${result.p50} ms, p90 ${result.p90} ms, p99 ${result.p99} ms, max ${result.max} ms, ${result.non2xx} non-2xx, ${result.mismatches} mismatches, CPU ${result.cpuUsPerReq?.toFixed(0)} µs/req`);
if (args['no-profile']) process.exit(0);

/** `fastify` or `@scope/name` from a path inside node_modules. */
function packageOf(file: string): string {
  const parts = file.split('node_modules/').pop()!.split('/');
  return parts.slice(0, parts[0]!.startsWith('@') ? 2 : 1).join('/');
}

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error('no profile written');
const prof = JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
// Only the measured load: the last `seconds` of the profile, less the shutdown (seeding and
// start-up come before it).
const from = prof.endTime - (seconds - 0.3) * 1e6;
const to = prof.endTime - 0.3e6;
let t = prof.startTime;
prof.samples.forEach((id, i) => {
  t += prof.timeDeltas[i] ?? 0;
  if (t >= from && t <= to) self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
});
let busy = 0;
const fnTotals = new Map<string, number>();
const groupTotals = new Map<string, number>();
for (const [id, us] of self) {
  const f = byId.get(id)!.callFrame;
  if (f.functionName === '(idle)' || f.functionName === '(program)') continue;
  busy += us;
  const where = f.url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
  const fn = `${f.functionName || '(anonymous)'} ${where ? `${where.split('node_modules/').pop()}:${f.lineNumber + 1}` : ''}`;
  fnTotals.set(fn, (fnTotals.get(fn) ?? 0) + us);
  const group = where.includes('node_modules/') ? `pkg ${packageOf(where)}`
    : where.startsWith('node:') ? 'node internals' : where ? `src ${where}` : f.functionName;
  groupTotals.set(group, (groupTotals.get(group) ?? 0) + us);
}
const top = Number(args.top);
const show = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
  .forEach(([k, us]) => console.log(`${((100 * us) / busy).toFixed(1).padStart(5)}%  ${k}`));
console.log(`\nbusy CPU ${(busy / 1e6).toFixed(2)} s of ${((to - from) / 1e6).toFixed(1)} s sampled; µs per request ≈ ${(busy / ((to - from) / 1e6) / result.rps).toFixed(0)}; by function (self time):`);
show(fnTotals, top);
console.log('\nby package / file:');
show(groupTotals, 30);
rmSync(tmp, { recursive: true, force: true });
