import path from 'node:path';
import type { Config } from '../config.js';
import type { Store } from './store.js';
import { createPostgresStore } from './postgres/index.js';
import { createSqliteStore } from './sqlite/index.js';

/** Opens the configured database, migrated to the committed schema. */
export async function openStore(config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<Store> {
  if (config.databaseUrl !== undefined) return createPostgresStore(config.databaseUrl);
  return createSqliteStore(path.join(config.dataDir, 'authnzd.sqlite'));
}
