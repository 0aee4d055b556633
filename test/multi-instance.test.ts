import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import t from 'tap';
import { createTestDatabase } from './db/pg.js';
import { repoRoot } from './helper.js';
import { runCommand, startServer, type Running } from './process/util.js';

/*
 * Two real authnzd processes on different ports against one PostgreSQL database and one Redis
 * (issue 8): what one instance writes, the other sees on its very next request.
 */
const pgUrl = process.env.AUTHNZD_TEST_PG_URL;
const redisUrl = process.env.AUTHNZD_TEST_REDIS_URL;

const SECRET = 'multi-instance-admin-secret-0123456789';
const EMAIL = 'root@example.test';
const PASSWORD = 'Correct-Horse-Battery-Staple-42';
const UA = 'multi-instance-test/1';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function call(srv: Running, action: string, body: unknown): Promise<Answer> {
  const res = await fetch(`${srv.url}/v1/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const show = (a: Answer) => `${a.status} ${JSON.stringify(a.body)}`;

/** The `kid` of the outer JWE of an `azk_` key (its protected header is plain base64url JSON). */
const encKid = (apikey: string) => (JSON.parse(Buffer.from(apikey.slice(4).split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

if (!pgUrl || !redisUrl) {
  t.test('two instances on one PostgreSQL and Redis', { skip: 'set AUTHNZD_TEST_PG_URL and AUTHNZD_TEST_REDIS_URL to run it' }, () => {});
} else {
  // Several real process starts on a 2-core machine shared with the rest of the suite.
  t.setTimeout(300_000);
  t.test('two instances on one PostgreSQL and Redis', async (t) => {
    const db = await createTestDatabase(pgUrl);
    const work = mkdtempSync(path.join(tmpdir(), 'authnzd-multi-'));
    const permissions = path.join(work, 'permissions.json');
    copyFileSync(path.join(repoRoot, 'permissions.json'), permissions);
    const running: Running[] = [];
    t.teardown(async () => {
      for (const srv of running) {
        srv.child.kill('SIGTERM');
        await srv.exited;
      }
      await db.drop();
      rmSync(work, { recursive: true, force: true });
    });

    /** Everything the instances share; the data dir (PII salt file aside) is per instance. */
    const env = (name: string): Record<string, string> => ({
      AUTHNZD_DATA_DIR: path.join(work, name),
      AUTHNZD_DATABASE_URL: db.url,
      AUTHNZD_REDIS_URL: redisUrl,
      AUTHNZD_PERMISSIONS: permissions,
      AUTHNZD_BOOTSTRAP_CLIENT_SECRET: SECRET,
      AUTHNZD_ADMIN_EMAIL: EMAIL,
      AUTHNZD_ADMIN_PASSWORD: PASSWORD,
      AUTHNZD_PII_SALT: 'multi-instance-pii-salt',
      AUTHNZD_KEY_ENCRYPTION_KEY: 'multi-instance-key-encryption-key-0123456789',
      AUTHNZD_LOGIN_MAX_FAILURES: '3',
      AUTHNZD_LOG_LEVEL: 'info', // startServer waits for the "listening" line
      // audit_query is the probe of shared counters; the others are opened up for the test.
      AUTHNZD_RATE_LIMITS: JSON.stringify({
        audit_query: { max: 3, window: 600 },
        user_login: { max: 1000, window: 60 },
        issue_apikey: { max: 1000, window: 60 },
        issue_apikey_nosession: { max: 1000, window: 60 },
      }),
    });
    const start = async (name: string) => {
      const srv = await startServer(env(name));
      running.push(srv);
      return srv;
    };

    t.test('authnzd migrate on PostgreSQL', async (t) => {
      const res = await runCommand(['bin/authnzd.js', 'migrate'], env('cli'));
      t.equal(res.code, 0, res.stderr);
      t.match(res.stdout, /database migrated \(postgres\)/);
    });

    // Both start at once: migrations, seeding and the first keyring are each done exactly once.
    const [a, b] = await Promise.all([start('a'), start('b')]);

    /** A fresh login session of the superuser on `srv`, from `ip`. */
    const login = async (srv: Running, ip: string) => {
      const anon = await call(srv, 'session_new', { ip_address: ip, user_agent: UA });
      const res = await call(srv, 'user_login', { session_token: anon.body.session_token, email: EMAIL, password: PASSWORD });
      if (res.status !== 200) throw new Error(`login failed: ${show(res)}`);
      return res.body.session_token as string;
    };
    const issue = async (srv: Running, session: string, ip: string) => {
      const res = await call(srv, 'issue_apikey', {
        session_token: session, ip_address: ip, user_agent: UA, audience: 'svc', subject: '/things', api_version: 1, expires_in: 3600,
      });
      if (res.status !== 201) throw new Error(`issue failed: ${show(res)}`);
      return res.body as { apikey: string; key_id: string };
    };
    const verify = (srv: Running, apikey: string, ip: string) => call(srv, 'verify_apikey', { apikey, ip_address: ip, user_agent: UA });

    t.test('both instances started and seeded one database', async (t) => {
      for (const srv of [a, b]) {
        const ready = await fetch(`${srv.url}/ready`);
        t.equal(ready.status, 200, await ready.text());
      }
      t.not(a.url, b.url, 'different ports');
      const users = await call(a, 'user_get', { user_id: 2 });
      t.equal((users.body.user as { role?: string } | undefined)?.role, 'anonymous', show(users));
    });

    t.test('a key issued on A verifies on B; revoked on B, A answers revoked at once', async (t) => {
      const ip = '198.51.100.10';
      const session = await login(a, ip);
      const key = await issue(a, session, ip);
      const onB = await verify(b, key.apikey, ip);
      t.equal(onB.body.valid, true, show(onB));
      t.equal((await verify(a, key.apikey, ip)).body.valid, true, 'A caches the verified key');
      const revoke = await call(b, 'revoke_apikey', { session_token: session, key_id: key.key_id });
      t.equal(revoke.status, 200, show(revoke));
      const onA = await verify(a, key.apikey, ip);
      t.same(onA.body, { valid: false, reason: 'revoked' }, show(onA));
    });

    t.test('two revocations of one key at once: no error, one audit row', async (t) => {
      const ip = '198.51.100.11';
      const session = await login(a, ip);
      const key = await issue(b, session, ip);
      const both = await Promise.all([a, b].map((srv) => call(srv, 'revoke_apikey', { session_token: session, key_id: key.key_id })));
      t.same(both.map((r) => r.status), [200, 200], both.map(show).join('\n'));
      const audit = await call(a, 'audit_query', { subject: key.key_id });
      const revocations = (audit.body.events as { event: string }[] | undefined ?? []).filter((e) => /revoke/.test(e.event));
      t.equal(revocations.length, 1, show(audit));
    });

    t.test('the same refresh token on both at the same moment: exactly one wins', async (t) => {
      const ip = '198.51.100.12';
      const issued = await call(a, 'issue_apikey_nosession', {
        user_id: 1, ip_address: ip, user_agent: UA, audience: 'svc', subject: '/things', api_version: 1, expires_in: 600, refresh_expires_in: 3600,
      });
      t.equal(issued.status, 201, show(issued));
      const body = { apikey: issued.body.apikey, refresh_token: issued.body.refresh_token, ip_address: ip, user_agent: UA };
      const results = await Promise.all([call(a, 'refresh_apikey', body), call(b, 'refresh_apikey', body)]);
      t.same(results.map((r) => r.status).sort(), [201, 401], results.map(show).join('\n'));
      t.equal(results.find((r) => r.status === 401)?.body.code, 'invalid_refresh_token');
      t.equal((await verify(b, issued.body.apikey as string, ip)).body.reason, 'revoked', 'the refreshed key stops working everywhere');
    });

    t.test('rotation: keys issued by an instance on the new keys verify on the other', async (t) => {
      const ip = '198.51.100.13';
      const before = await issue(b, await login(b, ip), ip);
      const rotate = await runCommand(['bin/authnzd.js', 'keys', 'rotate'], env('a'));
      t.equal(rotate.code, 0, rotate.stderr);
      // A restarted B (or B after its periodic re-read) issues with the new keys.
      const old = running.splice(running.indexOf(b), 1)[0]!;
      old.child.kill('SIGTERM');
      t.equal(await old.exited, 0, 'B stops cleanly');
      const b2 = await start('b');
      const after = await issue(b2, await login(b2, ip), ip);
      t.not(encKid(after.apikey), encKid(before.apikey), 'B issues with the new encryption key');
      t.match(rotate.stdout, encKid(after.apikey), 'the one the rotation created');
      const onA = await verify(a, after.apikey, ip);
      t.equal(onA.body.valid, true, `A learns the new key: ${show(onA)}`);
      t.equal((await verify(a, before.apikey, ip)).body.valid, true, 'keys on the old keys keep verifying');
      t.equal((await verify(b2, before.apikey, ip)).body.valid, true);
    });

    t.test('two logins racing the temporary lock', async (t) => {
      const wrong = await Promise.all([0, 1, 2, 3, 4, 5].map(async (i) => {
        const srv = i % 2 ? a : running[running.length - 1]!;
        const anon = await call(srv, 'session_new', { ip_address: `203.0.113.${20 + i}`, user_agent: UA });
        return call(srv, 'user_login', { session_token: anon.body.session_token, email: EMAIL, password: 'wrong-password-000' });
      }));
      t.ok(wrong.every((r) => r.status === 401 || r.status === 423), wrong.map(show).join('\n'));
      t.ok(wrong.some((r) => r.status === 401), 'the first failures are plain failures');
      const anon = await call(a, 'session_new', { ip_address: '203.0.113.40', user_agent: UA });
      const right = await call(a, 'user_login', { session_token: anon.body.session_token, email: EMAIL, password: PASSWORD });
      t.equal(right.status, 423, `the account is locked on every instance: ${show(right)}`);
      t.equal(right.body.code, 'account_locked');
    });

    t.test('an unknown email locks after as many failures as a real account, spread over both', async (t) => {
      // Per-instance counts would lock it only after 2 × 3 failures here, which tells it from a
      // real account. Redis outlives a run: the email is new each time.
      const ghost = `ghost-${Date.now()}@example.test`;
      const answers: string[] = [];
      for (const [i, srv] of [a, running[running.length - 1]!, a, running[running.length - 1]!].entries()) {
        const anon = await call(srv, 'session_new', { ip_address: `203.0.113.${60 + i}`, user_agent: UA });
        const res = await call(srv, 'user_login', { session_token: anon.body.session_token, email: ghost, password: 'wrong-password-000' });
        answers.push(`${res.status} ${res.body.code}`);
      }
      // The third failure locks (still a 401: the login came to an unlocked account); the fourth is refused.
      t.same(answers, ['401 invalid_credentials', '401 invalid_credentials', '401 invalid_credentials', '423 account_locked'],
        `failures on A and B count together (AUTHNZD_LOGIN_MAX_FAILURES=3): ${answers.join(' | ')}`);
    });

    t.test('a policy file change reaches both instances', async (t) => {
      const policy = JSON.parse(readFileSync(permissions, 'utf8')) as Record<string, unknown>;
      const changed = JSON.stringify(policy, null, 1) + '\n';
      writeFileSync(permissions, changed);
      const sha = createHash('sha256').update(changed).digest('hex');
      for (const srv of [a, running[running.length - 1]!]) {
        let seen: unknown;
        for (let i = 0; i < 100 && seen !== sha; i++) {
          seen = (await call(srv, 'policy_get', {})).body.sha256;
          if (seen !== sha) await new Promise((r) => setTimeout(r, 100));
        }
        t.equal(seen, sha, `${srv.url} serves the new policy`);
      }
    });

    t.test('rate-limit counters are shared', async (t) => {
      const b2 = running[running.length - 1]!;
      // One earlier audit_query (on A) already counted: two more spread over both use up 3.
      const statuses: string[] = [];
      for (const srv of [b2, a, b2]) {
        const res = await fetch(`${srv.url}/v1/audit_query`, {
          method: 'POST', headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' }, body: '{"limit":1}',
        });
        statuses.push(`${res.status} remaining=${res.headers.get('ratelimit-remaining')}`);
      }
      t.same(statuses, ['200 remaining=1', '200 remaining=0', '429 remaining=0'], 'the instances count against one limit of 3');
    });

    t.test('usage counted on both instances adds up once they stop', async (t) => {
      const ip = '198.51.100.14';
      const b2 = running[running.length - 1]!;
      // The superuser is temporarily locked by now (logins above): a key without a session.
      const issued = await call(a, 'issue_apikey_nosession', {
        user_id: 1, ip_address: ip, user_agent: UA, audience: 'svc', subject: '/things', api_version: 1, expires_in: 600, refresh_expires_in: 3600,
      });
      t.equal(issued.status, 201, show(issued));
      const key = issued.body as { apikey: string; key_id: string };
      for (const srv of [a, a, a, b2, b2]) t.equal((await verify(srv, key.apikey, ip)).body.valid, true);
      for (const srv of running.splice(0)) {
        srv.child.kill('SIGTERM');
        t.equal(await srv.exited, 0, 'SIGTERM: buffered usage flushed, pool closed, exit 0');
      }
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const { rows } = await c.query<{ use_count: number; last_used_at: Date | null }>('SELECT use_count, last_used_at FROM api_keys WHERE id = $1', [key.key_id]);
      await c.end();
      t.equal(rows[0]?.use_count, 5, 'three verifies on A and two on B');
      t.ok(rows[0]?.last_used_at instanceof Date, 'last use recorded');
    });
  });
}
