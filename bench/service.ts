import path from 'node:path';
import { freePort, startPinned, stop, waitHttp, type Proc } from './proc.js';
import { Api } from './seed.js';
import { benchDir, progress } from './scenarios.js';

/** The built service and the baseline app as pinned child processes. */

export const repoRoot = path.resolve(benchDir, '..');
/** Extra node flags for every service start of a run, for experiments: AUTHNZD_BENCH_NODE_ARGS="--max-semi-space-size=32". */
const benchNodeArgs = (process.env.AUTHNZD_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

export const ADMIN_SECRET = 'bench-admin-client-secret-0123456789abcdef';
export const ADMIN_EMAIL = 'root@bench.example.test';
export const ADMIN_PASSWORD = 'Bench-Root-Walnut-Harbor-58';

export interface Service {
  proc: Proc;
  url: string;
  api: Api;
  dataDir: string;
}

/**
 * `node dist/src/server.js` (built by `npm run build`) on `dataDir`, pinned to `cpu`, with client
 * rate limits off and warn-level logs. Ready when /ready answers 200.
 */
export async function startService(opts: {
  dataDir: string;
  cpu: number | null;
  log: string;
  env?: Record<string, string>;
  /** Extra node flags (bench/profile.ts: `--cpu-prof`, which NODE_OPTIONS does not allow). */
  nodeArgs?: string[];
}): Promise<Service> {
  const port = await freePort();
  const proc = startPinned('authnzd', opts.cpu, [process.execPath, ...benchNodeArgs, ...(opts.nodeArgs ?? []), path.join(repoRoot, 'dist/src/server.js')], {
    cwd: repoRoot,
    log: opts.log,
    env: {
      AUTHNZD_HOST: '127.0.0.1',
      AUTHNZD_PORT: String(port),
      AUTHNZD_DATA_DIR: opts.dataDir,
      AUTHNZD_PERMISSIONS: path.join(repoRoot, 'permissions.json'),
      AUTHNZD_BOOTSTRAP_CLIENT_SECRET: ADMIN_SECRET,
      AUTHNZD_ADMIN_EMAIL: ADMIN_EMAIL,
      AUTHNZD_ADMIN_PASSWORD: ADMIN_PASSWORD,
      AUTHNZD_PII_SALT: 'bench-pii-salt-0123456789',
      AUTHNZD_RATE_LIMITS: 'off',
      AUTHNZD_LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      ...opts.env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(proc, `${url}/ready`, 60_000);
  return { proc, url, api: new Api(url, ADMIN_SECRET), dataDir: opts.dataDir };
}

export async function stopService(svc: Service): Promise<void> {
  const code = await stop(svc.proc);
  if (code !== 0) progress(`authnzd exited with ${code} on SIGTERM (see ${svc.proc.log})`);
}

/** bench/baseline.ts on `cpu`, same loader as the bench itself. */
export async function startBaseline(log: string, cpu = 0): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  const proc = startPinned('baseline', cpu, [process.execPath, '--import', 'tsx', path.join(benchDir, 'baseline.ts')], {
    cwd: repoRoot, log, env: { BASELINE_PORT: String(port), NODE_ENV: 'production' },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(proc, `${url}/health`);
  return { proc, url };
}
