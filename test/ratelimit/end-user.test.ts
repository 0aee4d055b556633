import t from 'tap';
import { endUserLimits, LOGIN_THROTTLE } from '../../src/ratelimit/end-user.js';
import { buildTestApp, json, show, type TestApp } from '../helper.js';
import { IP as KEY_IP, UA as KEY_UA, keyBody, newSession, newUser } from '../apikeys/setup.js';
import { PASSWORD, anonSession, openDb, verifiedUser } from '../users/fixtures.js';

/** Rate limits on (the built-in defaults), backoff sleeps recorded instead of slept. */
async function app(t: Parameters<typeof buildTestApp>[0], env: Record<string, string> = {}): Promise<TestApp> {
  const h = await buildTestApp(t, { env: { AUTHNZD_RATE_LIMITS: '{}', ...env } });
  h.app.logins.sleep = async () => {};
  return h;
}

const rule = (action: string, by: string) => endUserLimits[action]!.find((r) => r.by === by)!;

async function login(h: TestApp, email: string, password: string, ip: string) {
  return h.call('user_login', { session_token: await anonSession(h, { ip_address: ip }), email, password });
}

function failedLogins(h: TestApp, email: string): number {
  const db = openDb(h);
  try {
    return (db.prepare('SELECT failed_logins FROM users WHERE email = ?').get(email) as { failed_logins: number }).failed_logins;
  } finally {
    db.close();
  }
}

t.test('user_new: per end-user IP, exactly the limit; other IPs unaffected; refused calls write nothing', async (t) => {
  const h = await app(t);
  const { max } = rule('user_new', 'ip');
  const codes: number[] = [];
  for (let i = 0; i < max + 3; i++) {
    const res = await h.call('user_new', { email: `u${i}@example.com`, password: PASSWORD, full_name: 'Burst', ip_address: '203.0.113.7' });
    codes.push(res.statusCode);
  }
  t.same(codes, [...Array(max).fill(201), 429, 429, 429], `${max} sign-ups per IP`);
  const refused = await h.call('user_new', { email: 'late@example.com', password: PASSWORD, full_name: 'Late', ip_address: '203.0.113.7' });
  t.equal(refused.statusCode, 429, show(refused));
  t.equal(json(refused).code, 'rate_limited');
  t.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After');
  t.equal(refused.headers['ratelimit-limit'], String(max));
  t.equal(refused.headers['ratelimit-remaining'], '0');
  t.ok(Number(refused.headers['ratelimit-reset']) > 0, 'RateLimit-Reset');
  const lookup = await h.call('user_get', { email: 'late@example.com' });
  t.equal(lookup.statusCode, 404, `the refused sign-up wrote nothing: ${show(lookup)}`);

  const other = await h.call('user_new', { email: 'other@example.com', password: PASSWORD, full_name: 'Other', ip_address: '203.0.113.8' });
  t.equal(other.statusCode, 201, `another end user of the same frontend: ${show(other)}`);
  const sameBlock = await h.call('user_new', { email: 'v6@example.com', password: PASSWORD, full_name: 'Six', ip_address: '2001:db8:1:2::1' });
  t.equal(sameBlock.statusCode, 201);

  h.clock.advance(rule('user_new', 'ip').window);
  const later = await h.call('user_new', { email: 'later@example.com', password: PASSWORD, full_name: 'Later', ip_address: '203.0.113.7' });
  t.equal(later.statusCode, 201, `the window passed: ${show(later)}`);
});

t.test('user_new: per email, whatever the IP', async (t) => {
  const h = await app(t);
  const { max } = rule('user_new', 'email');
  const codes: number[] = [];
  for (let i = 0; i < max + 2; i++) {
    const res = await h.call('user_new', { email: 'Same@Example.com', password: PASSWORD, full_name: 'Same', ip_address: `192.0.2.${i + 1}` });
    codes.push(res.statusCode);
  }
  t.same(codes, [201, ...Array(max - 1).fill(409), 429, 429], 'normalised email counted across IPs');
});

/** An account-wide lock threshold above the throttle, to see the throttle on its own. */
const HIGH_LOCK = { AUTHNZD_LOGIN_MAX_FAILURES: String(LOGIN_THROTTLE.max * 3) };

