import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { actionNames } from '../src/actions.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { repoRoot } from './helper.js';

t.test('defaults match SPEC §1', async (t) => {
  const c = loadConfig({}, '/srv/app');
  t.equal(c.host, '127.0.0.1');
  t.equal(c.port, 13431);
  t.equal(c.dataDir, '/srv/app/data');
  t.equal(c.permissionsPath, '/srv/app/permissions.json');
  t.equal(c.databaseUrl, undefined);
  t.equal(c.logLevel, 'info');
  t.equal(c.rateLimits, undefined);
  t.equal(c.loginMaxFailures, 10);
  t.equal(c.loginLockSeconds, 3600);
  t.equal(c.sqliteSynchronous, 'normal');
});

t.test('every bad setting is named in one line', async (t) => {
  const bad: [Record<string, string>, string][] = [
    [{ AUTHNZD_PORT: 'http' }, 'AUTHNZD_PORT'],
    [{ AUTHNZD_PORT: '70000' }, 'AUTHNZD_PORT'],
    [{ AUTHNZD_LOG_LEVEL: 'loud' }, 'AUTHNZD_LOG_LEVEL'],
    [{ AUTHNZD_SQLITE_SYNCHRONOUS: 'off' }, 'AUTHNZD_SQLITE_SYNCHRONOUS'],
    [{ AUTHNZD_SQLITE_SYNCHRONOUS: 'extra' }, 'AUTHNZD_SQLITE_SYNCHRONOUS'],
    [{ AUTHNZD_DATABASE_URL: 'mysql://x' }, 'AUTHNZD_DATABASE_URL'],
    [{ AUTHNZD_DATABASE_URL: 'not a url' }, 'AUTHNZD_DATABASE_URL'],
    [{ AUTHNZD_REDIS_URL: 'http://x' }, 'AUTHNZD_REDIS_URL'],
    // ioredis reads the path (or ?db=) as the database number: "abc" became SELECT NaN, which
    // crashed the started process with a stack trace instead of this one line.
    [{ AUTHNZD_REDIS_URL: 'redis://127.0.0.1:6379/abc' }, 'AUTHNZD_REDIS_URL'],
    [{ AUTHNZD_REDIS_URL: 'redis://127.0.0.1:6379/1.5' }, 'AUTHNZD_REDIS_URL'],
    [{ AUTHNZD_REDIS_URL: 'redis://127.0.0.1:6379/-1' }, 'AUTHNZD_REDIS_URL'],
    [{ AUTHNZD_REDIS_URL: 'redis://127.0.0.1:6379/0/1' }, 'AUTHNZD_REDIS_URL'],
    [{ AUTHNZD_REDIS_URL: 'rediss://127.0.0.1:6379?db=two' }, 'AUTHNZD_REDIS_URL'],
    [{ AUTHNZD_TLS_CERT: '/nonexistent.pem' }, 'AUTHNZD_TLS_KEY'],
    [{ AUTHNZD_TLS_CERT: '/nonexistent.pem', AUTHNZD_TLS_KEY: '/nonexistent.key' }, 'AUTHNZD_TLS_CERT'],
    [{ AUTHNZD_RATE_LIMITS: '{bad json' }, 'AUTHNZD_RATE_LIMITS'],
    [{ AUTHNZD_RATE_LIMITS: '{"verify_apikey": {"max": 0, "window": 60}}' }, 'AUTHNZD_RATE_LIMITS'],
    [{ AUTHNZD_RATE_LIMITS: '{"verify_apikey": {"max": 10}}' }, 'AUTHNZD_RATE_LIMITS'],
    [{ AUTHNZD_RATE_LIMITS: '{"not_an_action": {"max": 5, "window": 60}}' }, 'AUTHNZD_RATE_LIMITS'],
    // Past these the counters break: Redis refused every hit of the action (PEXPIRE out of range),
    // which sent the whole instance to its in-memory fallback ("Redis unreachable"), and the
    // headers read `retry-after: 1e+300`.
    [{ AUTHNZD_RATE_LIMITS: '{"session_list": {"max": 2, "window": 1e300}}' }, 'AUTHNZD_RATE_LIMITS'],
    [{ AUTHNZD_RATE_LIMITS: '{"session_list": {"max": 2, "window": 315360001}}' }, 'AUTHNZD_RATE_LIMITS'],
    [{ AUTHNZD_RATE_LIMITS: '{"session_list": {"max": 1e300, "window": 60}}' }, 'AUTHNZD_RATE_LIMITS'],
    [{ AUTHNZD_RATE_LIMITS: '{"session_list": {"max": 1000000001, "window": 60}}' }, 'AUTHNZD_RATE_LIMITS'],
    [{ AUTHNZD_BOOTSTRAP_CLIENT_SECRET: 'short' }, 'AUTHNZD_BOOTSTRAP_CLIENT_SECRET'],
    // A client sends its secret as `Authorization: Bearer <secret>`, one token of visible ASCII:
    // a secret with a space, a line break or a non-ASCII character made an admin client no
    // request could authenticate as.
    [{ AUTHNZD_BOOTSTRAP_CLIENT_SECRET: 'correct horse battery staple' }, 'AUTHNZD_BOOTSTRAP_CLIENT_SECRET'],
    [{ AUTHNZD_BOOTSTRAP_CLIENT_SECRET: 'abcdefghijklmnopqrstuvwxyz\n' }, 'AUTHNZD_BOOTSTRAP_CLIENT_SECRET'],
    [{ AUTHNZD_BOOTSTRAP_CLIENT_SECRET: 'abcdefghijklmnopqrstuvwxyzé' }, 'AUTHNZD_BOOTSTRAP_CLIENT_SECRET'],
    [{ AUTHNZD_ADMIN_EMAIL: 'nobody' }, 'AUTHNZD_ADMIN_EMAIL'],
    [{ AUTHNZD_ADMIN_PASSWORD: 'short' }, 'AUTHNZD_ADMIN_PASSWORD'],
    [{ AUTHNZD_KEY_ENCRYPTION_KEY: 'too-short' }, 'AUTHNZD_KEY_ENCRYPTION_KEY'],
    [{ AUTHNZD_LOGIN_MAX_FAILURES: '-1' }, 'AUTHNZD_LOGIN_MAX_FAILURES'],
  ];
  for (const [env, name] of bad) {
    t.throws(() => loadConfig(env), { name: 'ConfigError' }, JSON.stringify(env));
    try {
      loadConfig(env);
    } catch (err) {
      t.ok(err instanceof ConfigError);
      t.match((err as Error).message, new RegExp(`^${name}: `), `${JSON.stringify(env)} names ${name}`);
      t.notMatch((err as Error).message, /\n/, 'one line');
    }
  }
});

