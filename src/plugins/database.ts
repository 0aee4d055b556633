import fp from 'fastify-plugin';
import type { Store } from '../db/store.js';
import { openStore } from '../db/open.js';
import { ensureDataDir, seedDatabase } from '../core/bootstrap.js';

declare module 'fastify' {
  interface FastifyInstance {
    store: Store;
  }
}

/**
 * The database: opened and migrated at start, seeded on first run (superuser, anonymous user,
 * admin client), pinged by /ready, closed last on shutdown.
 */
export default fp(async (app, opts: { store?: Store }) => {
  const { config } = app;
  ensureDataDir(config.dataDir);
  const store = opts.store ?? (await openStore(config));
  const { wrote } = await seedDatabase(store, config, app.clock.now());
  for (const file of wrote) app.log.info({ file }, 'generated secret written (read it from this file)');
  app.decorate('store', store);
  app.readiness.add('database', async () => {
    try {
      await store.ping();
      return { ok: true };
    } catch {
      return { ok: false, error: 'database does not answer' };
    }
  });
  app.addHook('onClose', async () => {
    await store.close();
  });
}, { name: 'database', dependencies: ['base'] });
