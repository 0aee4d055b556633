import t, { type Test } from 'tap';
import { createTestDatabase } from './db/pg.js';
import { buildTestApp, json, show, type TestApp } from './helper.js';

/*
 * Fixtures of the race tests (test/apikeys/races.test.ts, test/users/*races.test.ts): requests
 * sent at once, on SQLite and (with AUTHNZD_TEST_PG_URL) on PostgreSQL, where the store code
 * differs and racing transactions must serialise on row locks.
 */

const pgUrl = process.env.AUTHNZD_TEST_PG_URL;
const DATABASES: [string, boolean][] = [['SQLite', false], ['PostgreSQL', true]];

export const ROUNDS = 4;

// The users, sessions and keys of the SPEC tests' fixtures (test/spec/util.ts), made over HTTP.
export { activeUser, anon as anonSession, IP, keyBody, login, PASSWORD, UA } from './spec/util.js';

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