t.test('a malformed AUTHNZD_HOST or AUTHNZD_PORT is refused when the configuration is read, naming the setting', async (t) => {
  // Before the fix these passed the parse and failed only at listen, after the database had been
  // created and seeded (getaddrinfo ENOTFOUND, or 1.2.3 taken as 1.2.0.3).
  const badHosts = ['256.0.0.1', '1.2.3', '1.2.3.4.5', '123', '::::', '[::1', '[127.0.0.1]', 'a..b', '-bad-.example', 'bad-.example',
    'not a host!!', 'example.com:80', 'a_b.example', 'x'.repeat(64) + '.example', `${'a.'.repeat(127)}ab`, 'fe80::1%a b'];
  for (const host of badHosts) {
    try {
      loadConfig({ AUTHNZD_HOST: host });
      t.fail(`${JSON.stringify(host)} should be refused`);
    } catch (err) {
      t.ok(err instanceof ConfigError, JSON.stringify(host));
      t.match((err as Error).message, /^AUTHNZD_HOST: [^\n]+$/, `${JSON.stringify(host)}: one line naming AUTHNZD_HOST`);
    }
  }
  for (const port of ['70000', '65536', 'abc', '-1', '1e3', '0x50', '80.5', '80 80']) {
    try {
      loadConfig({ AUTHNZD_PORT: port });
      t.fail(`port ${port} should be refused`);
    } catch (err) {
      t.match((err as Error).message, /^AUTHNZD_PORT: must be an integer from 0 to 65535 \(got "[^"\n]+"\)$/, `port ${port}`);
    }
  }
});

t.test('AUTHNZD_HOST takes IPv4, IPv6 (bare or in brackets) and host names', async (t) => {
  const good: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'], ['0.0.0.0', '0.0.0.0'], ['::', '::'], ['::1', '::1'], ['[::1]', '::1'], ['[::]', '::'],
    ['2001:db8::1', '2001:db8::1'], ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], ['fe80::1%eth0', 'fe80::1%eth0'],
    ['localhost', 'localhost'], ['auth.internal', 'auth.internal'], ['db-1.example.com.', 'db-1.example.com.'], ['3com.example', '3com.example'],
  ];
  for (const [raw, host] of good) t.equal(loadConfig({ AUTHNZD_HOST: raw }).host, host, raw);
  t.equal(loadConfig({ AUTHNZD_PORT: '0' }).port, 0, 'port 0: any free port');
  t.equal(loadConfig({ AUTHNZD_PORT: '65535' }).port, 65535);
});

t.test('a bootstrap client secret of visible ASCII is taken as given', async (t) => {
  const secret = 'A-z0_9.~+/=!#$%&*?@^|' + 'x'.repeat(8);
  t.equal(loadConfig({ AUTHNZD_BOOTSTRAP_CLIENT_SECRET: secret }).bootstrapClientSecret, secret);
});

t.test('secrets are never echoed in configuration errors', async (t) => {
  try {
    loadConfig({ AUTHNZD_BOOTSTRAP_CLIENT_SECRET: 'hunter2' });
    t.fail('should throw');
  } catch (err) {
    t.notMatch((err as Error).message, /hunter2/);
  }
});

