import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import type { CliIo } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { buildTestApp, repoRoot } from '../helper.js';
import { runCommand } from './util.js';

/** A new directory under the system temp dir, removed when the test ends. */
function tempDir(t: Test, prefix = 'authnzd-cli-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the CLI in-process (same code as the binary) and captures its output. */
async function cli(args: string[], env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { env, cwd: repoRoot, out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await run(args, io);
  return { code, stdout: out.join('\n') + '\n', stderr: err.join('\n') + '\n' };
}

t.test('the authnzd binary runs and prints a new client secret alone on the last line', async (t) => {
  const dataDir = tempDir(t);
  const r = await runCommand(['bin/authnzd.js', 'client', 'add', 'web', '--actions', 'session_new,verify_apikey'], { AUTHNZD_DATA_DIR: dataDir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout.trim().split('\n').at(-1), /^azc_[A-Za-z0-9_-]{43}$/);
  const bad = await runCommand(['bin/authnzd.js', 'nosuch'], { AUTHNZD_DATA_DIR: dataDir });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^authnzd: unknown command "nosuch"/);
});

t.test('client add | list | revoke', async (t) => {
  const dataDir = tempDir(t);
  const env = { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json') };

  const init = await cli(['init'], env);
  t.equal(init.code, 0, init.stderr);
  t.match(init.stdout, /admin-client\.secret/);
  // The PII salt is made by init as by serve (0600), so every instance started on the dir shares it.
  t.match(init.stdout, /generated secret written to .*pii\.salt/);
  t.equal(statSync(path.join(dataDir, 'pii.salt')).mode & 0o777, 0o600);
  const again = await cli(['init'], env);
  t.equal(again.code, 0, again.stderr);
  t.notMatch(again.stdout, /pii\.salt/, 'an existing salt is kept, not reported again');

  const add = await cli(['client', 'add', 'web', '--actions', 'session_new,verify_apikey'], env);
  t.equal(add.code, 0, add.stderr);
  t.match(add.stdout.trim().split('\n').at(-1), /^azc_[A-Za-z0-9_-]{43}$/, 'the secret is alone on the last line');

  const star = await cli(['client', 'add', 'ops', '--actions', '*'], env);
  t.equal(star.code, 0, star.stderr);

  const dup = await cli(['client', 'add', 'web', '--actions', 'session_new'], env);
  t.equal(dup.code, 1, 'a second live client with the same name is refused');

  const list = await cli(['client', 'list'], env);
  t.equal(list.code, 0);
  t.match(list.stdout, /^admin\t\*\t.*\tlive$/m);
  t.match(list.stdout, /^web\tsession_new,verify_apikey\t.*\tlive$/m);
  t.notMatch(list.stdout, /azc_/, 'secrets are never listed');

  const revoke = await cli(['client', 'revoke', 'web'], env);
  t.equal(revoke.code, 0, revoke.stderr);
  t.match((await cli(['client', 'list'], env)).stdout, /^web\t.*\trevoked /m);
  t.equal((await cli(['client', 'revoke', 'web'], env)).code, 1, 'revoking twice says there is no live client');
  t.equal((await cli(['keys', 'rotate'], env)).code, 0);

  // The CLI's audit rows say who made the change: the CLI, as `user lock` and `user add` rows do
  // (the bootstrap's rows, made by no one in particular, keep client null).
  const db = new Database(path.join(dataDir, 'authnzd.sqlite'), { readonly: true });
  const rows = db.prepare("SELECT event, subject, client FROM audit_log WHERE event IN ('client_create', 'client_revoke', 'keyring_rotate') ORDER BY id").all();
  db.close();
  t.match(rows, [
    { event: 'client_create', subject: 'admin', client: null },
    { event: 'client_create', subject: 'web', client: 'cli' },
    { event: 'client_create', subject: 'ops', client: 'cli' },
    { event: 'client_revoke', subject: 'web', client: 'cli' },
    { event: 'keyring_rotate', client: 'cli' },
  ]);
  t.equal(rows.length, 5);

  t.equal((await cli(['migrate'], env)).code, 0);
});

t.test('usage errors exit 2 with one line', async (t) => {
  const env = { AUTHNZD_DATA_DIR: tempDir(t) };
  for (const args of [['client', 'add'], ['client', 'add', 'x'], ['client', 'add', 'x', '--actions', 'Bad-Action'], ['client', 'frob'], ['nosuch'], ['toString'], ['client', 'add', 'x', '--colour', 'red']]) {
    const r = await cli(args, env);
    t.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, /^authnzd: [^\n]+\n$/);
  }
  // An option given twice is ambiguous (which action list did the operator mean?): refused,
  // and no client is made.
  for (const args of [['client', 'add', 'x', '--actions', 'session_new', '--actions', '*'], ['client', 'add', 'x', '--actions=*', '--actions=session_new']]) {
    const r = await cli(args, env);
    t.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, /^authnzd: --actions given more than once\n$/);
  }
  t.equal((await cli(['client', 'list'], env)).stdout.trim(), '', 'no client was made');
  const bad = await cli(['client', 'list'], { ...env, AUTHNZD_LOG_LEVEL: 'chatty' });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /AUTHNZD_LOG_LEVEL/);

  // serve, init and migrate take no arguments: a stray one is refused before anything runs (a
  // bad port here would be the error if serve went on to start).
  const fresh = path.join(env.AUTHNZD_DATA_DIR, 'fresh');
  for (const args of [['serve', '--bogus'], ['init', 'now'], ['migrate', '--force']]) {
    const r = await cli(args, { AUTHNZD_DATA_DIR: fresh, AUTHNZD_PORT: 'eighty' });
    t.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, new RegExp(`^authnzd: ${args[0]} takes no arguments \\(got "${args[1]}"[^\n]*\n$`));
  }
  t.notOk(existsSync(fresh), 'nothing was created');
});