t.test('with the defaults, SPEC §3 holds: 10 failures from one IP lock the account, before any throttle', async (t) => {
  const h = await app(t);
  await verifiedUser(h, 'spec@example.com');
  t.ok(LOGIN_THROTTLE.max > h.config.loginMaxFailures, 'the throttle sits above the lock threshold');
  const codes: number[] = [];
  for (let i = 0; i < 10; i++) codes.push((await login(h, 'spec@example.com', 'wrong-password-guess', '198.51.100.5')).statusCode);
  t.same(codes.slice(0, 9), Array(9).fill(401), codes.join(','));
  t.ok(codes[9] === 401 || codes[9] === 423, 'the 10th failure is refused (and may already report the lock)');
  const locked = await login(h, 'spec@example.com', PASSWORD, '198.51.100.5');
  t.equal(locked.statusCode, 423, show(locked));
  t.equal(json(locked).code, 'account_locked');
  t.type(json(locked).retry_after, 'number');
});

t.test('a known place that failed itself is locked like any other (the exemption is for places without failures)', async (t) => {
  const h = await app(t);
  await verifiedUser(h, 'mine@example.com');
  const home = '203.0.113.20';
  t.equal((await login(h, 'mine@example.com', PASSWORD, home)).statusCode, 200, 'home is a known place');
  for (let i = 0; i < 10; i++) t.match((await login(h, 'mine@example.com', 'wrong-password-guess', home)).statusCode, i < 9 ? 401 : /^(401|423)$/);
  const locked = await login(h, 'mine@example.com', PASSWORD, home);
  t.equal(locked.statusCode, 423, `failures from home lock home too: ${show(locked)}`);
});

t.test('login throttle per account+IP: without hashing, and spares other users and IPs', async (t) => {
  const h = await app(t, HIGH_LOCK);
  await verifiedUser(h, 'victim@example.com');
  await verifiedUser(h, 'bob@example.com');
  const attacker = '198.51.100.66';
  const codes: number[] = [];
  for (let i = 0; i < LOGIN_THROTTLE.max + 2; i++) codes.push((await login(h, 'victim@example.com', 'wrong-password-guess', attacker)).statusCode);
  t.same(codes, [...Array(LOGIN_THROTTLE.max).fill(401), 429, 429]);
  t.equal(failedLogins(h, 'victim@example.com'), LOGIN_THROTTLE.max, 'throttled attempts are not password checks (no failure counted)');
  t.ok(LOGIN_THROTTLE.max < h.config.loginMaxFailures, 'the throttle trips before the account-wide lock');

  const right = await login(h, 'victim@example.com', PASSWORD, attacker);
  t.equal(right.statusCode, 429, `even the right password is not checked from the throttled IP: ${show(right)}`);
  t.equal(right.headers['retry-after'], String(LOGIN_THROTTLE.window));

  const bob = await login(h, 'bob@example.com', PASSWORD, attacker);
  t.equal(bob.statusCode, 200, `another account from the same IP: ${show(bob)}`);
  const owner = await login(h, 'victim@example.com', PASSWORD, '203.0.113.50');
  t.equal(owner.statusCode, 200, `the owner from another IP: ${show(owner)}`);

  h.clock.advance(LOGIN_THROTTLE.window);
  const after = await login(h, 'victim@example.com', 'wrong-password-guess', attacker);
  t.equal(after.statusCode, 401, 'the throttle window passed');
});

t.test('a successful login clears the account+IP attempts', async (t) => {
  const h = await app(t, HIGH_LOCK);
  await verifiedUser(h, 'typo@example.com');
  const ip = '198.51.100.70';
  for (let i = 0; i < LOGIN_THROTTLE.max - 1; i++) t.equal((await login(h, 'typo@example.com', 'not-my-password', ip)).statusCode, 401);
  t.equal((await login(h, 'typo@example.com', PASSWORD, ip)).statusCode, 200);
  const codes: number[] = [];
  for (let i = 0; i < LOGIN_THROTTLE.max + 1; i++) codes.push((await login(h, 'typo@example.com', 'not-my-password', ip)).statusCode);
  t.same(codes, [...Array(LOGIN_THROTTLE.max).fill(401), 429], 'a fresh allowance after the success');
});

