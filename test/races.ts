import t, { type Test } from 'tap';
import { createTestDatabase } from './db/pg.js';
import { buildTestApp, json, show, type TestApp } from './helper.js';

/*
 * Fixtures of the race tests (test/apikeys/races.test.ts, test/users/races.test.ts): requests
 * sent at once, on SQLite and (with AUTHNZD_TEST_PG_URL) on PostgreSQL, where the store code
 * differs and racing transactions must serialise on row locks.
 */

const pgUrl = process.env.AUTHNZD_TEST_PG_URL;
const DATABASES: [string, boolean][] = [['SQLite', false], ['PostgreSQL', true]];

export const ROUNDS = 4;
export const IP = '203.0.113.7';
export const UA = 'Mozilla/5.0 (races)';
export const PASSWORD = 'orchid-Lantern-quietly-507';

async function appOn(t: Test, onPg: boolean, env: Record<string, string>): Promise<TestApp> {
  const all = { ...env };
  if (onPg) {
    const db = await createTestDatabase(pgUrl!);
    t.teardown(() => db.drop());
    all.AUTHNZD_DATABASE_URL = db.url;
  }
  return buildTestApp(t, { env: all });
}

/** Runs `fn` as one subtest per database, each on a fresh app. */
export function eachDatabase(name: string, fn: (t: Test, h: TestApp) => Promise<void>, env: Record<string, string> = {}): void {
  for (const [db, onPg] of DATABASES) {
    const skip = onPg && !pgUrl ? 'AUTHNZD_TEST_PG_URL is not set: PostgreSQL races not tested' : false;
    t.test(`${name} (${db})`, { skip }, async (t) => fn(t, await appOn(t, onPg, env)));
  }
}

let n = 0;
/** Signs up and verifies: an active `authenticated` user. */
export async function activeUser(h: TestApp): Promise<{ id: number; email: string }> {
  const email = `race${++n}.${process.pid}@example.org`;
  const res = await h.call('user_new', { email, password: PASSWORD, full_name: 'Race Person' });
  if (res.statusCode !== 201) throw new Error(`user_new: ${show(res)}`);
  const { user_id, verification_token } = json<{ user_id: number; verification_token: string }>(res);
  const v = await h.call('user_verify_email', { verification_token });
  if (v.statusCode !== 200) throw new Error(`user_verify_email: ${show(v)}`);
  return { id: user_id, email };
}

export async function anonSession(h: TestApp): Promise<string> {
  const res = await h.call('session_new', { ip_address: IP, user_agent: UA });
  if (res.statusCode !== 201) throw new Error(`session_new: ${show(res)}`);
  return json<{ session_token: string }>(res).session_token;
}

export async function login(h: TestApp, email: string, password = PASSWORD): Promise<string> {
  const res = await h.call('user_login', { session_token: await anonSession(h), email, password });
  if (res.statusCode !== 200) throw new Error(`user_login: ${show(res)}`);
  return json<{ session_token: string }>(res).session_token;
}

/** Delays before the ending request, over the rounds: to land before, during and after a login's argon2. */
export const DELAYS_MS = [0, 5, 10, 15, 20, 30, 40, 60];
export const NEW_PASSWORD = 'Zr4$ocean-Crimson-88x';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many sessions of the user are live (session_list). */
export async function liveSessions(h: TestApp, userId: number): Promise<number> {
  const res = await h.call('session_list', { user_id: userId });
  if (res.statusCode !== 200) throw new Error(`session_list: ${show(res)}`);
  return json<{ sessions: unknown[] }>(res).sessions.length;
}
