import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import t, { type Test } from 'tap';
import { CLIENT_CACHE_TTL_MS, createClient } from '../../src/core/clients.js';
import { newToken } from '../../src/core/tokens.js';
import { openStore } from '../../src/db/open.js';
import { createPostgresStore } from '../../src/db/postgres/index.js';
import { LISTENER_APPLICATION_NAME } from '../../src/db/postgres/listen.js';
import type { Store } from '../../src/db/store.js';
import { createTestDatabase } from '../db/pg.js';
import { buildTestApp, repoRoot, show, type TestApp } from '../helper.js';
import { runCommand } from '../process/util.js';

/*
 * The client-secret cache on PostgreSQL. Every write to the clients table notifies
 * `authnzd_clients` in its transaction and each instance LISTENs on a dedicated connection, so a
 * client revoked or added by another process (the CLI) is refused or accepted once the
 * notification arrived, not after a TTL. The apps run on a FakeClock that never moves unless a
 * test moves it: no TTL can expire by itself here, so a prompt answer can only come from the
 * notification (before it, the cache kept a revoked client for 5 s; with this clock, forever).
 */
const adminUrl = process.env.AUTHNZD_TEST_PG_URL;
const skip = adminUrl ? false : 'AUTHNZD_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test): client cache on PostgreSQL not tested';

/** The bound of every wait for a notification: well under the old 5 s TTL. */
const PROMPT_MS = 2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every 10 ms until it returns `want` or PROMPT_MS passed; returns its last answer. */
async function pollFor<T>(want: T, fn: () => Promise<T>, boundMs = PROMPT_MS): Promise<T> {
  const until = Date.now() + boundMs;
  for (;;) {
    const got = await fn();
    if (got === want || Date.now() >= until) return got;
    await sleep(10);
  }
}

async function pgApp(t: Test, opts: { store?: (url: string) => Promise<Store> } = {}): Promise<{ h: TestApp; url: string; other: Store }> {
  const db = await createTestDatabase(adminUrl!);
  t.teardown(() => db.drop());
  const store = opts.store ? await opts.store(db.url) : undefined;
  const h = await buildTestApp(t, { env: { AUTHNZD_DATABASE_URL: db.url }, ...(store ? { store } : {}) });
  // Another process's view of the database (the CLI's): its own store, its own connections.
  const other = await openStore({ dataDir: h.dataDir, databaseUrl: db.url });
  t.teardown(() => other.close());
  return { h, url: db.url, other };
}

/** Status of an action `secret`'s client may not call: 403 while it authenticates, 401 once refused. No action runs. */
const status = (h: TestApp, secret: string) => h.call('audit_query', {}, { secret }).then((r) => r.statusCode);

/**
 * Counts the app's cache drops (`invalidate`: one per notification): a test that warms the cache
 * right after a change waits for that change's own notification first, or the notification,
 * arriving a moment later, empties the cache it just warmed.
 */
function countDrops(h: TestApp): { n: number; reach(n: number): Promise<boolean> } {
  const counter = {
    n: 0,
    reach: (n: number) => pollFor(true, async () => counter.n >= n),
  };
  const source = h.app.clientAuth.invalidate.bind(h.app.clientAuth);
  h.app.clientAuth.invalidate = () => {
    counter.n++;
    source();
  };
  return counter;
}

/** Counts the app's client lookups that reach the database. */
function countLookups(h: TestApp): { n: number } {
  const counter = { n: 0 };
  const source = h.app.store.clients.findLiveBySecretHash.bind(h.app.store.clients);
  h.app.store.clients.findLiveBySecretHash = (hash) => {
    counter.n++;
    return source(hash);
  };
  return counter;
}