t.test('lockout abuse: a distributed attack locks the account, but not from where the owner logs in', async (t) => {
  const h = await app(t);
  await verifiedUser(h, 'owner@example.com');
  const home = '203.0.113.10';
  t.equal((await login(h, 'owner@example.com', PASSWORD, home)).statusCode, 200, 'the owner logs in from home');
  h.clock.advance(3600);

  // Attackers from several IPs, each throttled after LOGIN_THROTTLE.max attempts.
  let locked = false;
  for (let ip = 1; !locked && ip < 10; ip++) {
    for (let i = 0; i < LOGIN_THROTTLE.max; i++) {
      const res = await login(h, 'owner@example.com', 'guess-' + i, `198.51.100.${ip}`);
      if (res.statusCode === 423) locked = true;
    }
  }
  t.ok(locked, 'the account-wide temporary lock still stops distributed guessing');
  const stranger = await login(h, 'owner@example.com', PASSWORD, '192.0.2.99');
  t.equal(stranger.statusCode, 423, `a new place gets the lock: ${show(stranger)}`);
  t.equal(json(stranger).code, 'account_locked');
  const fromHome = await login(h, 'owner@example.com', PASSWORD, home);
  t.equal(fromHome.statusCode, 200, `the owner still logs in from a known place: ${show(fromHome)}`);
});

t.test('a login from a known place during the temporary lock does not lift it for other places', async (t) => {
  const h = await app(t);
  await verifiedUser(h, 'kept@example.com');
  const home = '203.0.113.30';
  const attacker = '198.51.100.80';
  t.equal((await login(h, 'kept@example.com', PASSWORD, home)).statusCode, 200, 'home is a known place');
  for (let i = 0; i < 10; i++) await login(h, 'kept@example.com', 'wrong-password-guess', attacker);
  t.equal((await login(h, 'kept@example.com', PASSWORD, attacker)).statusCode, 423, 'the account is locked');
  const fromHome = await login(h, 'kept@example.com', PASSWORD, home);
  t.equal(fromHome.statusCode, 200, `the owner logs in from home during the lock: ${show(fromHome)}`);
  const after = await login(h, 'kept@example.com', PASSWORD, attacker);
  t.equal(after.statusCode, 423, `the attacker's place stays locked: ${show(after)}`);
  t.type(json(after).retry_after, 'number');
  const elsewhere = await login(h, 'kept@example.com', 'wrong-password-guess', '198.51.100.81');
  t.equal(elsewhere.statusCode, 423, `and so does any new place: no fresh guesses (${show(elsewhere)})`);
  h.clock.advance(3600);
  const later = await login(h, 'kept@example.com', PASSWORD, attacker);
  t.equal(later.statusCode, 200, `after the lock time the right password works anywhere: ${show(later)}`);
});

t.test('user_passcheck_nosession and user_resetpass_token: per email', async (t) => {
  const h = await app(t);
  await verifiedUser(h, 'pc@example.com');
  const pc = rule('user_passcheck_nosession', 'email').max;
  const codes: number[] = [];
  for (let i = 0; i < pc + 1; i++) codes.push((await h.call('user_passcheck_nosession', { email: 'pc@example.com', password: PASSWORD })).statusCode);
  t.same(codes, [...Array(pc).fill(200), 429]);
  t.equal((await h.call('user_passcheck_nosession', { email: 'other@example.com', password: PASSWORD })).statusCode, 200, 'other emails unaffected');

  const rt = rule('user_resetpass_token', 'email').max;
  const resets: number[] = [];
  for (let i = 0; i < rt + 1; i++) resets.push((await h.call('user_resetpass_token', { email: 'pc@example.com' })).statusCode);
  t.same(resets, [...Array(rt).fill(200), 429]);
});

t.test('AUTHNZD_RATE_LIMITS=off turns end-user limits and the login throttle off', async (t) => {
  const h = await buildTestApp(t);
  h.app.logins.sleep = async () => {};
  await verifiedUser(h, 'free@example.com');
  const codes: number[] = [];
  for (let i = 0; i < LOGIN_THROTTLE.max + 1; i++) codes.push((await login(h, 'free@example.com', 'wrong-password-guess', '198.51.100.1')).statusCode);
  t.notOk(codes.includes(429), codes.join(','));
});