t.test('<command> --help / -h prints that command\'s usage and exits 0, doing nothing else', async (t) => {
  const parent = tempDir(t);
  const env = { AUTHNZD_DATA_DIR: path.join(parent, 'data') };
  const cases: [string[], RegExp][] = [
    [['init', '--help'], /^usage: authnzd init\b/],
    [['migrate', '-h'], /^usage: authnzd migrate\b/],
    [['client', '--help'], /^usage: authnzd client add NAME/],
    [['client', 'add', '-h'], /^usage: authnzd client add NAME/],
    [['user', 'add', 'a@example.test', '--help'], /^usage: authnzd user add EMAIL/],
    [['keys', 'rotate', '-h'], /^usage: authnzd keys list/],
    [['policy', 'check', '--help'], /^usage: authnzd policy check/],
  ];
  for (const [args, usage] of cases) {
    const r = await cli(args, env);
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stdout, usage, args.join(' '));
    t.equal(r.stderr, '\n', `${args.join(' ')}: nothing on stderr`);
  }
  t.notOk(existsSync(env.AUTHNZD_DATA_DIR), 'no command ran: the data dir was not created');

  // serve --help must not start the service; the bad port makes a serve that ignored --help
  // exit at once (2, invalid configuration) instead of listening.
  const serve = await runCommand(['bin/authnzd.js', 'serve', '--help'], { ...env, AUTHNZD_PORT: 'eighty' });
  t.equal(serve.code, 0, serve.stderr);
  t.match(serve.stdout, /^usage: authnzd serve\b/);
});

