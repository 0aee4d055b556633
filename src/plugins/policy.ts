import fp from 'fastify-plugin';
import { loadConfiguredPolicy, PolicyWatcher, type LoadedPolicy, type ReloadResult } from '../policy/watcher.js';

export interface PolicyService {
  /** The policy in force. Read it once per decision: a reload swaps the whole object. */
  current(): LoadedPolicy;
  /** Why the file on disk was refused (the last good policy stays in force); undefined when fine. */
  lastError(): string | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    policy: PolicyService;
  }
}

/**
 * permissions.json (SPEC §5): loaded at start (an unusable file stops the start, naming
 * AUTHNZD_PERMISSIONS), then watched. Every reload attempt is logged and audited
 * (`policy_reload`); a refused file shows as a `policy` warning in /ready.
 *
 * Registered before the database (app.ts), so that a bad file stops the start before anything
 * is written to the data dir. The watcher is built now (a change made while the rest of the app
 * starts is caught by its first poll) but started once the app is ready: its audit rows need the
 * store.
 */
export default fp(async (app) => {
  const file = app.config.permissionsPath;
  const initial = loadConfiguredPolicy(file, app.clock.now());
  app.log.info({ source: initial.source, sha256: initial.sha256 }, 'policy loaded');

  const onReload = (r: ReloadResult) => {
    if (r.ok) app.log.info({ source: file, sha256: r.sha256, previous_sha256: r.previousSha256 }, 'policy reloaded');
    else app.log.error({ source: file, error: r.error }, 'policy file refused; the last good policy stays in force');
    const details = r.ok ? { sha256: r.sha256, previous_sha256: r.previousSha256 } : { sha256: r.sha256, error: r.error };
    app.store.audit.append({ event: 'policy_reload', outcome: r.ok ? 'success' : 'failure', subject: file, details }, app.clock.now())
      .catch((err: unknown) => app.log.error({ err }, 'could not write the policy_reload audit row'));
  };
  const watcher = new PolicyWatcher(initial, { file, now: () => app.clock.now(), onReload });
  app.addHook('onReady', async () => watcher.start());

  app.decorate('policy', { current: () => watcher.current(), lastError: () => watcher.lastError() } satisfies PolicyService);
  app.readiness.add('policy', () => {
    const error = watcher.lastError();
    return error ? { ok: true, warning: `policy file refused, last good policy in force: ${error}` } : { ok: true };
  });
  app.addHook('onClose', async () => watcher.stop());
}, { name: 'policy', dependencies: ['base'] });

export type { LoadedPolicy } from '../policy/watcher.js';