t.test('API keys: issue_apikey_nosession per user, refresh_apikey per end-user IP', async (t) => {
  const h = await app(t);
  const alice = await verifiedUser(h, 'alice@example.com');
  const bob = await verifiedUser(h, 'bob@example.com');
  const issue = (user_id: number, ip: string) => h.call('issue_apikey_nosession', {
    user_id, ip_address: ip, audience: 'api', subject: 'reports', api_version: 1, expires_in: 3600, refresh_expires_in: 86400,
  });
  const perUser = rule('issue_apikey_nosession', 'user').max;
  const codes: number[] = [];
  for (let i = 0; i < perUser + 1; i++) codes.push((await issue(alice, `192.0.2.${(i % 50) + 1}`)).statusCode);
  t.same(codes, [...Array(perUser).fill(201), 429], 'per user, whatever the IP');
  const other = await issue(bob, '192.0.2.1');
  t.equal(other.statusCode, 201, `another user is not throttled by alice's burst: ${show(other)}`);

  const perIp = rule('refresh_apikey', 'ip').max;
  const refresh: number[] = [];
  for (let i = 0; i < perIp + 1; i++) {
    refresh.push((await h.call('refresh_apikey', { apikey: 'azk_bogus', refresh_token: 'nope', ip_address: '203.0.113.99', user_agent: 'UA' })).statusCode);
  }
  t.same(refresh, [...Array(perIp).fill(401), 429], 'refresh attempts per IP, refused before any token lookup');
  const elsewhere = await h.call('refresh_apikey', { apikey: 'azk_bogus', refresh_token: 'nope', ip_address: '203.0.113.100', user_agent: 'UA' });
  t.equal(elsewhere.statusCode, 401, 'another IP is not limited');
});

t.test('issue_apikey: per session user; another user from the same frontend is not throttled', async (t) => {
  const h = await app(t);
  const [a, b] = [await newUser(h), await newUser(h)];
  const [sa, sb] = [await newSession(h, a), await newSession(h, b, '203.0.113.200')];
  const issue = (session_token: string, ip: string) => h.call('issue_apikey', { session_token, ip_address: ip, user_agent: KEY_UA, ...keyBody });
  const max = rule('issue_apikey', 'session_user').max;
  const codes: number[] = [];
  for (let i = 0; i < max + 1; i++) codes.push((await issue(sa, KEY_IP)).statusCode);
  t.same(codes, [...Array(max).fill(201), 429]);
  const other = await issue(sb, '203.0.113.200');
  t.equal(other.statusCode, 201, show(other));
});

t.test('the session-bound limits read the session the way the action does: one database read on SQLite, not two', async (t) => {
  const h = await app(t);
  const user = await newUser(h);
  const session = await newSession(h, user);
  const sessions = h.app.store.sessions;
  let plainReads = 0;
  const plain = sessions.getByTokenHash.bind(sessions);
  sessions.getByTokenHash = async (hash) => {
    plainReads++;
    return plain(hash);
  };
  const res = await h.call('issue_apikey', { session_token: session, ip_address: KEY_IP, user_agent: KEY_UA, ...keyBody });
  t.equal(res.statusCode, 201, show(res));
  t.equal(plainReads, 0, 'the limit hook used the memoised session-and-user read, not a second plain one');
});

t.test("the limit hook's session read uses the request's change stamp: no second stamp read", async (t) => {
  const h = await app(t);
  const user = await newUser(h);
  const session = await newSession(h, user);
  const store = h.app.store;
  const sessions = store.sessions;
  const stamps: unknown[] = [];
  const read = store.readStamp!.bind(store);
  store.readStamp = () => {
    const s = read();
    stamps.push(s);
    return s;
  };
  const ats: unknown[] = [];
  const withUser = sessions.getWithUserByTokenHash.bind(sessions);
  sessions.getWithUserByTokenHash = async (hash, at) => {
    ats.push(at);
    return withUser(hash, at);
  };
  const res = await h.call('issue_apikey', { session_token: session, ip_address: KEY_IP, user_agent: KEY_UA, ...keyBody });
  t.equal(res.statusCode, 201, show(res));
  t.ok(ats.length >= 2, 'the hook and the handler each read the session');
  t.ok(ats[0] !== undefined && ats[0] === stamps[0], "the hook's read (the first) was given the stamp read when the request arrived");
});
