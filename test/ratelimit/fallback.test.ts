import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import t from 'tap';
import { FallbackLimiter, type Connection } from '../../src/ratelimit/fallback.js';
import type { LimitResult, Limiter } from '../../src/ratelimit/limiter.js';
import { MemoryLimiter } from '../../src/ratelimit/memory.js';
import { buildTestApp, show } from '../helper.js';

const redisUrl = process.env.AUTHNZD_TEST_REDIS_URL;
const limits = JSON.stringify({ audit_query: { max: 3, window: 60 } });

t.test('Redis down from the start: the service answers, limits hold per instance, /ready and /metrics say so', async (t) => {
  const h = await buildTestApp(t, { env: { AUTHNZD_REDIS_URL: 'redis://127.0.0.1:1', AUTHNZD_RATE_LIMITS: limits } });
  const codes: number[] = [];
  for (let i = 0; i < 5; i++) codes.push((await h.call('audit_query', {})).statusCode);
  t.same(codes, [200, 200, 200, 429, 429], 'limits still apply, in memory');

  const ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 200, `a Redis outage does not make the service unready: ${show(ready)}`);
  t.match(ready.json().rate_limits, /Redis unreachable/, 'a warning in /ready');
  t.equal(ready.json().parts.rate_limits.ok, true);

  const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
  t.match(metrics.body, /^authnzd_ratelimit_redis_fallback 1$/m);
  const warned = h.logs.filter((l) => l.level === 40 && /Redis unreachable/.test(String(l.msg)));
  t.equal(warned.length, 1, 'the fallback is logged, once');
  t.match(warned[0]?.err, { message: /ECONNREFUSED|^redis connection is \w+$/ }, `the line says why: ${JSON.stringify(warned[0]?.err)}`);
});

t.test('without Redis: memory limits, no warning', async (t) => {
  const h = await buildTestApp(t, { env: { AUTHNZD_RATE_LIMITS: limits } });
  const ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.same(ready.json().parts.rate_limits, { ok: true }, show(ready));
  t.notOk(ready.json().rate_limits);
});

/** A connection whose state the test drives, and a primary limiter that fails on demand. */
class FakeConn implements Connection {
  status = 'ready';
  private listeners = new Map<string, ((...a: unknown[]) => void)[]>();
  on(event: string, fn: (...a: unknown[]) => void) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
    return this;
  }
  emit(event: string, ...args: unknown[]) {
    this.status = event === 'ready' ? 'ready' : 'reconnecting';
    for (const fn of this.listeners.get(event) ?? []) fn(...args);
  }
}

t.test('fallback switches to memory on errors and back when Redis is ready again, logging each switch once', async (t) => {
  const conn = new FakeConn();
  const shared = new MemoryLimiter();
  let broken = false;
  const primary: Limiter = {
    hit: (k, m, w, n): Promise<LimitResult> => (broken ? Promise.reject(new Error('ETIMEDOUT')) : shared.hit(k, m, w, n)),
    peek: (k, m, w, n) => shared.peek(k, m, w, n),
    reset: (k) => shared.reset(k),
  };
  const logs: string[] = [];
  const log = { warn: (_o: object, m: string) => logs.push('warn ' + m), info: (_o: object, m: string) => logs.push('info ' + m) };
  const l = new FallbackLimiter(conn, primary, new MemoryLimiter(), log);

  t.equal((await l.hit('k', 2, 60_000, 0)).remaining, 1, 'primary used');
  t.equal(l.degraded, false);
  conn.emit('error', new Error('ECONNRESET'));
  conn.emit('error', new Error('ECONNREFUSED'));
  t.equal(l.degraded, true);
  t.equal((await l.hit('k', 2, 60_000, 0)).remaining, 1, 'memory counts from scratch while Redis is away');
  conn.emit('ready');
  t.equal(l.degraded, false, 'back on Redis when it is ready again');
  t.equal((await l.hit('k', 2, 60_000, 0)).allowed, true);
  t.equal((await l.hit('k', 2, 60_000, 0)).allowed, false, 'the shared counter continued where it was');

  broken = true;
  t.equal((await l.hit('x', 2, 60_000, 0)).allowed, true, 'a failing command answers from memory');
  t.equal(l.degraded, true);
  t.same(logs, [
    'warn rate limits: Redis unreachable, counting in memory per instance',
    'info rate limits: Redis reachable again, counters shared',
    'warn rate limits: Redis unreachable, counting in memory per instance',
  ]);
});

