import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { actionNames, isActionName } from './actions.js';

/**
 * Every setting of the service, validated once at start. This module (and the CLI) are the only
 * readers of process.env; everything else receives a Config.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const logLevels: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface RateLimitRule {
  max: number;
  /** Window length in seconds. */
  window: number;
}
/** Per-action overrides of the built-in client limits, or `off` to disable client limits. */
export type RateLimitOverrides = Record<string, RateLimitRule> | 'off';

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** `postgres://…` selects PostgreSQL; undefined means SQLite in the data dir. */
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  permissionsPath: string;
  bootstrapClientSecret: string | undefined;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  piiSalt: string | undefined;
  keyEncryptionKey: string | undefined;
  logLevel: LogLevel;
  tls: { cert: string; key: string } | undefined;
  rateLimits: RateLimitOverrides | undefined;
  /** Default session lifetime when `session_new` has no `expires_in`. */
  sessionTtlSeconds: number;
  /** Failed logins before the temporary lock. */
  loginMaxFailures: number;
  /** Length of the temporary lock after too many failed logins. */
  loginLockSeconds: number;
  /** Nice value (0–19) of the argon2 worker threads: how far below the event loop they run. */
  argon2Nice: number;
  /** SQLite's `synchronous` (AUTHNZD_SQLITE_SYNCHRONOUS): `full` fsyncs every commit, `normal` every checkpoint. */
  sqliteSynchronous: SqliteSynchronous;
  /** Names of AUTHNZD_* variables that are not settings (reported as a warning, not fatal). */
  unknownSettings: string[];
}

export const sqliteSynchronousModes = ['normal', 'full'] as const;
export type SqliteSynchronous = (typeof sqliteSynchronousModes)[number];

