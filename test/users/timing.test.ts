import t from 'tap';
import { buildTestApp, show, type TestApp } from '../helper.js';
import { anonSession, PASSWORD, verifiedUser } from './fixtures.js';

/*
 * The one timing test allowed: a login for an unknown email, a wrong password and a right
 * password must cost about the same (the unknown path runs a dummy argon2 verification), so
 * response times do not reveal who has an account. Medians of interleaved runs, compared
 * loosely: without the dummy verification the unknown path is ~50x faster, far outside the bound.
 */

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function timed(h: TestApp, action: string, body: Record<string, unknown>, expect: number): Promise<number> {
  const started = process.hrtime.bigint();
  const res = await h.call(action, body);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.statusCode !== expect) throw new Error(`${action}: ${show(res)}`);
  return ms;
}

t.test('login and password-check paths take the same time whether the user exists or not', async (t) => {
  const h = await buildTestApp(t, { env: { AUTHNZD_LOGIN_MAX_FAILURES: '1000' } });
  h.app.logins.sleep = async () => {};
  await verifiedUser(h, 'timing@example.com');
  const paths: Record<string, number[]> = { known_right: [], known_wrong: [], unknown: [], passcheck_unknown: [], passcheck_known: [] };
  for (let i = 0; i < 9; i++) {
    paths.known_right!.push(await timed(h, 'user_login', { session_token: await anonSession(h), email: 'timing@example.com', password: PASSWORD }, 200));
    paths.known_wrong!.push(await timed(h, 'user_login', { session_token: await anonSession(h), email: 'timing@example.com', password: 'wrong-password-x' }, 401));
    paths.unknown!.push(await timed(h, 'user_login', { session_token: await anonSession(h), email: `nobody${i}@example.com`, password: 'wrong-password-x' }, 401));
    paths.passcheck_unknown!.push(await timed(h, 'user_passcheck_nosession', { email: 'ghost@example.com', password: PASSWORD }, 200));
    paths.passcheck_known!.push(await timed(h, 'user_passcheck_nosession', { email: 'timing@example.com', password: 'wrong-password-y' }, 200));
  }
  const medians = Object.fromEntries(Object.entries(paths).map(([k, v]) => [k, Math.round(median(v) * 10) / 10]));
  t.comment(`median ms per path: ${JSON.stringify(medians)}`);
  const values = Object.values(medians);
  const ratio = Math.max(...values) / Math.min(...values);
  t.ok(ratio < 3, `slowest/fastest median ratio ${ratio.toFixed(2)} < 3 (${JSON.stringify(medians)})`);
});
