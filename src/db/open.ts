import path from 'node:path';
import type { Config } from '../config.js';
import type { Store } from './store.js';
import { createPostgresStore } from './postgres/index.js';
import { createSqliteStore } from './sqlite/index.js';
import { firstLine, maskUrl, scrub } from './mask.js';

/**
 * Opens the configured database, migrated to the committed schema. A failure is rethrown as one
 * line naming the setting behind it (AUTHNZD_DATABASE_URL with its password masked, or
 * AUTHNZD_DATA_DIR with the SQLite file's path), so start-up and CLI errors say what to fix.
 */
export async function openStore(
  config: Pick<Config, 'databaseUrl' | 'dataDir'> & Partial<Pick<Config, 'sqliteSynchronous'>>,
): Promise<Store> {
  if (config.databaseUrl !== undefined) {
    try {
      return await createPostgresStore(config.databaseUrl);
    } catch (err) {
      const { shown, secrets } = maskUrl(config.databaseUrl);
      throw new Error(`AUTHNZD_DATABASE_URL (${shown}): cannot open the database: ${scrub(firstLine(err), secrets)}`, { cause: err });
    }
  }
  const file = path.join(config.dataDir, 'authnzd.sqlite');
  try {
    return createSqliteStore(file, { synchronous: config.sqliteSynchronous });
  } catch (err) {
    throw new Error(`AUTHNZD_DATA_DIR: cannot open the database ${file}: ${firstLine(err)}`, { cause: err });
  }
}
