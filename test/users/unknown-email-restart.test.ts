import { createHash } from 'node:crypto';
import t from 'tap';
import { buildTestApp, FakeClock, json, type TestApp } from '../helper.js';
import { anonSession, openDb, verifiedUser } from './fixtures.js';

/*
 * Failed logins to unknown emails are counted so that an unknown email answers exactly like a
 * known one (backoff, the temporary lock and its retry_after): SPEC §3, and no account
 * enumeration. A known account's count and lock are in its `users` row and survive a restart;
 * without Redis an unknown email's must survive it too, or a restart tells the two apart (a
 * locked known email stays 423, a "locked" unknown one would answer 401 again).
 */

const env = (limits: 'on' | 'off') => ({
  AUTHNZD_LOGIN_MAX_FAILURES: '3',
  AUTHNZD_LOGIN_LOCK_SECONDS: '600',
  // '{}': the built-in limits (an in-memory limiter without Redis); 'off': no limiter at all.
  AUTHNZD_RATE_LIMITS: limits === 'on' ? '{}' : 'off',
});

/** Records backoff delays instead of sleeping. */
function recordDelays(h: TestApp): number[] {
  const delays: number[] = [];
  h.app.logins.sleep = async (ms) => {
    delays.push(ms);
  };
  return delays;
}

/** What a caller can observe of one failed login: status, code, retry_after, and the backoff delay. */
async function attempt(h: TestApp, delays: number[], email: string, password = 'wrong-password-0') {
  delays.length = 0;
  const res = await h.call('user_login', { session_token: await anonSession(h), email, password });
  const body = json<{ code: string; retry_after?: number }>(res);
  return `${res.statusCode} ${body.code} retry_after=${body.retry_after ?? '-'} delay=${delays.join(',') || '-'}`;
}

async function passcheck(h: TestApp, email: string) {
  const res = await h.call('user_passcheck_nosession', { email, password: 'wrong-password-0' });
  return `${res.statusCode} ${JSON.stringify(json(res))}`;
}

for (const limits of ['on', 'off'] as const) {
  t.test(`rate limits ${limits}: an unknown email locked before a restart is still locked after it, like a known one`, async (t) => {
    const clock = new FakeClock();
    const first = await buildTestApp(t, { clock, env: env(limits) });
    let delays = recordDelays(first);
    await verifiedUser(first, 'known@example.com');
    const before = { known: [] as string[], unknown: [] as string[] };
    for (let i = 0; i < 3; i++) {
      before.known.push(await attempt(first, delays, 'known@example.com'));
      before.unknown.push(await attempt(first, delays, 'Unknown@Example.com '));
    }
    t.same(before.unknown, before.known, `alike before the restart: ${before.known.join(' | ')}`);
    // The third failure locks (a plain 401 still: the login came to an unlocked account).
    t.match(before.known[2], /^401 invalid_credentials /);
    const dataDir = first.dataDir;
    await first.app.close();

    clock.advance(100);
    const second = await buildTestApp(t, { clock, env: env(limits), dataDir });
    t.teardown(() => second.close());
    delays = recordDelays(second);
    const known = await attempt(second, delays, 'known@example.com');
    const unknown = await attempt(second, delays, 'unknown@example.com');
    t.equal(known, '423 account_locked retry_after=500 delay=-', 'the known email is still locked');
    t.equal(unknown, known, 'the unknown email answers exactly the same');
    t.equal(await passcheck(second, 'unknown@example.com'), await passcheck(second, 'known@example.com'), 'user_passcheck_nosession too');

    // After the lock both count afresh: one failure is a plain 401 with the first backoff.
    clock.advance(501);
    t.equal(await attempt(second, delays, 'unknown@example.com'), await attempt(second, delays, 'known@example.com'));
  });
}