t.test('client add refuses unknown action names and extra arguments, and creates nothing', async (t) => {
  const env = { AUTHNZD_DATA_DIR: tempDir(t) };
  t.equal((await cli(['init'], env)).code, 0);

  const unknown = await cli(['client', 'add', 'lim3', '--actions', 'nosuch_action'], env);
  t.equal(unknown.code, 2, unknown.stderr);
  t.match(unknown.stderr, /^authnzd: [^\n]*"nosuch_action"[^\n]*\n$/, 'one line naming the unknown action');
  const some = await cli(['client', 'add', 'lim4', '--actions', 'session_new,sesion_exists,user_frob'], env);
  t.equal(some.code, 2, some.stderr);
  t.match(some.stderr, /"sesion_exists", "user_frob"/, 'every unknown action is named');
  t.notMatch(some.stderr, /session_new/, 'known actions are not');

  for (const args of [
    ['client', 'add', 'lim8', '--actions', 'session_new', 'extra-arg'],
    ['client', 'add', 'lim9', 'extra-arg', '--actions', 'session_new'],
    ['client', 'list', 'extra-arg'],
    ['client', 'revoke', 'admin', 'extra-arg'],
  ]) {
    const r = await cli(args, env);
    t.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, /^authnzd: unexpected argument "extra-arg" \(usage: [^\n]+\n$/, args.join(' '));
  }

  const list = await cli(['client', 'list'], env);
  t.equal(list.stdout.trim().split('\n').length, 1, `only the admin client exists: ${list.stdout}`);
  t.match(list.stdout, /^admin\t\*\t.*\tlive$/m, 'the admin client is still live');
});

t.test('client add accepts every action the service serves', async (t) => {
  const h = await buildTestApp(t);
  const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
  const served = Object.keys(doc.paths).filter((p) => p.startsWith('/v1/')).map((p) => p.slice(4)).sort();
  const env = { AUTHNZD_DATA_DIR: tempDir(t) };
  const all = await cli(['client', 'add', 'every', '--actions', served.join(',')], env);
  t.equal(all.code, 0, all.stderr);
  t.match((await cli(['client', 'list'], env)).stdout, new RegExp(`^every\t${served.join(',')}\t`, 'm'));
});

t.test('a database that cannot be opened is one line naming the setting, never the password', async (t) => {
  const root = tempDir(t, 'authnzd-cli-db-');
  const junkDir = path.join(root, 'junk');
  mkdirSync(junkDir);
  writeFileSync(path.join(junkDir, 'authnzd.sqlite'), 'this is not a database, only text. '.repeat(40));
  const dirAsDb = path.join(root, 'dir-as-db');
  mkdirSync(path.join(dirAsDb, 'authnzd.sqlite'), { recursive: true });

  const cases: { env: Record<string, string>; shows: string[]; secret?: string }[] = [
    { env: { AUTHNZD_DATABASE_URL: 'postgres://' }, shows: ['AUTHNZD_DATABASE_URL (postgres://)'] },
    {
      env: { AUTHNZD_DATABASE_URL: 'postgres://alice:Sup3r-Secret-Pw@127.0.0.1:1/authnzd' },
      shows: ['AUTHNZD_DATABASE_URL (postgres://alice:****@127.0.0.1:1/authnzd)', 'ECONNREFUSED'],
      secret: 'Sup3r-Secret-Pw',
    },
    {
      env: { AUTHNZD_DATABASE_URL: 'postgres://alice@127.0.0.1:1/authnzd?sslmode=disable&password=Query-Secret-Pw' },
      shows: ['AUTHNZD_DATABASE_URL (postgres://alice@127.0.0.1:1/authnzd?sslmode=disable&password=****)'],
      secret: 'Query-Secret-Pw',
    },
    { env: { AUTHNZD_DATA_DIR: junkDir }, shows: ['AUTHNZD_DATA_DIR', path.join(junkDir, 'authnzd.sqlite'), 'file is not a database'] },
    { env: { AUTHNZD_DATA_DIR: dirAsDb }, shows: ['AUTHNZD_DATA_DIR', path.join(dirAsDb, 'authnzd.sqlite')] },
  ];
  for (const c of cases) {
    const r = await cli(['client', 'list'], { AUTHNZD_DATA_DIR: path.join(root, 'data'), ...c.env });
    const label = `${JSON.stringify(c.env)}: ${r.stderr}`;
    t.equal(r.code, 1, label);
    t.match(r.stderr, /^authnzd: [^\n]+\n$/, `one line: ${label}`);
    for (const text of c.shows) t.ok(r.stderr.includes(text), `shows ${text}: ${label}`);
    if (c.secret) t.notOk(r.stderr.includes(c.secret), `never prints the password: ${label}`);
  }
});

