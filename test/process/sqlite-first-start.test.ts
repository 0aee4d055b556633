import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { repoRoot } from '../helper.js';
import { startServer } from './util.js';

/*
 * Several processes started at the same moment on one empty SQLite data dir (SPEC §1: every
 * instance that shares a database shares it). All of them must come up: one seeds the database
 * (superuser, anonymous user, `admin` client, generated secrets), the others wait and find the
 * work done. The seeding's "is the database empty?" check was guarded only inside one process,
 * so the others also saw an empty database and died on `unique constraint users_email_uq`.
 */

const IP = '198.51.100.41';
const UA = 'sqlite-first-start-test/1';

t.test('instances started together on an empty SQLite data dir all start, sharing one seed', async (t) => {
  const dataDir = path.join(mkdtempSync(path.join(tmpdir(), 'authnzd-first-start-')), 'data');
  t.teardown(() => rmSync(path.dirname(dataDir), { recursive: true, force: true }));
  const env = { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json') };
  const started = await Promise.allSettled([1, 2, 3, 4].map(() => startServer(env)));
  for (const s of started) if (s.status === 'fulfilled') t.teardown(() => s.value.child.kill('SIGKILL'));
  const failed = started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason).split('\n').find((l) => l.startsWith('authnzd:')) ?? String(s.reason)] : []));
  t.same(failed, [], 'every instance started');
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));

  t.ok(existsSync(path.join(dataDir, 'admin-client.secret')) && existsSync(path.join(dataDir, 'admin-credentials.json')), 'the secrets were written');
  const secret = readFileSync(path.join(dataDir, 'admin-client.secret'), 'utf8').trim();
  const creds = JSON.parse(readFileSync(path.join(dataDir, 'admin-credentials.json'), 'utf8')) as { email: string; password: string };
  const wrote = servers.map((s) => (s.output().match(/generated secret written/g) ?? []).length);
  t.same(wrote.sort(), [0, 0, 0, 2], 'one instance generated the two secret files, the others found them made');
  const call = async (url: string, action: string, body: unknown) => {
    const res = await fetch(`${url}/v1/${action}`, {
      method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  for (const srv of servers) {
    const anon = await call(srv.url, 'session_new', { ip_address: IP, user_agent: UA });
    t.equal(anon.status, 201, `the admin secret in the file works on ${srv.url}`);
    const login = await call(srv.url, 'user_login', { session_token: anon.body.session_token, email: creds.email, password: creds.password });
    t.equal(login.status, 200, `the superuser in the file logs in on ${srv.url}: ${JSON.stringify(login.body)}`);
  }
  for (const srv of servers) {
    srv.child.kill('SIGTERM');
    t.equal(await srv.exited, 0, 'exit 0 after SIGTERM');
  }
});