t.test('a real Redis going away and coming back', { skip: redisUrl ? false : 'AUTHNZD_TEST_REDIS_URL is not set: Redis outage and recovery not tested' }, async (t) => {
  // A TCP proxy in front of the test Redis plays the outage: closing it cuts every connection.
  const target = new URL(redisUrl!);
  const sockets = new Set<net.Socket>();
  const proxy = () => net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  let server = proxy();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const h = await buildTestApp(t, {
    env: { AUTHNZD_REDIS_URL: `redis://127.0.0.1:${port}`, AUTHNZD_RATE_LIMITS: limits },
    rateLimitKeyPrefix: `authnzd-test:${randomBytes(6).toString('hex')}:`,
  });
  t.teardown(() => server.close());
  const metric = async () => /^authnzd_ratelimit_redis_fallback (\d)$/m.exec((await h.app.inject({ url: '/metrics' })).body)?.[1];
  t.equal(await metric(), '0', 'on Redis');
  t.equal((await h.call('audit_query', {})).statusCode, 200);

  await new Promise<void>((r) => {
    server.close(() => r());
    for (const s of sockets) s.destroy();
  });
  t.equal((await h.call('audit_query', {})).statusCode, 200, 'still answering during the outage');
  t.equal(await metric(), '1', 'fallback visible in /metrics');
  t.match((await h.app.inject({ url: '/ready' })).json().rate_limits, /Redis unreachable/);

  server = proxy();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  await new Promise<void>((resolve) => {
    const check = () => (h.logs.some((l) => /Redis reachable again/.test(String(l.msg))) ? resolve() : setTimeout(check, 50));
    check();
  });
  t.equal(await metric(), '0', 'back on Redis');
  t.notOk((await h.app.inject({ url: '/ready' })).json().rate_limits, 'warning gone');
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) codes.push((await h.call('audit_query', {})).statusCode);
  t.same(codes, [200, 200, 429], 'the Redis counter kept its first hit; the outage hit was counted in memory');
});

t.test('a Redis that refuses the URL\'s database number: memory fallback with a warning, nothing written to database 0', { skip: redisUrl ? false : 'AUTHNZD_TEST_REDIS_URL is not set: SELECT refusal not tested' }, async (t) => {
  const base = new URL(redisUrl!);
  base.pathname = '/99'; // Redis has 16 databases unless configured otherwise
  const prefix = `authnzd-test:${randomBytes(6).toString('hex')}:`;
  const h = await buildTestApp(t, { env: { AUTHNZD_REDIS_URL: base.toString(), AUTHNZD_RATE_LIMITS: limits }, rateLimitKeyPrefix: prefix });
  // The refusal arrives just after the connection is ready.
  let ready = await h.app.inject({ method: 'GET', url: '/ready' });
  for (let i = 0; i < 50 && !ready.json().rate_limits; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    ready = await h.app.inject({ method: 'GET', url: '/ready' });
  }
  t.match(ready.json().rate_limits, /database 99/, `/ready says which database was refused: ${show(ready)}`);
  const codes: number[] = [];
  for (let i = 0; i < 5; i++) codes.push((await h.call('audit_query', {})).statusCode);
  t.same(codes, [200, 200, 200, 429, 429], 'limits still apply, in memory');
  ready = await h.app.inject({ method: 'GET', url: '/ready' });
  t.match(ready.json().rate_limits, /database 99/, 'and it stays so: no "reachable again" onto another database');
  const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
  t.match(metrics.body, /^authnzd_ratelimit_redis_fallback 1$/m);

  const switches = h.logs.filter((l) => /rate limits: Redis/.test(String(l.msg))).map((l) => String(l.msg));
  t.same(switches, ['rate limits: Redis unreachable, counting in memory per instance'], 'one switch logged, no "reachable again"');
  const db0 = new Redis(redisUrl!.replace(/\/\d*$/, '') + '/0');
  t.teardown(() => db0.quit());
  t.same(await db0.keys(`${prefix}*`), [], 'no counter landed in database 0');
});