export class ConfigError extends Error {
  constructor(setting: string, problem: string) {
    super(`${setting}: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Settings that are not read from the environment by the service but are legitimately set. */
const knownNames = new Set([
  'AUTHNZD_HOST', 'AUTHNZD_PORT', 'AUTHNZD_DATA_DIR', 'AUTHNZD_DATABASE_URL', 'AUTHNZD_REDIS_URL',
  'AUTHNZD_PERMISSIONS', 'AUTHNZD_BOOTSTRAP_CLIENT_SECRET', 'AUTHNZD_ADMIN_EMAIL', 'AUTHNZD_ADMIN_PASSWORD',
  'AUTHNZD_PII_SALT', 'AUTHNZD_KEY_ENCRYPTION_KEY', 'AUTHNZD_LOG_LEVEL', 'AUTHNZD_TLS_CERT', 'AUTHNZD_TLS_KEY',
  'AUTHNZD_RATE_LIMITS', 'AUTHNZD_SESSION_TTL', 'AUTHNZD_LOGIN_MAX_FAILURES', 'AUTHNZD_LOGIN_LOCK_SECONDS', 'AUTHNZD_ARGON2_NICE',
  'AUTHNZD_SQLITE_SYNCHRONOUS',
]);

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return Number(raw);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `is not a valid URL (expected ${protocols.join(' or ')}//…)`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.join(' or ')}// (got "${parsed.protocol}")`);
  }
  return raw;
}

/**
 * A Redis URL whose database number, if any, is an integer: ioredis reads the path (or a `db`
 * query parameter) as one, and a non-number became `SELECT NaN`, which crashed the started
 * process with a stack trace.
 */
function redisUrl(env: Env): string | undefined {
  const raw = url(env, 'AUTHNZD_REDIS_URL', ['redis:', 'rediss:']);
  if (raw === undefined) return undefined;
  const parsed = new URL(raw);
  for (const db of [parsed.pathname.replace(/^\//, ''), parsed.searchParams.get('db') ?? '']) {
    if (db !== '' && !/^\d{1,9}$/.test(db)) {
      throw new ConfigError('AUTHNZD_REDIS_URL', `the database number (the path, or ?db=) must be an integer, as in redis://host:6379/2 (got "${db.slice(0, 64)}")`);
    }
  }
  return raw;
}

/** `value` when it is one of `choices`; otherwise a ConfigError naming the setting and the choices. */
function oneOf<T extends string>(name: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new ConfigError(name, `must be one of ${choices.join(', ')} (got ${JSON.stringify(value)})`);
  return value as T;
}

function secret(env: Env, name: string, minLength: number): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < minLength) throw new ConfigError(name, `must be at least ${minLength} characters long`);
  return raw;
}

/**
 * A client secret: clients send it as `Authorization: Bearer <secret>`, one token of visible
 * ASCII. One with a space, a control character or a non-ASCII character could never
 * authenticate, so it is refused here rather than made into a client nobody can use.
 */
function bearerSecret(env: Env, name: string, minLength: number): string | undefined {
  const raw = secret(env, name, minLength);
  if (raw !== undefined && !/^[!-~]+$/.test(raw)) {
    throw new ConfigError(name, 'must be visible ASCII without spaces (it is sent as an HTTP bearer token); the value is not shown');
  }
  return raw;
}

/**
 * Bounds of an AUTHNZD_RATE_LIMITS rule. Beyond them the counters break: Redis refuses the
 * expiry of a window of 1e300 s (every hit of the action failed, and the instance fell back to
 * memory as if Redis were down), and headers came out as `retry-after: 1e+300`.
 */
export const MAX_RATE_LIMIT_MAX = 1_000_000_000;
export const MAX_RATE_LIMIT_WINDOW = 10 * 365 * 86400; // 10 years, as AUTHNZD_SESSION_TTL

const inRange = (v: unknown, min: number, max: number) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

export function parseRateLimits(raw: string | undefined, name = 'AUTHNZD_RATE_LIMITS'): RateLimitOverrides | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'off') return 'off';
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigError(name, 'must be "off" or a JSON object like {"verify_apikey": {"max": 100000, "window": 60}}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(name, 'must be a JSON object keyed by action name');
  }
  const out: Record<string, RateLimitRule> = {};
  for (const [action, rule] of Object.entries(value)) {
    // A misspelt action would leave the limit meant for it at its default, unnoticed.
    if (!isActionName(action)) {
      // Quoted as JSON: a line break or escape sequence in the name stays on the one line.
      throw new ConfigError(name, `${JSON.stringify(action.slice(0, 64))} is not an action (the actions are: ${actionNames.join(', ')})`);
    }
    const r = rule as Partial<RateLimitRule> | null;
    const ok = typeof r === 'object' && r !== null && Object.keys(r).every((k) => k === 'max' || k === 'window') &&
      inRange(r.max, 1, MAX_RATE_LIMIT_MAX) && inRange(r.window, 1, MAX_RATE_LIMIT_WINDOW);
    if (!ok) {
      throw new ConfigError(name, `"${action}" must be {"max": <integer 1–${MAX_RATE_LIMIT_MAX}>, "window": <seconds 1–${MAX_RATE_LIMIT_WINDOW}>}`);
    }
    out[action] = { max: r!.max as number, window: r!.window as number };
  }
  return out;
}

/** A DNS label (RFC 1123): letters, digits and inner hyphens, 1–63 characters. */
const hostLabel = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * AUTHNZD_HOST: an IPv4 address (dotted quad), an IPv6 address (bare, or in brackets as in a URL:
 * `[::1]` is taken as `::1`), or a host name (RFC 1123 labels, at most 253 characters, a last
 * label that is not all digits). Checked here, before anything is written: a malformed value
 * (`256.0.0.1`, `1.2.3`, `a..b`) would otherwise be found only at listen, after the database was
 * created and seeded. A well-formed name that does not resolve, or an address that is not this
 * machine's, can still only be found at listen (server.ts names the setting then).
 */
