import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppOptions } from '../src/app.js';
import type { Clock } from '../src/clock.js';
import { loadConfig, type Config } from '../src/config.js';

export const ADMIN_SECRET = 'test-admin-client-secret-0123456789abcdef';
export const SUPERUSER_EMAIL = 'root@example.test';
export const SUPERUSER_PASSWORD = 'Correct-Horse-Battery-Staple-42';
export const repoRoot = path.resolve(import.meta.dirname, '..');

/** A clock that only moves when a test moves it. */
export class FakeClock implements Clock {
  constructor(public ms = Date.UTC(2026, 0, 1, 12, 0, 0)) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  clock: FakeClock;
  dataDir: string;
  /** Every log line the app wrote, parsed. */
  logs: Record<string, unknown>[];
  /** Raw log output, for greps. */
  rawLogs(): string;
  /** POST /v1/<action> with the admin client (or `secret`), JSON body. */
  call(action: string, body: unknown, opts?: { secret?: string | null; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/**
 * The production app (buildApp) on a fresh temporary data dir and SQLite file, with a fixed
 * clock and captured logs. `env` adds or overrides AUTHNZD_* settings.
 */
export async function buildTestApp(
  t: { teardown(fn: () => unknown): void },
  opts: { env?: Record<string, string>; clock?: FakeClock; dataDir?: string } & Omit<AppOptions, 'clock' | 'logStream'> = {},
): Promise<TestApp> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'authnzd-test-'));
  const config = loadConfig({
    AUTHNZD_DATA_DIR: dataDir,
    AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json'),
    AUTHNZD_BOOTSTRAP_CLIENT_SECRET: ADMIN_SECRET,
    AUTHNZD_ADMIN_EMAIL: SUPERUSER_EMAIL,
    AUTHNZD_ADMIN_PASSWORD: SUPERUSER_PASSWORD,
    AUTHNZD_LOG_LEVEL: 'info',
    AUTHNZD_RATE_LIMITS: 'off',
    // argon2 at the event loop's priority, not the default nice 10: with another process busy on
    // the machine, niced hashes got a tenth of a core and argon2-heavy files (the race tests) ran
    // past tap's 120 s file timeout. The default is tested in users/argon2-pool.test.ts.
    AUTHNZD_ARGON2_NICE: '0',
    ...opts.env,
  }, repoRoot);
  const clock = opts.clock ?? new FakeClock();
  let raw = '';
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      raw += chunk.toString();
      cb();
    },
  });
  const app = await buildApp(config, { clock, logStream, store: opts.store, rateLimitKeyPrefix: opts.rateLimitKeyPrefix });
  await app.ready();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  t.teardown(close);
  return {
    app, config, clock, dataDir,
    get logs() {
      return raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    rawLogs: () => raw,
    call: (action, body, o = {}) => app.inject({
      method: 'POST',
      url: `/v1/${action}`,
      headers: {
        'content-type': 'application/json',
        ...(o.secret === null ? {} : { authorization: `Bearer ${o.secret ?? ADMIN_SECRET}` }),
        ...o.headers,
      },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    }),
    close,
  };
}

/** Parsed JSON body; the whole response is in the message when a test fails on it. */
export function json<T = Record<string, unknown>>(res: LightMyRequestResponse): T {
  return res.json() as T;
}

/** A one-line description of a response for assertion messages. */
export function show(res: LightMyRequestResponse): string {
  return `${res.statusCode} ${res.body}`;
}
