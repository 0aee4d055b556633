import { availableParallelism } from 'node:os';
import { Argon2Pool } from './argon2-pool.js';

/**
 * argon2id parameters, in one place (OWASP 2023 minimum: 19 MiB, t=2, p=1). Hashing runs in
 * worker threads at a lower priority (argon2-pool.ts), never on the event loop. Changing these makes `needsRehash` true for
 * older hashes, which are then upgraded at the next successful login.
 */
export const argon2Params = {
  algorithm: 2, // Algorithm.Argon2id (a const enum, not importable under verbatimModuleSyntax)
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

/**
 * At most this many argon2 operations run at once (the pool's size): one less than the cores this
 * process may use (availableParallelism honours CPU affinity and cgroup limits), at least one.
 * argon2 runs off the event loop but not off the CPU: with libuv's 4 pool threads on a one-core
 * process, a login storm left the event loop (verify_apikey, session_exists) a fifth of the core.
 */
export const ARGON2_CONCURRENCY = Math.max(1, availableParallelism() - 1);

/** Default nice value of the argon2 workers (AUTHNZD_ARGON2_NICE; see argon2-pool.ts). */
export const DEFAULT_ARGON2_NICE = 10;

let pool = new Argon2Pool(ARGON2_CONCURRENCY, DEFAULT_ARGON2_NICE);
let poolNice = DEFAULT_ARGON2_NICE;

/** Sets the workers' nice value (from the config at start). Workers already running keep theirs. */
export function configureArgon2(opts: { nice: number }): void {
  if (opts.nice === poolNice) return;
  poolNice = opts.nice;
  pool = new Argon2Pool(ARGON2_CONCURRENCY, opts.nice);
}

/** The nice value argon2 runs at (starts a worker if none runs). */
export function argon2WorkerNice(): Promise<number | null> {
  return pool.workerNice();
}

export function hashPassword(password: string): Promise<string> {
  const input = password.normalize('NFKC');
  return pool.run({ op: 'hash', password: input, params: { ...argon2Params } }) as Promise<string>;
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  const input = password.normalize('NFKC');
  try {
    return (await pool.run({ op: 'verify', hash: passwordHash, password: input })) === true;
  } catch {
    return false;
  }
}

/** True when the stored hash was made with other parameters than `argon2Params`. */
export function needsRehash(passwordHash: string): boolean {
  const p = argon2Params;
  return !passwordHash.startsWith(`$argon2id$v=19$m=${p.memoryCost},t=${p.timeCost},p=${p.parallelism}$`);
}

let dummy: Promise<string> | undefined;
/**
 * Verifies `password` against a fixed hash, so that a login for an unknown user costs the same
 * as one for a known user (no user enumeration by timing).
 */
export async function dummyVerify(password: string): Promise<false> {
  dummy ??= hashPassword('authnzd-dummy-password-for-timing');
  await verifyPassword(await dummy, password);
  return false;
}
