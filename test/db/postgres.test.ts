import { randomBytes } from 'node:crypto';
import pg from 'pg';
import t from 'tap';
import { createPostgresStore } from '../../src/db/postgres/index.js';
import type { Store } from '../../src/db/store.js';
import { storeContract } from './contract.js';

/*
 * The store contract against a real PostgreSQL server. Each run creates its own database
 * (authnzd_test_<random>), migrates it through the production path and drops it at the end, so
 * runs never see each other's rows. Between subtests every table is emptied.
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
      return { store, another: open };
    },
  });
}

/** Creates an empty database next to the one in `adminUrl`; `drop` removes it. */
export async function createTestDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `authnzd_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function truncateAll(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const { rows } = await c.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
  await c.query(`TRUNCATE ${rows.map((r) => `"${r.tablename}"`).join(', ')} RESTART IDENTITY CASCADE`);
  await c.end();
}