t.test('init refuses an unreadable or invalid policy (exit 2, one line naming AUTHNZD_PERMISSIONS and the path) before writing anything', async (t) => {
  const root = tempDir(t, 'authnzd-cli-policy-');
  const noSuperuser = JSON.parse(readFileSync(path.join(repoRoot, 'permissions.json'), 'utf8')) as { roles: string[]; role_policy: Record<string, unknown> };
  noSuperuser.roles = noSuperuser.roles.filter((r) => r !== 'superuser');
  delete noSuperuser.role_policy.superuser;
  const files = {
    invalid: path.join(root, 'invalid.json'),
    notJson: path.join(root, 'not-json.json'),
    missing: path.join(root, 'missing.json'),
    directory: path.join(root, 'a-directory.json'),
  };
  writeFileSync(files.invalid, JSON.stringify(noSuperuser));
  writeFileSync(files.notJson, '{"roles": [');
  mkdirSync(files.directory);
  const cases: [string, string, RegExp][] = [
    ['a role the service assigns is not declared', files.invalid, /roles: "superuser" is not declared/],
    ['not JSON', files.notJson, /JSON/i],
    ['no such file', files.missing, /file not found/],
    ['not a readable file', files.directory, /EISDIR|directory/i],
  ];
  for (const [what, file, why] of cases) {
    // A data dir that does not exist yet stays absent; one that exists (here 0755, with a file in
    // it) is left as it was: not tightened to 0700, no database, salt or secret written into it.
    const fresh = path.join(root, `fresh-${Object.values(files).indexOf(file)}`);
    const existing = path.join(root, `existing-${Object.values(files).indexOf(file)}`);
    mkdirSync(existing);
    chmodSync(existing, 0o755);
    writeFileSync(path.join(existing, 'README'), 'kept\n');
    for (const dataDir of [fresh, existing]) {
      // No admin password or client secret: an init that got as far as seeding would write
      // admin-credentials.json and admin-client.secret.
      const r = await runCommand(['bin/authnzd.js', 'init'], { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: file });
      const label = `${what} (${dataDir === fresh ? 'no data dir yet' : 'existing data dir'}): ${r.stderr}`;
      t.equal(r.code, 2, label);
      t.equal(r.stdout, '', `prints nothing on stdout: ${label}`);
      t.match(r.stderr, /^authnzd: invalid configuration: AUTHNZD_PERMISSIONS: [^\n]+\n$/, `one line naming the setting: ${label}`);
      t.ok(r.stderr.includes(file), `names the path: ${label}`);
      t.match(r.stderr, why, `says why: ${label}`);
    }
    t.notOk(existsSync(fresh), `${what}: the data dir was not created`);
    t.same(readdirSync(existing), ['README'], `${what}: nothing written into an existing data dir`);
    t.equal(statSync(existing).mode & 0o777, 0o755, `${what}: an existing data dir is not even re-moded`);
  }

  // The same data dir initialises once the policy is fixed.
  const dataDir = path.join(root, 'fresh-0');
  writeFileSync(files.invalid, readFileSync(path.join(repoRoot, 'permissions.json')));
  const ok = await runCommand(['bin/authnzd.js', 'init'], { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: files.invalid });
  t.equal(ok.code, 0, ok.stderr);
  t.ok(existsSync(path.join(dataDir, 'authnzd.sqlite')));
});

t.test('user add reads the policy the same way: an invalid one is an invalid configuration (exit 2)', async (t) => {
  const root = tempDir(t, 'authnzd-cli-policy-');
  const dataDir = path.join(root, 'data');
  const r = await cli(['user', 'add', 'someone@example.com'], { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: path.join(root, 'missing.json') });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /^authnzd: invalid configuration: AUTHNZD_PERMISSIONS: cannot use policy file [^\n]*missing\.json: file not found\n$/);
  t.notOk(existsSync(dataDir), 'nothing created');
});

t.test('migrate does not read the policy: it only brings the database schema up to date', async (t) => {
  const root = tempDir(t, 'authnzd-cli-policy-');
  const dataDir = path.join(root, 'data');
  const r = await runCommand(['bin/authnzd.js', 'migrate'], { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: path.join(root, 'missing.json') });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^database migrated \(sqlite\)$/m);
  t.ok(existsSync(path.join(dataDir, 'authnzd.sqlite')));
});

