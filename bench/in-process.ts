import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { Api, signUp } from './seed.js';

/**
 * The real app in this process, for the in-process diagnosis tools (bench/verify-path.ts,
 * bench/issue-path.ts): a temporary SQLite data dir, rate limits off, listening on a free port,
 * and an owner signed up through its API. `close()` stops it and removes the data dir.
 */
export async function inProcessApp(name: string) {
  const secret = `${name}-bench-secret-0123456789abcdef`;
  const dataDir = mkdtempSync(path.join(tmpdir(), `authnzd-${name}-`));
  const config = loadConfig({
    AUTHNZD_DATA_DIR: dataDir, AUTHNZD_BOOTSTRAP_CLIENT_SECRET: secret, AUTHNZD_ADMIN_EMAIL: `root@${name}.example.test`,
    AUTHNZD_ADMIN_PASSWORD: 'In-Process-Quartz-Lantern-73', AUTHNZD_PII_SALT: `${name}-pii-salt-0123`, AUTHNZD_RATE_LIMITS: 'off',
    AUTHNZD_LOG_LEVEL: 'warn', AUTHNZD_PERMISSIONS: path.resolve(import.meta.dirname, '../permissions.json'),
  }, path.resolve(import.meta.dirname, '..'));
  const app = await buildApp(config);
  const api = new Api(await app.listen({ host: '127.0.0.1', port: 0 }), secret);
  const owner = await signUp(api, `owner@${name}.example.test`);
  return {
    app, api, owner,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
