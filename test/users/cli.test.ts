import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { CliIo } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { buildTestApp, json, repoRoot, show } from '../helper.js';
import { anonSession } from './fixtures.js';

/** Runs the CLI in-process against a data dir; returns exit code and output lines. */
async function cli(args: string[], env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { env: { AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json'), ...env }, cwd: repoRoot, out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await run(args, io);
  return { code, out, err };
}

t.test('user add | lock | unlock', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'authnzd-cli-user-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_ADMIN_PASSWORD: 'Correct-Horse-Battery-Staple-42', AUTHNZD_BOOTSTRAP_CLIENT_SECRET: 'test-admin-client-secret-0123456789abcdef' };
  t.equal((await cli(['init'], env)).code, 0);

  const add = await cli(['user', 'add', ' Ops@Example.com', '--name', 'Ops Person', '--role', 'staff'], env);
  t.equal(add.code, 0, add.err.join('\n'));
  const password = add.out.at(-1)!;
  t.match(password, /^[A-Za-z0-9_-]{43}$/, 'the generated password is alone on the last line');
  t.match(add.out[0], /ops@example\.com created with id 3 and role staff/);

  const envPw = await cli(['user', 'add', 'env@example.com', '--password-env', 'NEW_PW'], { ...env, NEW_PW: 'quartz-Meadow-lantern-19' });
  t.equal(envPw.code, 0, envPw.err.join('\n'));
  t.notMatch(envPw.out.join('\n'), /quartz/, 'a given password is never printed');
  const weak = await cli(['user', 'add', 'weak@example.com', '--password-env', 'NEW_PW'], { ...env, NEW_PW: 'password1234' });
  t.equal(weak.code, 1);
  t.match(weak.err[0], /password policy.*commonly used/);
  t.equal((await cli(['user', 'add', 'ops@example.com'], env)).code, 1, 'duplicate email');
  t.equal((await cli(['user', 'add', 'x@example.com', '--role', 'emperor'], env)).code, 2, 'unknown role');
  t.equal((await cli(['user', 'add'], env)).code, 2);

  t.equal((await cli(['user', 'lock', 'OPS@example.com'], env)).code, 0);
  t.equal((await cli(['user', 'lock', 'nobody@example.com'], env)).code, 1);
  t.equal((await cli(['user', 'lock', 'anonymous@authnzd.invalid'], env)).code, 1, 'the anonymous user is never locked');

  // The running service sees the lock (same database).
  const h = await buildTestApp(t, { dataDir, env });
  const locked = await h.call('user_login', { session_token: await anonSession(h), email: 'ops@example.com', password });
  t.equal(locked.statusCode, 423, show(locked));
  await h.app.close();

  const unlock = await cli(['user', 'unlock', 'ops@example.com'], env);
  t.equal(unlock.code, 0, unlock.err.join('\n'));
  t.match(unlock.out[0], /role staff/);
  const h2 = await buildTestApp(t, { dataDir, env });
  const ok = await h2.call('user_login', { session_token: await anonSession(h2), email: 'ops@example.com', password });
  t.equal(ok.statusCode, 200, show(ok));
  t.equal(json(ok).role, 'staff');
});

t.test('init refuses an AUTHNZD_ADMIN_PASSWORD that fails the password policy, naming the rules only', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ AUTHNZD_ADMIN_PASSWORD: 'aaaaaaaaaaaa' }, /repeated_character/],
    [{ AUTHNZD_ADMIN_PASSWORD: '123456789012' }, /all_digits/],
    [{ AUTHNZD_ADMIN_PASSWORD: 'password1234' }, /common_password/],
    [{ AUTHNZD_ADMIN_PASSWORD: 'rootkeeper-x9', AUTHNZD_ADMIN_EMAIL: 'rootkeeper@example.com' }, /similar_to_user/],
  ];
  for (const [extra, rule] of cases) {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'authnzd-cli-admin-'));
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    const r = await cli(['init'], { AUTHNZD_DATA_DIR: dataDir, ...extra });
    const label = `${JSON.stringify(extra)}: ${r.err.join('\n')}`;
    t.equal(r.code, 2, label);
    t.equal(r.err.length, 1, `one line: ${label}`);
    t.match(r.err[0], /^authnzd: invalid configuration: AUTHNZD_ADMIN_PASSWORD: fails the password policy: /, label);
    t.match(r.err[0], rule, label);
    t.notOk(r.err.join('\n').includes(extra.AUTHNZD_ADMIN_PASSWORD!), `the password is not printed: ${label}`);
    // Nothing was seeded: a corrected password then initialises the same data dir.
    const fixed = await cli(['init'], { AUTHNZD_DATA_DIR: dataDir, ...extra, AUTHNZD_ADMIN_PASSWORD: 'Correct-Horse-Battery-Staple-42' });
    t.equal(fixed.code, 0, fixed.err.join('\n'));
  }

  // The setting is only used to create the superuser: once it exists, it is not checked again.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'authnzd-cli-admin-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  t.equal((await cli(['init'], { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_ADMIN_PASSWORD: 'Correct-Horse-Battery-Staple-42' })).code, 0);
  t.equal((await cli(['init'], { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_ADMIN_PASSWORD: 'aaaaaaaaaaaa' })).code, 0);
});
