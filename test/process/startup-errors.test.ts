import net from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { repoRoot } from '../helper.js';
import { runCommand } from './util.js';

/**
 * Starts the service (from source) once per entry, on its data dir with the shipped policy and
 * port 0, `env` added; three at a time: each is a whole process start (seconds on a busy
 * machine). A start that gets as far as listening is stopped. Results in the entries' order.
 */
async function startEach(starts: { dataDir: string; env: Record<string, string> }[]) {
  const results: Awaited<ReturnType<typeof runCommand>>[] = [];
  for (let i = 0; i < starts.length; i += 3) {
    results.push(...await Promise.all(starts.slice(i, i + 3).map(({ dataDir, env }) => runCommand(['--import', 'tsx', 'src/server.ts'], {
      AUTHNZD_DATA_DIR: dataDir,
      AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json'),
      AUTHNZD_PORT: '0',
      ...env,
    }, { killOn: /Server listening/ }))));
  }
  return results;
}

/**
 * Start-up failures past the parse of the environment (database, TLS files, listen address, data
 * dir, first-start admin password) are one stderr line that names the setting and the path,
 * never a secret, never a stack or a JSON log line (SPEC §1).
 */
t.test('start-up failures name the setting (and path) in one line, without secrets', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'authnzd-proc-bad-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const notPem = path.join(root, 'not.pem');
  writeFileSync(notPem, 'this is not a PEM file\n');
  const aFile = path.join(root, 'a-file');
  writeFileSync(aFile, 'x');
  const junkDir = path.join(root, 'junk');
  mkdirSync(junkDir);
  writeFileSync(path.join(junkDir, 'authnzd.sqlite'), 'this is not a database, only text. '.repeat(40));
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => busy.close());
  const busyPort = String((busy.address() as net.AddressInfo).port);

  // The database cases that need no server (password masking, SQLite files) are CLI tests in
  // test/process/cli.test.ts: the CLI opens the store through the same openStore.
  const cases: { env: Record<string, string>; setting: string; shows?: string; secret?: string }[] = [
    { env: { AUTHNZD_DATABASE_URL: 'postgres://' }, setting: 'AUTHNZD_DATABASE_URL' },
    { env: { AUTHNZD_DATA_DIR: junkDir }, setting: 'AUTHNZD_DATA_DIR', shows: path.join(junkDir, 'authnzd.sqlite') },
    { env: { AUTHNZD_DATA_DIR: aFile }, setting: 'AUTHNZD_DATA_DIR', shows: aFile },
    { env: { AUTHNZD_TLS_CERT: notPem, AUTHNZD_TLS_KEY: notPem }, setting: 'AUTHNZD_TLS_CERT', shows: notPem },
    // Well-formed, but not an address of this machine (TEST-NET-1): found only at listen.
    { env: { AUTHNZD_HOST: '192.0.2.1' }, setting: 'AUTHNZD_HOST', shows: '192.0.2.1' },
    { env: { AUTHNZD_HOST: '127.0.0.1', AUTHNZD_PORT: busyPort }, setting: 'AUTHNZD_PORT', shows: busyPort },
    { env: { AUTHNZD_ADMIN_PASSWORD: 'aaaaaaaaaaaa' }, setting: 'AUTHNZD_ADMIN_PASSWORD', secret: 'aaaaaaaaaaaa' },
  ];
  const results = await startEach(cases.map((c) => ({ dataDir: path.join(mkdtempSync(path.join(root, 'd-')), 'data'), env: c.env })));
  for (const [i, c] of cases.entries()) {
    const r = results[i]!;
    const label = `${JSON.stringify(c.env)}: ${r.stderr.trim()}${r.stdout.includes('"level":50') ? ' (and a JSON error log line)' : ''}`;
    t.not(r.code, 0, `exits non-zero: ${label}`);
    t.match(r.stderr, /^authnzd: [^\n]+\n$/, `one stderr line: ${label}`);
    t.match(r.stderr, c.setting, `names ${c.setting}: ${label}`);
    if (c.shows) t.ok(r.stderr.includes(c.shows), `shows ${c.shows}: ${label}`);
    if (c.secret) t.notOk((r.stderr + r.stdout).includes(c.secret), `never prints the secret: ${label}`);
    t.notMatch(r.stdout, /"level":(50|60)/, `no JSON error log line: ${label}`);
  }
});

