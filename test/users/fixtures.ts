import Database from 'better-sqlite3';
import path from 'node:path';
import { json, show, type TestApp } from '../helper.js';

/** Shared setup for the users and sessions tests: real HTTP calls, no shortcuts into core. */

export const IP = '198.51.100.23';
export const UA = 'Mozilla/5.0 (authnzd tests)';
export const PASSWORD = 'velvet-Trombone-sunrise-81';

export async function anonSession(h: TestApp, body: Record<string, unknown> = {}): Promise<string> {
  const res = await h.call('session_new', { ip_address: IP, user_agent: UA, ...body });
  if (res.statusCode !== 201) throw new Error(`session_new: ${show(res)}`);
  return json<{ session_token: string }>(res).session_token;
}

/** Signs a user up and verifies the email: an active `authenticated` user. */
export async function verifiedUser(h: TestApp, email: string, password = PASSWORD, fullName = 'Test Person'): Promise<number> {
  const res = await h.call('user_new', { email, password, full_name: fullName });
  if (res.statusCode !== 201) throw new Error(`user_new: ${show(res)}`);
  const { user_id, verification_token } = json<{ user_id: number; verification_token: string }>(res);
  const v = await h.call('user_verify_email', { verification_token });
  if (v.statusCode !== 200) throw new Error(`user_verify_email: ${show(v)}`);
  return user_id;
}

/** Logs in from a fresh anonymous session; returns the new session token. */
export async function loginAs(h: TestApp, email: string, password = PASSWORD): Promise<string> {
  const res = await h.call('user_login', { session_token: await anonSession(h), email, password });
  if (res.statusCode !== 200) throw new Error(`user_login: ${show(res)}`);
  return json<{ session_token: string }>(res).session_token;
}

/** A second connection to the app's SQLite file, to look at rows the API never shows. */
export function openDb(h: TestApp): Database.Database {
  const db = new Database(path.join(h.dataDir, 'authnzd.sqlite'));
  return db;
}

/** Inserts an API key row (as issue_apikey would) so revocation cascades can be observed. */
export function insertKey(db: Database.Database, id: string, userId: number, sessionId: string | null, now: number): void {
  db.prepare(`INSERT INTO api_keys (id, token_hash, kind, user_id, role, session_id, audience, subject, api_version, issued_at, not_before, expires_at, use_count)
    VALUES (?, ?, ?, ?, 'authenticated', ?, 'aud', '"sub"', '1', ?, ?, ?, 0)`)
    .run(id, `hash-${id}`, sessionId ? 'session' : 'standalone', userId, sessionId, now, now, now + 3600_000);
}

export function keyState(db: Database.Database, id: string): { revoked_at: number | null; revoked_reason: string | null } {
  return db.prepare('SELECT revoked_at, revoked_reason FROM api_keys WHERE id = ?').get(id) as { revoked_at: number | null; revoked_reason: string | null };
}

export function sessionIdOf(db: Database.Database, userId: number): string[] {
  return (db.prepare('SELECT id FROM sessions WHERE user_id = ? ORDER BY created_at, id').all(userId) as { id: string }[]).map((r) => r.id);
}