t.test('a client revoked by another connection is refused once the notification arrives, not after a TTL', { skip }, async (t) => {
  const { h, other } = await pgApp(t);
  const drops = countDrops(h);
  const { secret } = await createClient(other, { name: 'frontend', actions: ['session_new'], now: h.clock.now() });
  t.ok(await drops.reach(1), 'the creation was announced');
  const lookups = countLookups(h);
  t.equal(await status(h, secret), 403, 'the new client authenticates (then refused the action: 403)');
  const before = lookups.n;
  for (let i = 0; i < 3; i++) t.equal(await status(h, secret), 403);
  t.equal(lookups.n, before, 'answered from the cache: no database read');
  const session = await h.call('session_new', { ip_address: '192.0.2.1', user_agent: 'ua' }, { secret });
  t.equal(session.statusCode, 201, show(session));

  const clockBefore = h.clock.now();
  const revokedAt = Date.now();
  t.equal(await other.clients.revokeByName('frontend', h.clock.now()), true);
  t.equal(await pollFor(401, () => status(h, secret)), 401, `refused within ${PROMPT_MS} ms of the commit`);
  t.ok(Date.now() - revokedAt < 4000, 'well before the old 5 s TTL');
  t.equal(h.clock.now(), clockBefore, 'the app clock never moved: no TTL expired');
  const res = await h.call('session_new', { ip_address: '192.0.2.1', user_agent: 'ua' }, { secret });
  t.equal(res.statusCode, 401, show(res));
  t.equal(res.json().code, 'unauthenticated');
  t.equal(await status(h, 'test-admin-client-secret-0123456789abcdef'), 200, 'other clients are unaffected');
});

t.test('a client added by another connection is accepted once the notification arrives', { skip }, async (t) => {
  const { h, other } = await pgApp(t);
  const secret = newToken('azc_');
  t.equal(await status(h, secret), 401, 'unknown');
  t.equal(await status(h, secret), 401, 'still unknown (the refusal is cached)');
  await createClient(other, { name: 'late', actions: ['session_new'], secret, now: h.clock.now() });
  t.equal(await pollFor(403, () => status(h, secret)), 403, `accepted within ${PROMPT_MS} ms of the commit`);
  const res = await h.call('session_new', { ip_address: '192.0.2.1', user_agent: 'ua' }, { secret });
  t.equal(res.statusCode, 201, show(res));
});

