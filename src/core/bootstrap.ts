import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Config } from '../config.js';
import type { Store } from '../db/store.js';
import { createClient } from './clients.js';
import { checkPasswordPolicy } from './password-policy.js';
import { hashPassword } from './passwords.js';
import { newToken } from './tokens.js';

/** The two users every database starts with (SPEC §3). Created first, so their ids are fixed. */
export const SUPERUSER_ID = 1;
export const ANONYMOUS_USER_ID = 2;
export const ANONYMOUS_EMAIL = 'anonymous@authnzd.invalid';
/** The anonymous user's role (and so of every visitor session). */
export const ANONYMOUS_ROLE = 'anonymous';

/** Creates the data dir owner-only (0700), or tightens an existing one to 0700. */
export function ensureDataDir(dataDir: string): void {
  if (existsSync(dataDir) && !statSync(dataDir).isDirectory()) {
    throw new ConfigError('AUTHNZD_DATA_DIR', `${dataDir} exists and is not a directory`);
  }
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
  } catch (err) {
    throw new ConfigError('AUTHNZD_DATA_DIR', `cannot create ${dataDir} or make it 0700 (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** Writes a secret file readable by the owner only (0600). */
export function writeSecretFile(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** AUTHNZD_PII_SALT, or a salt generated once into `<data>/pii.salt`. */
export function resolvePiiSalt(config: Pick<Config, 'piiSalt' | 'dataDir'>): string {
  if (config.piiSalt !== undefined) return config.piiSalt;
  const file = path.join(config.dataDir, 'pii.salt');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const salt = newToken();
  writeSecretFile(file, salt + '\n');
  return salt;
}

const SUPERUSER_NAME = 'Superuser';

/**
 * AUTHNZD_ADMIN_PASSWORD becomes the superuser's password: it meets the same policy as every
 * other password (SPEC §3). The error names the failed rules, never the password.
 */
function enforceAdminPasswordPolicy(password: string, email: string): void {
  const failures = checkPasswordPolicy(password, { email, fullName: SUPERUSER_NAME });
  if (failures.length > 0) {
    throw new ConfigError('AUTHNZD_ADMIN_PASSWORD',
      `fails the password policy: ${failures.map((f) => `${f.rule} (${f.message})`).join('; ')}`);
  }
}

export interface BootstrapResult {
  /** Paths of secret files written by this run (logged; their content never is). */
  wrote: string[];
}

/**
 * On an empty database: the superuser and anonymous user, and the `admin` client. Secrets that
 * were not supplied by configuration are generated and written once to 0600 files.
 */
export async function seedDatabase(
  store: Store,
  config: Pick<Config, 'dataDir' | 'adminEmail' | 'adminPassword' | 'bootstrapClientSecret'>,
  now: number,
): Promise<BootstrapResult> {
  // Instances starting together on one empty database would otherwise both seed it.
  return store.withStartupLock(() => seedUnlocked(store, config, now));
}

async function seedUnlocked(
  store: Store,
  config: Pick<Config, 'dataDir' | 'adminEmail' | 'adminPassword' | 'bootstrapClientSecret'>,
  now: number,
): Promise<BootstrapResult> {
  const wrote: string[] = [];
  if ((await store.users.count()) === 0) {
    const email = (config.adminEmail ?? 'admin@authnzd.invalid').normalize('NFKC').trim().toLowerCase();
    if (config.adminPassword !== undefined) enforceAdminPasswordPolicy(config.adminPassword, email);
    const password = config.adminPassword ?? newToken();
    const superuser = await store.users.create({
      systemId: randomUUID(), email, fullName: SUPERUSER_NAME, passwordHash: await hashPassword(password),
      role: 'superuser', isActive: true, emailVerified: true, extra: {}, createdAt: now,
    }, { event: 'user_create', outcome: 'success', details: { role: 'superuser', bootstrap: true } });
    const anonymous = await store.users.create({
      systemId: randomUUID(), email: ANONYMOUS_EMAIL, fullName: 'Anonymous', passwordHash: null,
      role: ANONYMOUS_ROLE, isActive: true, emailVerified: false, extra: {}, createdAt: now,
    });
    if (superuser.id !== SUPERUSER_ID || anonymous.id !== ANONYMOUS_USER_ID) {
      throw new Error('seed users did not receive ids 1 and 2: the users table was not empty');
    }
    if (config.adminPassword === undefined) {
      const file = path.join(config.dataDir, 'admin-credentials.json');
      writeSecretFile(file, JSON.stringify({ email, password }, null, 2) + '\n');
      wrote.push(file);
    }
  }
  if ((await store.clients.list()).length === 0) {
    const { secret } = await createClient(store, {
      name: 'admin', actions: ['*'], secret: config.bootstrapClientSecret, now,
    });
    if (config.bootstrapClientSecret === undefined) {
      const file = path.join(config.dataDir, 'admin-client.secret');
      writeSecretFile(file, secret + '\n');
      wrote.push(file);
    }
  }
  return { wrote };
}