t.test('a count short of the lock survives a restart for an unknown email as for a known one', async (t) => {
  const clock = new FakeClock();
  const first = await buildTestApp(t, { clock, env: env('on') });
  let delays = recordDelays(first);
  await verifiedUser(first, 'known@example.com');
  for (let i = 0; i < 2; i++) {
    t.equal(await attempt(first, delays, 'unknown@example.com'), await attempt(first, delays, 'known@example.com'));
  }
  const dataDir = first.dataDir;
  await first.app.close();
  const second = await buildTestApp(t, { clock, env: env('on'), dataDir });
  t.teardown(() => second.close());
  delays = recordDelays(second);
  const known = await attempt(second, delays, 'known@example.com');
  t.match(known, /^401 invalid_credentials /, 'the third failure (a plain 401) locks the known account');
  t.equal(await attempt(second, delays, 'unknown@example.com'), known, 'and the unknown email alike');
  const lockedKnown = await attempt(second, delays, 'known@example.com');
  t.equal(lockedKnown, '423 account_locked retry_after=600 delay=-', 'the next login finds the known account locked');
  t.equal(await attempt(second, delays, 'unknown@example.com'), lockedKnown, 'and the unknown email alike');
});

t.test('the stored counts hold no email, only a keyed hash; expired rows are purged', async (t) => {
  const clock = new FakeClock();
  const h = await buildTestApp(t, { clock, env: env('on') });
  const delays = recordDelays(h);
  for (let i = 0; i < 3; i++) await attempt(h, delays, 'Secret.Person@Example.com');
  await attempt(h, delays, 'other.person@example.com');
  const db = openDb(h);
  t.teardown(() => db.close());
  const rows = db.prepare('SELECT * FROM unknown_login_failures').all() as Record<string, unknown>[];
  t.equal(rows.length, 2, JSON.stringify(rows));
  t.notMatch(JSON.stringify(rows), /secret|person|example/i, 'no email in clear');
  // Not an unkeyed hash either (anyone could hash a list of emails and look them up).
  const unkeyed = createHash('sha256').update('secret.person@example.com').digest();
  const text = JSON.stringify(rows);
  t.notOk(text.includes(unkeyed.toString('hex').slice(0, 16)) || text.includes(unkeyed.toString('base64url').slice(0, 16)), 'not an unkeyed hash');
  t.ok(rows.every((r) => typeof r.email_digest === 'string' && /^[A-Za-z0-9_-]{43}$/.test(r.email_digest)), 'a full-length keyed digest');

  // The locked email's row lives until its lock ends, the other's until a day after its failure.
  clock.advance(601);
  t.same(await h.app.purgeExpiredSessions(), { sessions: 0, tokens: 0, unknownLoginFailures: 0 }, 'nothing has expired yet');
  clock.advance(86_400);
  t.same(await h.app.purgeExpiredSessions(), { sessions: 0, tokens: 0, unknownLoginFailures: 2 });
  t.equal((db.prepare('SELECT count(*) AS n FROM unknown_login_failures').get() as { n: number }).n, 0, 'the table is empty again');
});

t.test('with AUTHNZD_REDIS_URL the counts are on the rate-limit counters (shared through Redis), not in the table', async (t) => {
  // Nothing listens on port 1: the limiter falls back to memory, as while Redis is down.
  const h = await buildTestApp(t, { env: { ...env('on'), AUTHNZD_REDIS_URL: 'redis://127.0.0.1:1' } });
  const delays = recordDelays(h);
  await verifiedUser(h, 'known@example.com');
  const known: string[] = [];
  const unknown: string[] = [];
  for (let i = 0; i < 3; i++) {
    known.push(await attempt(h, delays, 'known@example.com'));
    unknown.push(await attempt(h, delays, 'unknown@example.com'));
  }
  t.same(unknown, known, known.join(' | '));
  const db = openDb(h);
  t.teardown(() => db.close());
  t.equal((db.prepare('SELECT count(*) AS n FROM unknown_login_failures').get() as { n: number }).n, 0);
});
