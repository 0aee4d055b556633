import { parseArgs } from 'node:util';
import { issueSessionKey, mintApiKey, type IssueRequest } from '../src/core/apikeys.js';
import { inProcessApp } from './in-process.js';
import { BENCH_IP, BENCH_UA } from './seed.js';

/*
 * The issue_apikey logic alone, in process (no HTTP): the real app on a temporary SQLite file,
 * an owner signed up through its API, then `issueSessionKey` called in batches of `--batch`
 * concurrent calls (the group commit shares one COMMIT among the calls of an event-loop turn, as
 * under load), and `mintApiKey` alone (claims, randomness, seal, hash: no database). Prints CPU
 * µs per key. A diagnosis tool for docs/performance.md, run pinned for steadier figures:
 *
 *   taskset -c 0 node --import tsx bench/issue-path.ts [--keys 20000] [--batch 4] [--rounds 3]
 */

const { values: args } = parseArgs({ options: { keys: { type: 'string', default: '20000' }, batch: { type: 'string', default: '4' }, rounds: { type: 'string', default: '3' } } });
const nKeys = Number(args.keys);
const batch = Number(args.batch);
const { app, owner, close } = await inProcessApp('issue-path');
const deps = app.apikeys;
const req: IssueRequest = {
  sessionToken: owner.session, ipAddress: BENCH_IP, userAgent: BENCH_UA, audience: 'bench-api', subject: 'bench', apiVersion: 1, expiresIn: 86400,
};
const audit = { requestId: 'issue-path', client: 'bench' };

/** CPU µs (all threads) per call of `one` over `n` calls, `batch` at a time. */
async function run(n: number, one: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i += batch) {
    const calls: Promise<unknown>[] = [];
    for (let j = 0; j < batch; j++) calls.push(one());
    await Promise.all(calls);
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

const user = (await app.store.users.getById(owner.userId))!;
await run(2000, () => issueSessionKey(deps, req, audit)); // warm-up
for (let r = 0; r < Number(args.rounds); r++) {
  const issue = await run(nKeys, () => issueSessionKey(deps, req, audit));
  const mint = await run(nKeys, () => mintApiKey(deps, { ...req, owner: user, kind: 'session', sessionId: 'sess_bench' }));
  console.log(`round ${r + 1}: issueSessionKey ${issue.toFixed(1)} CPU µs/key (batches of ${batch}); mintApiKey alone ${mint.toFixed(1)} CPU µs/key`);
}
await close();
