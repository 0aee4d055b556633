import fp from 'fastify-plugin';
import { ensureKeyring } from '../core/keyring.js';
import { Keyring } from '../crypto/keyring.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The API-key envelope keys (SPEC §4.1), shared with every instance through the database. */
    keyring: Keyring;
  }
}

/**
 * How often a running instance re-reads the keyring to pick up `keys rotate` by another process
 * (for /ready and retirements; issuing checks the keyring's version first anyway).
 */
const RELOAD_MS = 60_000;

/**
 * The keyring: generated on the first start, loaded (and unsealed with
 * AUTHNZD_KEY_ENCRYPTION_KEY) at every start, re-read every minute, whenever a key names an
 * unknown kid, and before an issue when its version changed (Keyring.reloadIfChanged). /ready
 * reports it.
 */
export default fp(async (app) => {
  const kek = app.config.keyEncryptionKey;
  if (await ensureKeyring(app.store, kek, app.clock.now())) app.log.info({}, 'keyring created');
  const keyring = new Keyring({
    source: () => app.store.keyring.list(), version: () => app.store.keyring.version(), keyEncryptionKey: kek, now: () => app.clock.now(),
  });
  await keyring.reload();
  app.log.info({ kids: keyring.list().filter((k) => k.issuing).map((k) => k.kid), keys: keyring.size }, 'keyring loaded');
  app.decorate('keyring', keyring);

  let lastError: string | undefined;
  const timer = setInterval(() => {
    keyring.reload().then(() => {
      lastError = undefined;
    }, (err: unknown) => {
      lastError = err instanceof Error ? err.message : 'keyring reload failed';
      app.log.error({ err }, 'keyring reload failed');
    });
  }, RELOAD_MS);
  timer.unref();
  app.readiness.add('keyring', () => {
    try {
      keyring.issuing('enc');
      keyring.issuing('sig');
    } catch {
      return { ok: false, error: 'keyring has no issuing keys' };
    }
    return lastError ? { ok: true, warning: `keyring reload failed: ${lastError}` } : { ok: true };
  });
  app.addHook('onClose', async () => clearInterval(timer));
}, { name: 'keyring', dependencies: ['database'] });
