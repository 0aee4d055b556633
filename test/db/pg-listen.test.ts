import net from 'node:net';
import pg from 'pg';
import t, { type Test } from 'tap';
import { CLIENTS_CHANNEL } from '../../src/db/postgres/clients.js';
import { PgListener } from '../../src/db/postgres/listen.js';
import { createTestDatabase } from './pg.js';

/*
 * The LISTEN connection behind the PostgreSQL client watch (src/db/postgres/listen.ts), through a
 * TCP proxy the test controls: it can refuse connections (a server down) or swallow every byte
 * without closing anything (a network path that died silently: no FIN, no RST).
 */
const adminUrl = process.env.AUTHNZD_TEST_PG_URL;
const skip = adminUrl ? false : 'AUTHNZD_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test): LISTEN connection not tested';

const FAST = { heartbeatMs: 100, timeoutMs: 200, minBackoffMs: 20, maxBackoffMs: 100 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, boundMs = 3000): Promise<boolean> {
  for (const end = Date.now() + boundMs; !what() && Date.now() < end;) await sleep(5);
  return what();
}

type Mode = 'pass' | 'refuse' | 'blackhole';

async function proxy(t: Test, target: string) {
  const to = new URL(target);
  const sockets = new Set<net.Socket>();
  const state = { mode: 'pass' as Mode, accepted: 0, open: 0 };
  // allowHalfOpen: a black hole also swallows the client's FIN (its goodbye is never answered).
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    state.accepted++;
    if (state.mode === 'refuse') return client.destroy();
    state.open++;
    let gone = false;
    const letGo = () => {
      if (!gone) state.open--;
      gone = true;
    };
    client.on('end', letGo); // the connecting side let go (its FIN, or a reset)
    client.on('error', letGo);
    const upstream = net.connect(Number(to.port || 5432), to.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    // Forwarded byte by byte unless black-holed: then nothing gets through and nothing closes.
    client.on('data', (d) => state.mode === 'pass' && upstream.write(d));
    upstream.on('data', (d) => state.mode === 'pass' && client.write(d));
    client.on('end', () => state.mode === 'pass' && upstream.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const via = new URL(target);
  via.port = String((server.address() as net.AddressInfo).port);
  via.password = 'pw-not-to-be-logged';
  return { url: via.toString(), state };
}

function recorder() {
  const rec = { changes: 0, states: [] as ({ live: true } | { live: false; reason: string })[] };
  return { rec, events: { onChange: () => void rec.changes++, onState: (s: (typeof rec.states)[number]) => void rec.states.push(s) } };
}

async function setup(t: Test) {
  const db = await createTestDatabase(adminUrl!);
  t.teardown(() => db.drop());
  const p = await proxy(t, db.url);
  const notifier = new pg.Client({ connectionString: db.url });
  await notifier.connect();
  t.teardown(() => notifier.end());
  const notify = () => notifier.query(`SELECT pg_notify('${CLIENTS_CHANNEL}', '')`);
  return { db, p, notify };
}

t.test('listens, reports each notification, and one change on connect', { skip }, async (t) => {
  const { p, notify } = await setup(t);
  const { rec, events } = recorder();
  const l = new PgListener(p.url, CLIENTS_CHANNEL, events, FAST);
  t.teardown(() => l.close());
  await l.start();
  t.equal(l.live, true);
  t.same(rec.states, [{ live: true }]);
  t.equal(rec.changes, 1, 'connecting counts as a change (what happened before it was not heard)');
  await notify();
  await notify();
  t.ok(await until(() => rec.changes === 3), 'each notification is reported');
});

t.test('a silently dead path: the heartbeat notices, the listener reconnects and reports a change', { skip }, async (t) => {
  const { p, notify } = await setup(t);
  const { rec, events } = recorder();
  const l = new PgListener(p.url, CLIENTS_CHANNEL, events, FAST);
  t.teardown(() => l.close());
  await l.start();
  p.state.mode = 'blackhole';
  const lostAt = Date.now();
  t.ok(await until(() => !l.live), 'not live once a heartbeat goes unanswered');
  t.ok(Date.now() - lostAt <= FAST.heartbeatMs + FAST.timeoutMs + 200, 'within heartbeat + timeout');
  t.match(rec.states.at(-1), { live: false, reason: /heartbeat/ });
  await sleep(1000); // attempts into the black hole time out, and are retried
  t.equal(rec.states.filter((s) => !s.live).length, 1, 'one report per outage, not per attempt');
  t.ok(p.state.accepted > 2, 'it kept trying');
  const changes = rec.changes;
  p.state.mode = 'pass';
  t.ok(await until(() => l.live), 'back once the path is');
  t.equal(rec.changes, changes + 1, 'reconnecting reports a change');
  await notify();
  t.ok(await until(() => rec.changes === changes + 2), 'and notifications arrive again');
  t.notMatch(JSON.stringify(rec.states), /pw-not-to-be-logged/, 'no password in the reasons');
});

t.test('a server that refuses: retried with backoff; the first attempt failing does not throw', { skip }, async (t) => {
  const { p } = await setup(t);
  p.state.mode = 'refuse';
  const { rec, events } = recorder();
  const l = new PgListener(p.url, CLIENTS_CHANNEL, events, FAST);
  t.teardown(() => l.close());
  await t.resolves(l.start(), 'start resolves');
  t.equal(l.live, false);
  t.match(rec.states, [{ live: false }]);
  t.notMatch(rec.states[0]!.live === false ? rec.states[0]!.reason : '', /pw-not-to-be-logged|postgres:\/\//);
  t.equal(rec.changes, 0);
  p.state.mode = 'pass';
  t.ok(await until(() => l.live), 'connects once the server accepts');
  t.equal(rec.changes, 1);
});

t.test('close: bounded on a dead path, and nothing runs after it', { skip }, async (t) => {
  const { p } = await setup(t);
  const { events } = recorder();
  const l = new PgListener(p.url, CLIENTS_CHANNEL, { ...events }, { ...FAST, heartbeatMs: 60_000 });
  await l.start();
  p.state.mode = 'blackhole'; // the goodbye will never be acknowledged
  const started = Date.now();
  await l.close();
  t.ok(Date.now() - started < 2000, `close took ${Date.now() - started} ms`);
  t.equal(l.live, false);
  t.ok(await until(() => p.state.open === 0), 'it let go of its connection');
  const accepted = p.state.accepted;
  await sleep(300);
  t.equal(p.state.accepted, accepted, 'no reconnection after close');

  p.state.mode = 'refuse';
  const { rec, events: e2 } = recorder();
  const down = new PgListener(p.url, CLIENTS_CHANNEL, e2, FAST);
  await down.start();
  await down.close();
  const n = p.state.accepted;
  await sleep(300);
  t.equal(p.state.accepted, n, 'a listener closed while reconnecting stops trying');
  t.equal(rec.states.length, 1);
});