t.test('a malformed AUTHNZD_HOST or AUTHNZD_PORT exits 2 naming the setting, before the data dir is created', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'authnzd-proc-addr-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const cases: { env: Record<string, string>; line: RegExp }[] = [
    { env: { AUTHNZD_HOST: '256.0.0.1' }, line: /^authnzd: invalid configuration: AUTHNZD_HOST: [^\n]*"256\.0\.0\.1"[^\n]*\n$/ },
    { env: { AUTHNZD_HOST: '1.2.3' }, line: /^authnzd: invalid configuration: AUTHNZD_HOST: [^\n]*"1\.2\.3"[^\n]*\n$/ },
    { env: { AUTHNZD_HOST: 'not a host!!' }, line: /^authnzd: invalid configuration: AUTHNZD_HOST: [^\n]*"not a host!!"[^\n]*\n$/ },
    { env: { AUTHNZD_PORT: '70000' }, line: /^authnzd: invalid configuration: AUTHNZD_PORT: must be an integer from 0 to 65535 \(got "70000"\)\n$/ },
    { env: { AUTHNZD_PORT: 'abc' }, line: /^authnzd: invalid configuration: AUTHNZD_PORT: must be an integer from 0 to 65535 \(got "abc"\)\n$/ },
  ];
  const dirs = cases.map((_, i) => path.join(root, `data-${i}`));
  const results = await startEach(cases.map((c, i) => ({ dataDir: dirs[i]!, env: c.env })));
  for (const [i, c] of cases.entries()) {
    const r = results[i]!;
    const label = `${JSON.stringify(c.env)}: ${r.stderr.trim()}`;
    t.equal(r.code, 2, label);
    t.match(r.stderr, c.line, label);
    t.equal(r.stdout, '', `no log line: nothing was started (${label})`);
    t.notOk(existsSync(dirs[i]!), `the data dir was not created (no database, secrets or salt): ${label}`);
  }
});

t.test('a sealed keyring with AUTHNZD_KEY_ENCRYPTION_KEY missing or wrong exits 2 naming the setting, never showing it', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'authnzd-proc-kek-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dataDir = path.join(root, 'data');
  const kek = 'the-right-key-encryption-key-0123456789';
  const [first] = await startEach([{ dataDir, env: { AUTHNZD_KEY_ENCRYPTION_KEY: kek } }]);
  t.match(first!.stdout, /Server listening/, 'a first start seals the keyring');
  const wrongKek = 'a-wrong-key-encryption-key-9876543210';
  const [missing, wrong] = await startEach([{ dataDir, env: {} }, { dataDir, env: { AUTHNZD_KEY_ENCRYPTION_KEY: wrongKek } }]);
  for (const [what, r, line] of [
    ['missing', missing!, /^authnzd: invalid configuration: AUTHNZD_KEY_ENCRYPTION_KEY: is not set, and keyring entry \S+ is sealed\n$/],
    ['wrong', wrong!, /^authnzd: invalid configuration: AUTHNZD_KEY_ENCRYPTION_KEY: is wrong: keyring entry \S+ cannot be unsealed with it\n$/],
  ] as const) {
    t.equal(r.code, 2, `${what}: a setting to change, not an outage (${r.stderr.trim()})`);
    t.match(r.stderr, line, what);
    t.notOk((r.stderr + r.stdout).includes(wrongKek) || (r.stderr + r.stdout).includes(kek), `${what}: no key-encryption key printed`);
  }
});
