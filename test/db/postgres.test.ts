import net from 'node:net';
import pg from 'pg';
import t from 'tap';
import { CLIENTS_CHANNEL } from '../../src/db/postgres/clients.js';
import { createPostgresStore } from '../../src/db/postgres/index.js';
import type { Store } from '../../src/db/store.js';
import { storeContract } from './contract.js';
import { createTestDatabase, refuseAudit, truncateAll } from './pg.js';

const T0 = Date.UTC(2026, 0, 1);

/*
 * The store contract against a real PostgreSQL server. Each run creates its own database,
 * migrates it through the production path (createPostgresStore) and drops it at the end; between
 * subtests every table is emptied.
 */
const adminUrl = process.env.AUTHNZD_TEST_PG_URL;

if (adminUrl === undefined || adminUrl === '') {
  t.test('PostgreSQL store contract', { skip: 'AUTHNZD_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)' }, () => {});
} else {
  const { url, drop } = await createTestDatabase(adminUrl);
  t.teardown(drop);
  let migrated = false;
  storeContract(t, {
    dialect: 'postgres',
    async fresh(t) {
      const opened: Store[] = [];
      const open = async () => {
        const s = await createPostgresStore(url);
        opened.push(s);
        return s;
      };
      t.teardown(async () => {
        for (const s of opened) await s.close();
      });
      const store = await open();
      if (migrated) await truncateAll(url);
      migrated = true;
      return { store, another: open, refuseAudit: () => refuseAudit(url) };
    },
  });

  t.test('PostgreSQL specifics', async (t) => {
    const a = await createPostgresStore(url);
    const b = await createPostgresStore(url);
    t.teardown(() => b.close());
    t.pass('a second migration run on a migrated database is a no-op');
    await a.close();
    await a.close();
    await t.rejects(a.ping(), 'ping fails once the pool is closed');
    await t.rejects(createPostgresStore(url.replace(/\/[^/]*$/, '/authnzd_no_such_db')), /does not exist/, 'a missing database fails the start');
    await t.rejects(createPostgresStore('postgres://postgres@127.0.0.1:1/x'), 'an unreachable server fails the start');
  });

  t.test('every committed change of the clients table notifies authnzd_clients, nothing else does', async (t) => {
    await truncateAll(url);
    const store = await createPostgresStore(url);
    t.teardown(() => store.close());
    const listener = new pg.Client({ connectionString: url });
    await listener.connect();
    t.teardown(() => listener.end());
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(`${n.channel}:${n.payload ?? ''}`));
    await listener.query(`LISTEN ${CLIENTS_CHANNEL}`);
    const marker = new pg.Client({ connectionString: url });
    await marker.connect();
    t.teardown(() => marker.end());
    let markers = 0;
    /**
     * What `op` notified: notifications arrive in commit order, so once a marker sent after
     * `op` returned has arrived, every notification of `op` has too (bounded wait, no sleep).
     */
    const heardFrom = async (op: () => Promise<unknown>): Promise<string[]> => {
      heard.length = 0;
      await op().catch(() => {});
      const mark = `${CLIENTS_CHANNEL}:marker-${++markers}`;
      await marker.query(`SELECT pg_notify($1, $2)`, [CLIENTS_CHANNEL, mark.slice(CLIENTS_CHANNEL.length + 1)]);
      for (const until = Date.now() + 2000; !heard.includes(mark) && Date.now() < until;) await new Promise((r) => setTimeout(r, 5));
      t.ok(heard.includes(mark), 'the marker arrived');
      return heard.filter((h) => h !== mark);
    };
    const changed = [`${CLIENTS_CHANNEL}:`];
    const create = (id: string, name: string, hash: string, event = 'client_create') =>
      store.clients.create({ id, name, secretHash: hash, actions: ['*'], createdAt: T0 }, { event, outcome: 'success', subject: name });

    t.same(await heardFrom(() => create('cli_n1', 'one', 'h-1')), changed, 'create notifies');
    t.same(await heardFrom(() => store.clients.revokeByName('one', T0 + 1)), changed, 'revoke notifies');
    t.same(await heardFrom(() => store.clients.revokeByName('one', T0 + 2)), [], 'a revoke that changes nothing does not');
    t.same(await heardFrom(() => create('cli_n2', 'two', 'h-1')), [], 'a create refused by a unique constraint does not');
    await refuseAudit(url);
    t.same(await heardFrom(() => create('cli_n3', 'three', 'h-3', 'boom')), [], 'a create rolled back (its audit row failed) does not');
    t.same(await heardFrom(() => store.clients.list()), [], 'reads do not');
    t.same((await store.clients.list()).map((c) => c.name), ['one'], 'nothing of the refused creates was written');
    // The notification comes from the table's triggers: changes made by hand in SQL, outside
    // the store, are announced too.
    const byHand = new pg.Client({ connectionString: url });
    await byHand.connect();
    t.teardown(() => byHand.end());
    t.same(await heardFrom(() => byHand.query("UPDATE clients SET actions = '[\"session_new\"]' WHERE name = 'one'")), changed, 'an UPDATE typed by hand notifies');
    t.same(await heardFrom(() => byHand.query("UPDATE clients SET revoked_at = now() WHERE name = 'nobody'")), [], 'one that changes no row does not');
    t.same(await heardFrom(async () => {
      await byHand.query('BEGIN');
      await byHand.query("DELETE FROM clients WHERE name = 'one'");
      await byHand.query('ROLLBACK');
    }), [], 'a rolled back DELETE does not');
    t.same(await heardFrom(() => byHand.query("DELETE FROM clients WHERE name = 'one'")), changed, 'a committed DELETE does, once for the statement');
    t.same(await heardFrom(() => byHand.query('TRUNCATE clients')), changed, 'TRUNCATE does');
  });

  t.test('ping fails while the server is unreachable, and recovers', async (t) => {
    // The store talks to PostgreSQL through a proxy this test can cut, like a server going down.
    const target = new URL(url);
    const sockets = new Set<net.Socket>();
    let up = true;
    const proxy = net.createServer((client) => {
      if (!up) return client.destroy();
      const server = net.connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, server]) {
        sockets.add(s);
        s.on('error', () => s.destroy());
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(server).pipe(client);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => proxy.close(() => r())));
    const via = new URL(url);
    via.port = String((proxy.address() as net.AddressInfo).port);
    const store = await createPostgresStore(via.toString());
    t.teardown(() => store.close());
    await t.resolves(store.ping());
    up = false;
    for (const s of sockets) s.destroy();
    await t.rejects(store.ping(), 'the server is down');
    await t.rejects(store.users.count(), 'and so is every query');
    up = true;
    await t.resolves(store.ping(), 'back up: the pool reconnects');
  });
}
