import http from 'node:http';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { repoRoot } from '../helper.js';
import { runCommand, startServer } from './util.js';

const freshDir = () => path.join(mkdtempSync(path.join(tmpdir(), 'authnzd-proc-')), 'data');

t.test('a fresh start creates the data dir, secrets and database, and serves', async (t) => {
  const dataDir = freshDir();
  t.teardown(() => rmSync(path.dirname(dataDir), { recursive: true, force: true }));
  const srv = await startServer({ AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json') });
  t.teardown(() => srv.child.kill('SIGKILL'));

  t.equal(statSync(dataDir).mode & 0o777, 0o700, 'data dir is 0700');
  for (const f of ['admin-client.secret', 'admin-credentials.json', 'pii.salt']) {
    t.ok(existsSync(path.join(dataDir, f)), `${f} written`);
    t.equal(statSync(path.join(dataDir, f)).mode & 0o777, 0o600, `${f} is 0600`);
  }
  t.ok(existsSync(path.join(dataDir, 'authnzd.sqlite')), 'SQLite database created');
  // It holds password hashes and (without AUTHNZD_KEY_ENCRYPTION_KEY) raw signing keys.
  for (const f of ['authnzd.sqlite', 'authnzd.sqlite-wal', 'authnzd.sqlite-shm']) {
    t.equal(statSync(path.join(dataDir, f)).mode & 0o777, 0o600, `${f} is 0600`);
  }
  const secret = readFileSync(path.join(dataDir, 'admin-client.secret'), 'utf8').trim();
  const creds = JSON.parse(readFileSync(path.join(dataDir, 'admin-credentials.json'), 'utf8')) as { password: string };
  t.match(srv.output(), /admin-client\.secret/, 'the secret file path is logged');
  t.notOk(srv.output().includes(secret), 'the client secret is not logged');
  t.notOk(srv.output().includes(creds.password), 'the admin password is not logged');

  const health = await fetch(`${srv.url}/health`);
  t.equal(health.status, 200);
  const res = await fetch(`${srv.url}/v1/audit_query`, {
    method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: '{}',
  });
  t.equal(res.status, 200, 'the generated admin secret works');
  t.notOk(srv.output().includes(secret), 'the secret is not logged after a request either');

  // A request in flight when SIGTERM arrives (headers received, body still streaming) is
  // answered, then the process exits 0.
  const body = JSON.stringify({ limit: 5 });
  const inflight = new Promise<number>((resolve, reject) => {
    const req = http.request(`${srv.url}/v1/audit_query`, {
      method: 'POST', agent: false,
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-length': String(body.length) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.write(body.slice(0, 4));
    setTimeout(() => {
      srv.child.kill('SIGTERM');
      setTimeout(() => req.end(body.slice(4)), 300);
    }, 300);
  });
  t.equal(await inflight, 200, 'the in-flight request was answered');
  t.equal(await srv.exited, 0, 'exit code 0 after SIGTERM');
  t.match(srv.output(), /shutting down/);

  // A restart keeps the same secrets (written once) and the same database, and tightens a
  // database file left 0644 (by an older version, a copy, a restore) back to 0600.
  chmodSync(path.join(dataDir, 'authnzd.sqlite'), 0o644);
  const again = await startServer({ AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json') });
  t.teardown(() => again.child.kill('SIGKILL'));
  for (const f of ['authnzd.sqlite', 'authnzd.sqlite-wal', 'authnzd.sqlite-shm']) {
    t.equal(statSync(path.join(dataDir, f)).mode & 0o777, 0o600, `${f} is 0600 after a restart on a 0644 file`);
  }
  t.equal(readFileSync(path.join(dataDir, 'admin-client.secret'), 'utf8').trim(), secret);
  const res2 = await fetch(`${again.url}/v1/audit_query`, {
    method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: '{}',
  });
  t.equal(res2.status, 200);
  again.child.kill('SIGINT');
  t.equal(await again.exited, 0, 'exit code 0 after SIGINT');
});

t.test('invalid configuration exits non-zero with one line naming the setting', async (t) => {
  const r = await runCommand(['--import', 'tsx', 'src/server.ts'], { AUTHNZD_PORT: 'eighty', AUTHNZD_DATA_DIR: freshDir() });
  t.not(r.code, 0);
  t.match(r.stderr, /^authnzd: invalid configuration: AUTHNZD_PORT: .+\n$/);

  const dataDir = freshDir();
  t.teardown(() => rmSync(path.dirname(dataDir), { recursive: true, force: true }));
  const limits = JSON.stringify({ not_an_action: { max: 5, window: 60 } });
  const unknown = await runCommand(['--import', 'tsx', 'src/server.ts'], { AUTHNZD_RATE_LIMITS: limits, AUTHNZD_DATA_DIR: dataDir });
  t.not(unknown.code, 0);
  t.match(unknown.stderr, /^authnzd: invalid configuration: AUTHNZD_RATE_LIMITS: .*"not_an_action".+\n$/);
  t.notOk(existsSync(dataDir), 'nothing is created before the configuration is valid');
});

t.test('an invalid policy stops the start before anything is written to the data dir', async (t) => {
  const dataDir = freshDir();
  t.teardown(() => rmSync(path.dirname(dataDir), { recursive: true, force: true }));
  const policy = JSON.parse(readFileSync(path.join(repoRoot, 'permissions.json'), 'utf8')) as { roles: string[]; role_policy: Record<string, unknown> };
  policy.roles = policy.roles.filter((r) => r !== 'superuser');
  delete policy.role_policy.superuser;
  const file = path.join(path.dirname(dataDir), 'permissions.json');
  writeFileSync(file, JSON.stringify(policy));
  // No admin password or client secret in the environment: a start that got as far as seeding
  // the database would write admin-credentials.json and admin-client.secret.
  const r = await runCommand(['--import', 'tsx', 'src/server.ts'], { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: file, AUTHNZD_PORT: '0' });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /^authnzd: invalid configuration: AUTHNZD_PERMISSIONS: cannot use policy file .*permissions\.json: roles: "superuser" is not declared[^\n]*\n$/);
  t.notOk(existsSync(dataDir), 'the data dir was not created (no database, secrets or salt)');
});