t.test('init creates the keyring, as serve does, and only once', async (t) => {
  const dataDir = tempDir(t);
  const env = { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json') };
  const init = await cli(['init'], env);
  t.equal(init.code, 0, init.stderr);
  t.match(init.stdout, /^keyring created$/m);
  const list = await cli(['keys', 'list'], env);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /^sig-\S+\tsig\t.*\tissuing\t/m, 'an issuing signing key');
  t.match(list.stdout, /^enc-\S+\tenc\t.*\tissuing\t/m, 'an issuing encryption key');
  const again = await cli(['init'], env);
  t.equal(again.code, 0, again.stderr);
  t.notMatch(again.stdout, /keyring created/, 'an existing keyring is kept');
  t.equal((await cli(['keys', 'list'], env)).stdout.trim().split('\n').length, 3, 'still two keys');
});

t.test('user add|lock|unlock and keys list|rotate refuse extra arguments (exit 2) and change nothing', async (t) => {
  // `user lock a@x b@y` used to lock a@x and ignore b@y, and `keys rotate now` rotated: an
  // unquoted list or a stray word is a usage error, as for `client` (docs/operations.md).
  const env = { AUTHNZD_DATA_DIR: tempDir(t), AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json'), PW: 'Extra-Argument-Passphrase-7' };
  t.equal((await cli(['init'], env)).code, 0);
  t.equal((await cli(['user', 'add', 'one@example.com', '--password-env', 'PW'], env)).code, 0);
  const keysBefore = (await cli(['keys', 'list'], env)).stdout;

  for (const [args, extra] of [
    [['user', 'lock', 'one@example.com', 'two@example.com'], 'two@example.com'],
    [['user', 'unlock', 'one@example.com', 'extra-arg'], 'extra-arg'],
    [['user', 'add', 'three@example.com', 'extra-arg', '--password-env', 'PW'], 'extra-arg'],
    [['user', 'add', 'three@example.com', '--password-env', 'PW', 'extra-arg'], 'extra-arg'],
    [['keys', 'rotate', 'now'], 'now'],
    [['keys', 'list', 'extra-arg'], 'extra-arg'],
  ] as const) {
    const r = await cli([...args], env);
    t.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, new RegExp(`^authnzd: unexpected argument "${extra}" \\(usage: [^\\n]+\\n$`), args.join(' '));
    t.equal(r.stdout, '\n', `${args.join(' ')} printed nothing on stdout`);
  }

  const db = new Database(path.join(env.AUTHNZD_DATA_DIR, 'authnzd.sqlite'), { readonly: true });
  const users = db.prepare('SELECT email, role FROM users ORDER BY id').all();
  const events = db.prepare("SELECT event FROM audit_log WHERE event IN ('user_lock', 'user_unlock', 'keyring_rotate')").all();
  db.close();
  t.match(users, [{}, {}, { email: 'one@example.com', role: 'authenticated' }], 'one@example.com was not locked');
  t.equal(users.length, 3, 'three@example.com was not created');
  t.same(events, [], 'no lock, unlock or rotation was recorded');
  t.equal((await cli(['keys', 'list'], env)).stdout, keysBefore, 'the keyring was not rotated');
});

t.test('a reader that stops reading (authnzd user add … | head -1): the command completes, exit 0, no EPIPE stack', async (t) => {
  const dataDir = tempDir(t);
  const env = { PATH: process.env.PATH ?? '', AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json') };
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/authnzd.js'), 'user', 'add', 'piped@example.com'], {
    cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The read end is closed before the CLI writes anything: each of its writes meets EPIPE.
  child.stdout!.destroy();
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 0, stderr);
  t.equal(stderr, '', 'nothing on stderr');
  const db = new Database(path.join(dataDir, 'authnzd.sqlite'), { readonly: true });
  t.teardown(() => db.close());
  t.ok(db.prepare('SELECT 1 FROM users WHERE email = ?').get('piped@example.com'), 'the user was created');
});