t.test('rate limit overrides are parsed, and "off" is accepted', async (t) => {
  t.same(loadConfig({ AUTHNZD_RATE_LIMITS: '{"verify_apikey": {"max": 100000, "window": 60}}' }).rateLimits,
    { verify_apikey: { max: 100000, window: 60 } });
  t.equal(loadConfig({ AUTHNZD_RATE_LIMITS: 'off' }).rateLimits, 'off');
  // The bounds themselves (docs/configuration.md): up to 1,000,000,000 calls, windows up to 10 years.
  t.same(loadConfig({ AUTHNZD_RATE_LIMITS: '{"verify_apikey": {"max": 1000000000, "window": 315360000}}' }).rateLimits,
    { verify_apikey: { max: 1_000_000_000, window: 315_360_000 } });
});

t.test('AUTHNZD_RATE_LIMITS naming an action that does not exist is a configuration error', async (t) => {
  for (const name of ['not_an_action', 'verify_apikeys', '__proto__', 'constructor']) {
    const raw = JSON.stringify({ verify_apikey: { max: 10, window: 60 }, [name]: { max: 5, window: 60 } });
    t.throws(() => loadConfig({ AUTHNZD_RATE_LIMITS: raw }), { name: 'ConfigError' }, name);
    try {
      loadConfig({ AUTHNZD_RATE_LIMITS: raw });
    } catch (err) {
      const message = (err as Error).message;
      t.match(message, /^AUTHNZD_RATE_LIMITS: /, message);
      t.ok(message.includes(`"${name}"`), `names the unknown action: ${message}`);
      t.match(message, /verify_apikey.*policy_get/, `lists the actions: ${message}`);
      t.notMatch(message, /\n/, 'one line');
    }
  }
  // A name holding a line break or an escape sequence is shown escaped: still one line.
  for (const name of ['verify\napikey', 'x\u001b[2Jy']) {
    try {
      loadConfig({ AUTHNZD_RATE_LIMITS: JSON.stringify({ [name]: { max: 5, window: 60 } }) });
      t.fail(`${JSON.stringify(name)} should be refused`);
    } catch (err) {
      const message = (err as Error).message;
      t.match(message, /^AUTHNZD_RATE_LIMITS: /, message);
      t.notMatch(message, /[\n\r\u001b]/, `one line, no control character: ${JSON.stringify(message)}`);
      t.ok(message.includes(JSON.stringify(name)), `names it escaped: ${message}`);
    }
  }
  // Every action of the service can be overridden.
  const all = Object.fromEntries(actionNames.map((a) => [a, { max: 7, window: 60 }]));
  t.same(loadConfig({ AUTHNZD_RATE_LIMITS: JSON.stringify(all) }).rateLimits, all);
});

t.test('unknown AUTHNZD_ settings are reported, test settings are not', async (t) => {
  const c = loadConfig({ AUTHNZD_PROT: '1', AUTHNZD_TEST_PG_URL: 'postgres://x', HOME: '/root' });
  t.same(c.unknownSettings, ['AUTHNZD_PROT']);
});

t.test('AUTHNZD_SQLITE_SYNCHRONOUS takes normal or full, in any case', async (t) => {
  t.equal(loadConfig({ AUTHNZD_SQLITE_SYNCHRONOUS: 'full' }).sqliteSynchronous, 'full');
  t.equal(loadConfig({ AUTHNZD_SQLITE_SYNCHRONOUS: 'FULL' }).sqliteSynchronous, 'full');
  t.equal(loadConfig({ AUTHNZD_SQLITE_SYNCHRONOUS: 'Normal' }).sqliteSynchronous, 'normal');
  t.same(loadConfig({ AUTHNZD_SQLITE_SYNCHRONOUS: 'full' }).unknownSettings, [], 'a known setting');
});

t.test('every setting the configuration reads is documented in docs/configuration.md and in the README', async (t) => {
  const read = (file: string) => readFileSync(path.join(repoRoot, file), 'utf8');
  const source = read('src/config.ts');
  const settings = [...new Set(source.match(/'AUTHNZD_[A-Z0-9_]+[A-Z0-9]'/g)!.map((s) => s.slice(1, -1)))];
  t.ok(settings.length >= 20, `found the settings (${settings.length})`);
  const docs = read('docs/configuration.md');
  const readme = read('README.md');
  for (const s of settings) {
    t.ok(docs.includes(`\`${s}\``), `${s} in docs/configuration.md`);
    t.ok(readme.includes(s), `${s} in README.md`);
  }
});

t.test('AUTHNZD_REDIS_URL takes a database number as its path (or ?db=), or none', async (t) => {
  for (const u of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'redis://127.0.0.1:6379/2', 'rediss://:pw@cache.internal:6380/15', 'redis://127.0.0.1:6379?db=3']) {
    t.equal(loadConfig({ AUTHNZD_REDIS_URL: u }).redisUrl, u, u);
  }
  // The password is never part of the message.
  t.throws(() => loadConfig({ AUTHNZD_REDIS_URL: 'redis://:s3cret-pw@127.0.0.1:6379/x' }), { name: 'ConfigError', message: /\(got "x"\)$/ });
  try {
    loadConfig({ AUTHNZD_REDIS_URL: 'redis://:s3cret-pw@127.0.0.1:6379/x' });
  } catch (err) {
    t.notMatch((err as Error).message, /s3cret-pw/);
  }
});
