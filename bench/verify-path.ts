import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { verifyApiKey, verifyApiKeyNow, type VerifyRequest } from '../src/core/apikey-verify.js';
import { Api, BENCH_IP, BENCH_UA, issueKeys, signUp } from './seed.js';

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
const secret = 'verify-path-bench-secret-0123456789abcdef';
const dataDir = mkdtempSync(path.join(tmpdir(), 'authnzd-verify-path-'));
const config = loadConfig({
  AUTHNZD_DATA_DIR: dataDir, AUTHNZD_BOOTSTRAP_CLIENT_SECRET: secret, AUTHNZD_ADMIN_EMAIL: 'root@verify-path.example.test',
  AUTHNZD_ADMIN_PASSWORD: 'Verify-Path-Quartz-Lantern-73', AUTHNZD_PII_SALT: 'verify-path-pii-salt-0123', AUTHNZD_RATE_LIMITS: 'off',
  AUTHNZD_LOG_LEVEL: 'warn', AUTHNZD_PERMISSIONS: path.resolve(import.meta.dirname, '../permissions.json'),
}, path.resolve(import.meta.dirname, '..'));
const app = await buildApp(config);
const address = await app.listen({ host: '127.0.0.1', port: 0 });
const api = new Api(address, secret);
const owner = await signUp(api, 'owner@verify-path.example.test');
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
await app.close();
rmSync(dataDir, { recursive: true, force: true });
