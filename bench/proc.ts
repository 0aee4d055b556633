import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Child processes of the bench: the service, the baseline app, load generators. Each is pinned to
 * one core with `taskset -c <cpu>` (taskset execs the command, so the pid is the program's own),
 * its output goes to a log file, and every live child is killed if the orchestrator dies.
 */

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  log: string;
  exited: Promise<number | null>;
}

const live = new Set<Proc>();
process.on('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
});

export function startPinned(
  name: string,
  cpu: number | null,
  args: string[],
  opts: { env?: Record<string, string>; log: string; cwd?: string },
): Proc {
  const cmd = cpu === null ? args : ['taskset', '-c', String(cpu), ...args];
  const child = spawn(cmd[0]!, cmd.slice(1), {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = createWriteStream(opts.log, { flags: 'a' });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd.join(' ')}`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: Proc = { name, child, pid: child.pid, log: opts.log, exited };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves with the exit code. */
export async function stop(proc: Proc, graceMs = 10_000): Promise<number | null> {
  if (!live.has(proc)) return proc.exited;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
}

/** Polls `url` until it answers 200; fails early if the process exits. */
export async function waitHttp(proc: Proc, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void proc.exited.then(() => (dead = true));
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${proc.name} exited during start; see ${proc.log}:\n${tail(proc.log)}`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${proc.name} did not answer ${url} within ${timeoutMs} ms; see ${proc.log}`);
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Resident set size of a live process in MiB, from /proc/<pid>/status (VmRSS, in kB). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Math.round((Number(m[1]) / 1024) * 10) / 10;
}

let clkTck: number | undefined;
/**
 * CPU seconds (user + system, all threads) a live process has used, from /proc/<pid>/stat. Unlike
 * wall-clock throughput, CPU time per request hardly changes when other processes share the core.
 */
export function cpuSeconds(pid: number): number {
  clkTck ??= Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clkTck;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a command to completion (pinned if `cpu` is given) and returns its stdout. */
export async function runToEnd(
  name: string, cpu: number | null, args: string[],
  opts: { env?: Record<string, string>; log: string; onLine?: (line: string) => void },
): Promise<string> {
  const cmd = cpu === null ? args : ['taskset', '-c', String(cpu), ...args];
  const child = spawn(cmd[0]!, cmd.slice(1), { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const errLog = createWriteStream(opts.log, { flags: 'a' });
  child.stderr!.pipe(errLog);
  let stdout = '';
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (!opts.onLine) return;
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) opts.onLine(line);
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${name} exited with ${code}; see ${opts.log}:\n${tail(opts.log)}`);
  return stdout;
}
