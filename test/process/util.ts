import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ADMIN_SECRET, repoRoot } from '../helper.js';

/**
 * The settings of a service on a fresh data dir (removed after the test): the shipped policy,
 * the `admin` client with ADMIN_SECRET and a fixed superuser password.
 */
export function freshServiceEnv(t: { teardown(fn: () => unknown): void }, prefix: string) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return {
    AUTHNZD_DATA_DIR: dir,
    AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json'),
    AUTHNZD_BOOTSTRAP_CLIENT_SECRET: ADMIN_SECRET,
    AUTHNZD_ADMIN_PASSWORD: 'Correct-Horse-Battery-Staple-42',
  };
}

export interface Running {
  child: ChildProcess;
  url: string;
  output(): string;
  exited: Promise<number | null>;
}

/** Starts the real service (src/server.ts through tsx) and resolves once it listens. */
export async function startServer(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/server.ts')], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', AUTHNZD_PORT: '0', AUTHNZD_RATE_LIMITS: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never leave a half-started server behind
      reject(new Error(`server did not start:\n${out}`));
    }, 60_000);
    const check = () => {
      const m = /"msg":"Server listening at (http[^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited:\n${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}

/**
 * Runs a command to completion. `killOn`: send it `signal` (SIGKILL unless given), once, when its
 * stdout first matches: for a command that was expected to fail but started a server instead,
 * or to signal a service at a given point of its start.
 */
export function runCommand(
  args: string[], env: Record<string, string>, opts: { killOn?: RegExp; signal?: NodeJS.Signals } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', ...env } });
  let stdout = '';
  let stderr = '';
  let signalled = false;
  child.stdout.on('data', (d) => {
    stdout += d;
    if (!signalled && opts.killOn?.test(stdout)) {
      signalled = true;
      child.kill(opts.signal ?? 'SIGKILL');
    }
  });
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
}
