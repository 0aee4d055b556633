import { rotateKeyring } from '../core/keyring.js';
import { SIGNING_ALGS, type SigningAlg } from '../crypto/keyring.js';
import { CLI_CLIENT, parseArgs, UsageError, withStore, now, type Command } from './io.js';

export const usage = 'usage: authnzd keys list | keys rotate [--alg HS256|ES256|EdDSA]';

/**
 * `keys list|rotate`: the API-key keyring in the shared database. Rotation adds keys that issue
 * from then on; older keys keep verifying. Running instances issue with the new keys from their
 * next issue on (Keyring.reloadIfChanged), and verify keys signed with them at once.
 */
const keys: Command = async (args, io) => {
  const [sub, ...rest] = args;
  const { positional, options } = parseArgs(rest, ['alg']);
  // `keys list|rotate` take no NAME: a stray word is a mistake, not something to ignore.
  if (positional.length > 0) throw new UsageError(`unexpected argument "${positional[0]}" (${usage})`);
  if (sub === 'list') {
    return withStore(io, async (store) => {
      io.out('kid\tuse\talg\tcreated\tstate\tsealed');
      for (const k of await store.keyring.list()) {
        const state = k.retiredAt === null ? 'issuing' : `retired ${new Date(k.retiredAt).toISOString()} (verifies)`;
        io.out(`${k.kid}\t${k.use}\t${k.alg}\t${new Date(k.createdAt).toISOString()}\t${state}\t${k.sealed ? 'sealed' : 'plain'}`);
      }
      return 0;
    });
  }
  if (sub === 'rotate') {
    const alg = options.alg as SigningAlg | undefined;
    if (alg !== undefined && !SIGNING_ALGS.includes(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGS.join(', ')}`);
    return withStore(io, async (store, config) => {
      const kids = await rotateKeyring(store, config.keyEncryptionKey, now(), alg, CLI_CLIENT);
      io.out(`keyring rotated: new keys ${kids.join(', ')} issue from now on; older keys keep verifying`);
      return 0;
    });
  }
  throw new UsageError(usage);
};
export default keys;
