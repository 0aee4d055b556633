import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { LoadJob, LoadResult } from '../../bench/load.js';
import { repoRoot } from '../helper.js';

/*
 * bench/load.ts against a local server that notes when it saw its first and last request. A run
 * of a fixed amount must report the time it took, not autocannon's duration, which only ends at
 * the next whole-second sample tick (a 0.05 s run was reported as 1 s).
 */
t.test('a fixed-amount run reports its own length and rate', async (t) => {
  const seen: number[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(performance.timeOrigin + performance.now());
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void server.close());
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bodiesFile = path.join(dir, 'bodies.json');
  writeFileSync(bodiesFile, JSON.stringify(Array.from({ length: 400 }, (_, i) => JSON.stringify({ i }))));
  const job: LoadJob = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, headers: {}, bodiesFile, order: 'once',
    connections: 4, duration: 1, warmup: 0, amount: 'rest', expect: '"ok"',
  };
  const jobFile = path.join(dir, 'job.json');
  writeFileSync(jobFile, JSON.stringify(job));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench/load.ts'), jobFile], { cwd: repoRoot });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 0, out);
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
  t.equal(r.requests, 396, 'every body but the margin of one per connection');
  t.equal(r.mismatches, 0);
  const served = (Math.max(...seen) - Math.min(...seen)) / 1000;
  // The server's own span from first to last request, against the reported length: they differ by
  // the connection set-up and one round trip, never by a sample tick of a second.
  t.ok(r.seconds >= served, `reported ${r.seconds} s covers the server's ${served.toFixed(3)} s`);
  t.ok(r.seconds - served < 0.5, `reported ${r.seconds} s is the run's length (server saw ${served.toFixed(3)} s)`);
  t.equal(Math.round(r.rps), Math.round(r.requests / r.seconds));
});
