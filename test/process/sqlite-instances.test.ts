import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { CliIo } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { repoRoot } from '../helper.js';
import { startServer, type Running } from './util.js';

/*
 * Writers the service does not see: a second authnzd process on the same SQLite file, and the
 * CLI. The SQLite store keeps the verify path's key row, sessions and users in memory while the
 * database is unchanged (src/db/sqlite/read-memo.ts); a revocation or a lock committed by any of
 * them must still be the very next answer (SPEC §4.2, §4.3).
 */

const SECRET = 'sqlite-instances-admin-secret-0123456789';
const IP = '198.51.100.23';
const UA = 'sqlite-instances-test/1';
const PASSWORD = 'Amber-Falcon-Ridge-Compass-81';

async function call(srv: Running, action: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${srv.url}/v1/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

t.test('two processes and the CLI on one SQLite file', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'authnzd-sqlite-instances-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { AUTHNZD_DATA_DIR: dataDir, AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json'), AUTHNZD_BOOTSTRAP_CLIENT_SECRET: SECRET };
  const a = await startServer(env);
  t.teardown(() => a.child.kill('SIGKILL'));
  const b = await startServer(env);
  t.teardown(() => b.child.kill('SIGKILL'));

  const cli = async (args: string[]) => {
    const io: CliIo = { env: { ...env, PASSWORD }, cwd: repoRoot, out: () => {}, err: (l) => t.comment(l) };
    return run(args, io);
  };
  t.equal(await cli(['user', 'add', 'owner@example.test', '--password-env', 'PASSWORD']), 0);

  const anon = await call(a, 'session_new', { ip_address: IP, user_agent: UA });
  const login = await call(a, 'user_login', { session_token: anon.body.session_token, email: 'owner@example.test', password: PASSWORD });
  t.equal(login.status, 200, JSON.stringify(login.body));
  const issue = () => call(a, 'issue_apikey', {
    session_token: login.body.session_token, ip_address: IP, user_agent: UA, audience: 'svc', subject: 'x', api_version: 1, expires_in: 3600,
  });
  const first = (await issue()).body;
  const second = (await issue()).body;
  const verify = (srv: Running, apikey: unknown) => call(srv, 'verify_apikey', { apikey, ip_address: IP, user_agent: UA });

  t.test('revoked on A: B answers revoked on its next verify', async (t) => {
    for (let i = 0; i < 3; i++) t.equal((await verify(b, first.apikey)).body.valid, true, 'B verifies (and keeps the row)');
    const r = await call(a, 'revoke_apikey', { session_token: login.body.session_token, key_id: first.key_id });
    t.equal(r.status, 200, JSON.stringify(r.body));
    t.same((await verify(b, first.apikey)).body, { valid: false, reason: 'revoked' });
    t.same((await verify(a, first.apikey)).body, { valid: false, reason: 'revoked' });
  });

  t.test('owner locked by the CLI: both answer user_inactive on their next verify', async (t) => {
    for (const srv of [a, b]) t.equal((await verify(srv, second.apikey)).body.valid, true);
    t.equal(await cli(['user', 'lock', 'owner@example.test']), 0);
    for (const srv of [a, b]) t.same((await verify(srv, second.apikey)).body, { valid: false, reason: 'user_inactive' });
    const exists = await call(b, 'session_exists', { session_token: login.body.session_token });
    t.equal(exists.body.exists, false, 'the session the lock deleted is gone on B too');
  });

  t.test('clients added and revoked by the CLI: both instances follow on their next request', async (t) => {
    // Client answers are cached per instance; the cache must not outlive a change by the CLI
    // (it did: a revoked client kept working for up to 5 s).
    const asClient = (srv: Running, secret: string) => fetch(`${srv.url}/v1/session_new`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ip_address: IP, user_agent: UA }),
    }).then((r) => r.status);
    const lines: string[] = [];
    const io: CliIo = { env, cwd: repoRoot, out: (l) => lines.push(l), err: (l) => t.comment(l) };
    t.equal(await run(['client', 'add', 'frontend', '--actions', 'session_new'], { ...io }), 0);
    const real = lines.at(-1)!;
    for (const srv of [a, b]) t.equal(await asClient(srv, real), 201, 'the new client works at once');
    for (const srv of [a, b]) t.equal(await asClient(srv, real), 201, 'and again (now cached)');
    t.equal(await run(['client', 'revoke', 'frontend'], io), 0);
    for (const srv of [a, b]) t.equal(await asClient(srv, real), 401, 'the revoked client is refused on the next request');
  });
});
