import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { buildTestApp, json, show, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, type TestApp } from '../helper.js';
import { createTestDatabase } from '../db/pg.js';

/* Black-box fixtures of the SPEC conformance tests: everything goes through HTTP actions. */

/**
 * With AUTHNZD_SPEC_PG=1 and AUTHNZD_TEST_PG_URL set, the SPEC tests run on a fresh PostgreSQL
 * database instead of SQLite (checks that read the SQLite file are then skipped).
 */
export const onPostgres = process.env.AUTHNZD_SPEC_PG === '1' && process.env.AUTHNZD_TEST_PG_URL !== undefined;

/** With AUTHNZD_SPEC_REDIS=1 and AUTHNZD_TEST_REDIS_URL set, counters live in Redis. */
export const onRedis = process.env.AUTHNZD_SPEC_REDIS === '1' && process.env.AUTHNZD_TEST_REDIS_URL !== undefined;

export async function specApp(
  t: { teardown(fn: () => unknown): void },
  opts: { env?: Record<string, string> } = {},
): Promise<TestApp> {
  const env = { ...opts.env };
  if (onRedis) env.AUTHNZD_REDIS_URL = process.env.AUTHNZD_TEST_REDIS_URL!;
  const rateLimitKeyPrefix = onRedis ? `spec-${process.pid}-${Math.random().toString(36).slice(2)}:` : undefined;
  if (onPostgres) {
    const pgDb = await createTestDatabase(process.env.AUTHNZD_TEST_PG_URL!);
    t.teardown(() => pgDb.drop());
    env.AUTHNZD_DATABASE_URL = pgDb.url;
  }
  return buildTestApp(t, { env, rateLimitKeyPrefix });
}

export const IP = '192.0.2.10';
export const UA = 'Mozilla/5.0 (spec conformance)';
export const PASSWORD = 'orchid-Lantern-quietly-507';
export const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

export async function anon(h: TestApp, ip = IP, ua = UA): Promise<string> {
  const res = await h.call('session_new', { ip_address: ip, user_agent: ua });
  if (res.statusCode !== 201) throw new Error(`session_new: ${show(res)}`);
  return json<{ session_token: string }>(res).session_token;
}

let n = 0;
/** A unique, valid email. */
export function email(tag = 'u'): string {
  return `${tag}${++n}.${process.pid}@example.org`;
}

/** Signs up and verifies: an active `authenticated` user. */
export async function activeUser(h: TestApp, mail = email(), password = PASSWORD): Promise<{ id: number; email: string }> {
  const res = await h.call('user_new', { email: mail, password, full_name: 'Spec Person' });
  if (res.statusCode !== 201) throw new Error(`user_new: ${show(res)}`);
  const { user_id, verification_token } = json<{ user_id: number; verification_token: string }>(res);
  const v = await h.call('user_verify_email', { verification_token });
  if (v.statusCode !== 200) throw new Error(`user_verify_email: ${show(v)}`);
  return { id: user_id, email: mail };
}

export async function login(h: TestApp, mail: string, password = PASSWORD, ip = IP, ua = UA): Promise<string> {
  const res = await h.call('user_login', { session_token: await anon(h, ip, ua), email: mail, password });
  if (res.statusCode !== 200) throw new Error(`user_login: ${show(res)}`);
  return json<{ session_token: string }>(res).session_token;
}

export const superLogin = (h: TestApp) => login(h, SUPERUSER_EMAIL, SUPERUSER_PASSWORD);

export const keyBody = { audience: 'svc', subject: '/things', api_version: 1, expires_in: 3600 };

export async function issueKey(h: TestApp, session: string, extra: Record<string, unknown> = {}) {
  const res = await h.call('issue_apikey', { session_token: session, ip_address: IP, user_agent: UA, ...keyBody, ...extra });
  if (res.statusCode !== 201) throw new Error(`issue_apikey: ${show(res)}`);
  return json<{ apikey: string; key_id: string; expires_at: string; not_before: string }>(res);
}

export async function issueStandalone(h: TestApp, userId: number, extra: Record<string, unknown> = {}) {
  const res = await h.call('issue_apikey_nosession', { user_id: userId, ip_address: IP, user_agent: UA, refresh_expires_in: 7200, ...keyBody, ...extra });
  if (res.statusCode !== 201) throw new Error(`issue_apikey_nosession: ${show(res)}`);
  return json<{ apikey: string; key_id: string; expires_at: string; refresh_token: string; refresh_expires_at: string }>(res);
}

export async function verify(h: TestApp, apikey: string, extra: Record<string, unknown> = {}) {
  const res = await h.call('verify_apikey', { apikey, ip_address: IP, user_agent: UA, ...extra });
  if (res.statusCode !== 200) throw new Error(`verify_apikey: ${show(res)}`);
  return json<{ valid: boolean; reason?: string; retry_after?: number; key?: Record<string, unknown> }>(res);
}

/** Audit events of one kind, newest first. */
export async function auditEvents(h: TestApp, event: string) {
  const res = await h.call('audit_query', { event, limit: 1000 });
  if (res.statusCode !== 200) throw new Error(`audit_query: ${show(res)}`);
  return json<{ events: { event: string; outcome: string; actor_user_id: number | null; target_user_id: number | null; subject: string | null; details: Record<string, unknown> }[] }>(res).events;
}

/** Rows of a plain SELECT, from whichever database the app uses (SQLite file or PostgreSQL). */
export async function query(h: TestApp, sqlText: string): Promise<Record<string, unknown>[]> {
  if (h.config.databaseUrl) {
    const c = new pg.Client({ connectionString: h.config.databaseUrl });
    await c.connect();
    try {
      return (await c.query(sqlText)).rows as Record<string, unknown>[];
    } finally {
      await c.end();
    }
  }
  const d = new Database(path.join(h.dataDir, 'authnzd.sqlite'), { readonly: true });
  d.pragma('busy_timeout = 5000');
  try {
    return d.prepare(sqlText).all() as Record<string, unknown>[];
  } finally {
    d.close();
  }
}

/** Every value of every row of every table, for "is this secret at rest?" checks. */
export async function allStoredText(h: TestApp): Promise<string> {
  const tables = h.config.databaseUrl
    ? (await query(h, "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")).map((r) => String(r.name))
    : (await query(h, "SELECT name FROM sqlite_master WHERE type = 'table'")).map((r) => String(r.name));
  const out: string[] = [];
  for (const t of tables) {
    out.push(JSON.stringify(await query(h, `SELECT * FROM "${t}"`), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  }
  return out.join('\n');
}
