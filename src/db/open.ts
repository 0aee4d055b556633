import path from 'node:path';
import type { Config } from '../config.js';
import type { Store } from './store.js';
import { createPostgresStore } from './postgres/index.js';
import { createSqliteStore } from './sqlite/index.js';

/**
 * Opens the configured database, migrated to the committed schema. A failure is rethrown as one
 * line naming the setting behind it (AUTHNZD_DATABASE_URL with its password masked, or
 * AUTHNZD_DATA_DIR with the SQLite file's path), so start-up and CLI errors say what to fix.
 */
export async function openStore(config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<Store> {
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
    return createSqliteStore(file);
  } catch (err) {
    throw new Error(`AUTHNZD_DATA_DIR: cannot open the database ${file}: ${firstLine(err)}`, { cause: err });
  }
}

/**
 * The URL with its password, and any query parameter whose name says password, secret or key,
 * replaced by ****; `secrets` are the hidden values, scrubbed from driver messages too.
 */
export function maskUrl(raw: string): { shown: string; secrets: string[] } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { shown: '(not a valid URL)', secrets: [raw] };
  }
  const secrets: string[] = [];
  if (url.password) {
    secrets.push(url.password, decoded(url.password));
    url.password = '****';
  }
  for (const [name, value] of [...url.searchParams]) {
    if (/pass|secret|key/i.test(name) && value) {
      secrets.push(value);
      url.searchParams.set(name, '****');
    }
  }
  return { shown: url.toString(), secrets };
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function scrub(text: string, secrets: string[]): string {
  return secrets.filter((s) => s.length > 0).reduce((t, s) => t.split(s).join('****'), text);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