function listenHost(raw: string): string {
  const bare = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (bare !== raw) {
    if (isIP(bare) === 6) return bare;
    throw new ConfigError('AUTHNZD_HOST', `brackets hold an IPv6 address only (got "${raw}")`);
  }
  if (isIP(raw) !== 0) return raw;
  const name = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  const labels = name.split('.');
  const wellFormed = name.length > 0 && name.length <= 253 && labels.every((l) => hostLabel.test(l)) && !/^\d+$/.test(labels.at(-1)!);
  if (!wellFormed) {
    const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
    throw new ConfigError('AUTHNZD_HOST', `is not an IPv4 address, an IPv6 address or a host name (got "${shown}")`);
  }
  return raw;
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const logLevel = oneOf('AUTHNZD_LOG_LEVEL', str(env, 'AUTHNZD_LOG_LEVEL') ?? 'info', logLevels);
  const host = listenHost(str(env, 'AUTHNZD_HOST') ?? '127.0.0.1');

  const tlsCert = str(env, 'AUTHNZD_TLS_CERT');
  const tlsKey = str(env, 'AUTHNZD_TLS_KEY');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError(tlsCert ? 'AUTHNZD_TLS_KEY' : 'AUTHNZD_TLS_CERT', 'must be set together with the other TLS setting');
  }
  for (const [name, file] of [['AUTHNZD_TLS_CERT', tlsCert], ['AUTHNZD_TLS_KEY', tlsKey]] as const) {
    if (file !== undefined && !existsSync(path.resolve(cwd, file))) throw new ConfigError(name, `file not found: ${file}`);
  }

  const sqliteSynchronous = oneOf('AUTHNZD_SQLITE_SYNCHRONOUS', (str(env, 'AUTHNZD_SQLITE_SYNCHRONOUS') ?? 'normal').toLowerCase(), sqliteSynchronousModes);

  const adminEmail = str(env, 'AUTHNZD_ADMIN_EMAIL');
  if (adminEmail !== undefined && !/^[^\s@]+@[^\s@]+$/.test(adminEmail)) {
    throw new ConfigError('AUTHNZD_ADMIN_EMAIL', 'is not an email address');
  }

  return {
    host,
    port: int(env, 'AUTHNZD_PORT', 13431, 0, 65535),
    dataDir: path.resolve(cwd, str(env, 'AUTHNZD_DATA_DIR') ?? './data'),
    databaseUrl: url(env, 'AUTHNZD_DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: redisUrl(env),
    permissionsPath: path.resolve(cwd, str(env, 'AUTHNZD_PERMISSIONS') ?? './permissions.json'),
    bootstrapClientSecret: bearerSecret(env, 'AUTHNZD_BOOTSTRAP_CLIENT_SECRET', 24),
    adminEmail,
    adminPassword: secret(env, 'AUTHNZD_ADMIN_PASSWORD', 12),
    piiSalt: secret(env, 'AUTHNZD_PII_SALT', 16),
    keyEncryptionKey: secret(env, 'AUTHNZD_KEY_ENCRYPTION_KEY', 32),
    logLevel,
    tls: tlsCert && tlsKey ? { cert: path.resolve(cwd, tlsCert), key: path.resolve(cwd, tlsKey) } : undefined,
    rateLimits: parseRateLimits(str(env, 'AUTHNZD_RATE_LIMITS')),
    sessionTtlSeconds: int(env, 'AUTHNZD_SESSION_TTL', 30 * 86400, 60, 10 * 365 * 86400),
    loginMaxFailures: int(env, 'AUTHNZD_LOGIN_MAX_FAILURES', 10, 1, 1000),
    loginLockSeconds: int(env, 'AUTHNZD_LOGIN_LOCK_SECONDS', 3600, 1, 30 * 86400),
    argon2Nice: int(env, 'AUTHNZD_ARGON2_NICE', 10, 0, 19),
    sqliteSynchronous,
    unknownSettings: Object.keys(env).filter(
      (k) => k.startsWith('AUTHNZD_') && !k.startsWith('AUTHNZD_TEST_') && !knownNames.has(k),
    ),
  };
}
