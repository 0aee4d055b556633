import { parseArgs } from 'node:util';
import { verifyApiKey, verifyApiKeyNow, type VerifyRequest } from '../src/core/apikey-verify.js';
import { inProcessApp } from './in-process.js';
import { BENCH_IP, BENCH_UA, issueKeys } from './seed.js';

/*
 * The verify logic alone, in process (no HTTP): the real app on a temporary SQLite file, keys
 * issued through its API, then `verifyApiKeyNow ?? verifyApiKey` called in a loop, cold (every
 * key once) and repeat (the same 1,000 keys). A diagnosis tool for docs/performance.md, run
 * pinned for steadier figures:
 *
 *   taskset -c 0 node --import tsx bench/verify-path.ts [--keys 20000] [--rounds 3]
 */

const { values: args } = parseArgs({ options: { keys: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' } } });
const nKeys = Number(args.keys);
const { app, api, owner, close } = await inProcessApp('verify-path');
const rounds = Number(args.rounds);
const keys = await issueKeys(api, owner.session, nKeys * rounds + 1000);
const deps = app.apikeys;
const req = (apikey: string): VerifyRequest => ({ apikey, ipAddress: BENCH_IP, userAgent: BENCH_UA });

/** CPU µs (all threads: the collector's too) per verify over `list`. */
async function run(list: string[]): Promise<number> {
  const reqs = list.map(req);
  const start = process.cpuUsage();
  for (const r of reqs) {
    const v = verifyApiKeyNow(deps, r) ?? await verifyApiKey(deps, r);
    if (!v.valid) throw new Error(`not valid: ${JSON.stringify(v)}`);
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / list.length;
}

const repeat = keys.slice(0, 1000);
for (let r = 0; r < rounds; r++) {
  const cold = await run(keys.slice(1000 + r * nKeys, 1000 + (r + 1) * nKeys));
  const flushStart = process.cpuUsage();
  await deps.usage.flush();
  const flushed = process.cpuUsage(flushStart);
  let rep = 0;
  for (let i = 0; i < 20; i++) rep += await run(repeat);
  console.log(`round ${r + 1}: cold ${cold.toFixed(1)} CPU µs/verify, then its usage flush ${((flushed.user + flushed.system) / nKeys).toFixed(1)} CPU µs/key; repeat ${(rep / 20).toFixed(1)} CPU µs/verify`);
}
await close();
