import { hash, verify } from '@node-rs/argon2';

/**
 * argon2id parameters, in one place (OWASP 2023 minimum: 19 MiB, t=2, p=1). Hashing runs on
 * libuv's thread pool, never on the event loop. Changing these makes `needsRehash` true for
 * older hashes, which are then upgraded at the next successful login.
 */
export const argon2Params = {
  algorithm: 2, // Algorithm.Argon2id (a const enum, not importable under verbatimModuleSyntax)
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFKC'), argon2Params);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password.normalize('NFKC'));
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