t.test('the real CLI on PostgreSQL: client add and client revoke are followed promptly', { skip }, async (t) => {
  const { h, url } = await pgApp(t);
  const env = { AUTHNZD_DATA_DIR: h.dataDir, AUTHNZD_DATABASE_URL: url, AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json') };
  const add = await runCommand(['bin/authnzd.js', 'client', 'add', 'web', '--actions', 'session_new'], env);
  t.equal(add.code, 0, add.stderr);
  const secret = add.stdout.trim().split('\n').at(-1)!;
  t.equal(await pollFor(403, () => status(h, secret)), 403, 'the added client is accepted');
  t.equal(await status(h, secret), 403, 'and cached');
  const revoke = await runCommand(['bin/authnzd.js', 'client', 'revoke', 'web'], env);
  t.equal(revoke.code, 0, revoke.stderr);
  t.match(revoke.stdout, /revoked/);
  const done = Date.now();
  t.equal(await pollFor(401, () => status(h, secret)), 401, `the revoked client is refused within ${PROMPT_MS} ms of the CLI's exit`);
  t.ok(Date.now() - done < 4000);
});

t.test('listener down: answers kept at most the TTL; listening again drops the cache', { skip }, async (t) => {
  const { h, url, other } = await pgApp(t, { store: (u) => createPostgresStore(u, { listen: { minBackoffMs: 20, maxBackoffMs: 100 } }) });
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const allow = (yes: boolean) => admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${yes}`);
  t.teardown(async () => {
    await allow(true);
    await admin.end();
  });
  // Changes whose notification is missed: plain SQL on a connection opened before the outage.
  const raw = new pg.Client({ connectionString: url });
  await raw.connect();
  t.teardown(() => raw.end());
  const revokeSilently = (client: string) => raw.query('UPDATE clients SET revoked_at = now() WHERE name = $1', [client]);
  const drops = countDrops(h);
  const a = await createClient(other, { name: 'a', actions: ['session_new'], now: h.clock.now() });
  const b = await createClient(other, { name: 'b', actions: ['session_new'], now: h.clock.now() });
  t.ok(await drops.reach(2), 'both creations were announced');
  t.equal(await status(h, a.secret), 403);
  const logged = (msg: RegExp) => pollFor(true, async () => h.logs.some((l) => msg.test(String(l.msg))));
  t.ok(await logged(/client changes: listening/), 'the listener is up');
  const watchUp = async () => {
    const res = await h.app.inject({ method: 'GET', url: '/metrics' });
    return /^authnzd_client_watch_up (\d)$/m.exec(res.body)?.[1];
  };
  t.equal(await watchUp(), '1', '/metrics: authnzd_client_watch_up 1 while listening');
  const ready = async () => (await h.app.inject({ method: 'GET', url: '/ready' })).json();
  t.match(await ready(), { status: 'ready', parts: { client_changes: { ok: true } } });
  t.notOk((await ready()).client_changes, '/ready: no warning while listening');

  // The outage: the listener's backend is terminated and no new connection is accepted (the
  // app's pool keeps the connections it has).
  await allow(false);
  const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [name, LISTENER_APPLICATION_NAME]);
  t.equal(killed.rowCount, 1, 'one listener connection');
  t.ok(await logged(/listener down/), 'the outage is logged');
  const down = h.logs.find((l) => /listener down/.test(String(l.msg)))!;
  t.equal(down.level, 40, 'at warn');
  t.type(down.reason, 'string');
  t.equal(await watchUp(), '0', '/metrics: authnzd_client_watch_up 0 while the listener is down');
  // Still ready (client changes apply within the TTL), but the operator sees why they are slower.
  const degraded = await ready();
  t.match(degraded, { status: 'ready', parts: { client_changes: { ok: true, warning: /listener down/ } }, client_changes: /listener down/ }, JSON.stringify(degraded));

  await revokeSilently('a');
  t.equal(await status(h, a.secret), 403, 'within the TTL the cached answer stands (the change was not announced)');
  h.clock.advance(CLIENT_CACHE_TTL_MS / 1000 + 0.001);
  t.equal(await status(h, a.secret), 401, `kept no longer than ${CLIENT_CACHE_TTL_MS} ms while the listener is down`);

  t.equal(await status(h, b.secret), 403, 'b cached during the outage');
  await revokeSilently('b');
  await allow(true);
  t.ok(await logged(/listening again/), 'the listener reconnects (logged)');
  t.equal(await watchUp(), '1', '/metrics: back to 1');
  t.notOk((await ready()).client_changes, '/ready: the warning is gone');
  t.equal(await status(h, b.secret), 401, 'reconnecting dropped the cache: the change missed meanwhile is seen, no TTL expired');
  t.notMatch(h.rawLogs(), /postgres:\/\//, 'no connection string in the logs');

  const c = await createClient(other, { name: 'c', actions: ['session_new'], now: h.clock.now() });
  t.equal(await status(h, c.secret), 403);
  await other.clients.revokeByName('c', h.clock.now());
  t.equal(await pollFor(401, () => status(h, c.secret)), 401, 'and notifications are followed again');
});

t.test('closing the app closes the listener connection', { skip }, async (t) => {
  const { h, url } = await pgApp(t);
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  t.teardown(() => admin.end());
  const listeners = async () => (await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2',
    [name, LISTENER_APPLICATION_NAME])).rows[0].n as number;
  t.equal(await listeners(), 1, 'one dedicated listener connection while the app runs');
  const started = Date.now();
  await h.close();
  t.ok(Date.now() - started < 5000, 'close does not hang');
  t.equal(await pollFor(0, listeners), 0, 'gone from the server after close');
});

t.test('a process that closed its app exits by itself (no handle left open by the listener)', { skip }, async (t) => {
  const db = await createTestDatabase(adminUrl!);
  t.teardown(() => db.drop());
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/fixtures/pg-app-close.ts')], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', AUTHNZD_DATABASE_URL: db.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  // Killed (exit code null) if it is still running 5 s after its close, or 60 s after its start.
  let killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  child.stdout.on('data', () => {
    if (!out.includes('closed\n')) return;
    clearTimeout(killer);
    killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(killer);
  t.match(out, /closed\n/, `the app was built, used and closed:\n${out}`);
  t.equal(code, 0, `exited by itself within 5 s of the close, not killed:\n${out}`);
});
