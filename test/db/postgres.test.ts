import net from 'node:net';
import t from 'tap';
import { createPostgresStore } from '../../src/db/postgres/index.js';
import type { Store } from '../../src/db/store.js';
import { storeContract } from './contract.js';
import { createTestDatabase, refuseAudit, truncateAll } from './pg.js';

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
