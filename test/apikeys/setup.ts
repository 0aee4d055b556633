import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { TestApp } from '../helper.js';
import { json, repoRoot, show } from '../helper.js';

/* Shared fixtures of the API-key tests: users made in the store, sessions and keys through actions. */

export const IP = '203.0.113.7';
export const UA = 'Mozilla/5.0 (authnzd test)';

let n = 0;
export async function newUser(h: TestApp, opts: { role?: string; active?: boolean } = {}): Promise<number> {
  const user = await h.app.store.users.create({
    systemId: randomUUID(), email: `user${++n}-${randomUUID().slice(0, 8)}@example.test`, fullName: 'Test User', passwordHash: null,
    role: opts.role ?? 'authenticated', isActive: opts.active ?? true, emailVerified: true, extra: {}, createdAt: h.clock.now(),
  });
  return user.id;
}

export async function newSession(h: TestApp, userId: number, ip = IP, ua = UA): Promise<string> {
  const res = await h.call('session_new', { ip_address: ip, user_agent: ua, user_id: userId, expires_in: 86400 });
  if (res.statusCode !== 201) throw new Error(`session_new failed: ${show(res)}`);
  return json<{ session_token: string }>(res).session_token;
}

export const keyBody = { audience: 'svc', subject: '/things', api_version: 1, expires_in: 3600 };

export async function issueSessionKey(h: TestApp, token: string, extra: Record<string, unknown> = {}) {
  const res = await h.call('issue_apikey', { session_token: token, ip_address: IP, user_agent: UA, ...keyBody, ...extra });
  if (res.statusCode !== 201) throw new Error(`issue_apikey failed: ${show(res)}`);
  return json<{ apikey: string; key_id: string; expires_at: string; not_before: string }>(res);
}

export interface Standalone {
  apikey: string;
  key_id: string;
  expires_at: string;
  refresh_token: string;
  refresh_expires_at: string;
}

export async function issueStandalone(h: TestApp, userId: number, extra: Record<string, unknown> = {}): Promise<Standalone> {
  const res = await h.call('issue_apikey_nosession', {
    user_id: userId, ip_address: IP, user_agent: UA, refresh_expires_in: 7200, ...keyBody, ...extra,
  });
  if (res.statusCode !== 201) throw new Error(`issue_apikey_nosession failed: ${show(res)}`);
  return json<Standalone>(res);
}

export async function verify(h: TestApp, apikey: string, extra: Record<string, unknown> = {}) {
  const res = await h.call('verify_apikey', { apikey, ip_address: IP, user_agent: UA, ...extra });
  if (res.statusCode !== 200) throw new Error(`verify_apikey failed: ${show(res)}`);
  return json<{ valid: boolean; reason?: string; retry_after?: number; key?: Record<string, unknown> }>(res);
}

/** A second connection to the test database, for arranging states no action produces directly. */
export function rawDb(h: TestApp): Database.Database {
  const db = new Database(path.join(h.dataDir, 'authnzd.sqlite'));
  db.pragma('busy_timeout = 5000');
  return db;
}

/** permissions.json with `max_requests_per_minute` of the authenticated role set to `limit`. */
export function permissionsWithVerifyLimit(limit: number): string {
  const policy = JSON.parse(readFileSync(path.join(repoRoot, 'permissions.json'), 'utf8'));
  policy.role_policy.authenticated.limits.max_requests_per_minute.limit = limit;
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-policy-'));
  const file = path.join(dir, 'permissions.json');
  writeFileSync(file, JSON.stringify(policy));
  return file;
}
