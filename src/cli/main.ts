import { existsSync } from 'node:fs';
import path from 'node:path';
import { serve } from '../server.js';
import { ensureDataDir, resolvePiiSalt, seedDatabase } from '../core/bootstrap.js';
import { ensureKeyring } from '../core/keyring.js';
import { openStore } from '../db/open.js';
import { loadConfiguredPolicy } from '../policy/watcher.js';
import client, { usage as clientUsage } from './client.js';
import user, { usage as userUsage } from './user.js';
import keys, { usage as keysUsage } from './keys.js';
import policy, { usage as policyUsage } from './policy.js';
import { ConfigError, configFrom, now, UsageError, withStore, type CliIo, type Command } from './io.js';

const help = `authnzd — auth decisions over HTTP

usage: authnzd <command> [arguments]

  serve                              start the service (same as npm start)
  init                               create the data dir, database, keyring, superuser and admin client, then exit
  migrate                            apply the committed database migrations, then exit
  client add NAME --actions a,b|*    add a client; prints its secret alone on the last line
  client list                        list clients and their actions
  client revoke NAME                 revoke a client
  user add EMAIL [--name N] [--role R] [--password-env VAR]
                                     add an active user; prints a generated password on the last line
  user lock EMAIL | user unlock EMAIL  admin lock (revokes sessions and keys) / unlock (restores the role)
  keys list                          list the API-key keyring (kids, state; never the material)
  keys rotate [--alg HS256|ES256|EdDSA]  add new issuing keys; older keys keep verifying
  policy check [FILE]                validate a permissions file (default AUTHNZD_PERMISSIONS) without starting

Settings come from the same AUTHNZD_* environment variables as the service.
authnzd <command> --help (or -h) prints that command's usage.`;

/** serve, init and migrate take no arguments: a stray one is refused, not ignored. */
function noArguments(command: string, args: string[]): void {
  if (args.length > 0) throw new UsageError(`${command} takes no arguments (got "${args[0]}"; settings come from AUTHNZD_*)`);
}

/** Every command, by name. Each module owns one noun. */
const commands = {
  serve: async (args, io) => {
    noArguments('serve', args);
    await serve(io.env);
    return -1; // keeps running; the process exits on a signal
  },
  init: async (args, io) => {
    noArguments('init', args);
    const config = configFrom(io);
    // As `serve` does: an unusable policy is refused before the data dir is touched (a data dir
    // initialised for a policy the service will not start with is no use).
    loadConfiguredPolicy(config.permissionsPath, now());
    ensureDataDir(config.dataDir);
    // The PII salt too, as serve makes it: instances started on this data dir share it.
    const saltFile = path.join(config.dataDir, 'pii.salt');
    const newSalt = config.piiSalt === undefined && !existsSync(saltFile);
    resolvePiiSalt(config);
    const store = await openStore(config);
    try {
      const { wrote } = await seedDatabase(store, config, now());
      // The keyring too, as serve makes it (sealed with AUTHNZD_KEY_ENCRYPTION_KEY when set).
      const keyringCreated = await ensureKeyring(store, config.keyEncryptionKey, now());
      io.out(`initialised ${config.dataDir}`);
      if (keyringCreated) io.out('keyring created');
      for (const file of newSalt ? [saltFile, ...wrote] : wrote) io.out(`generated secret written to ${file}`);
    } finally {
      await store.close();
    }
    return 0;
  },
  // Not the policy: migrate only brings the database schema up to date, which does not depend on
  // it (a deploy job may run it where the policy file is not mounted); serve checks the policy.
  migrate: async (args, io) => {
    noArguments('migrate', args);
    return withStore(io, async (_store, config) => {
      io.out(`database migrated (${config.databaseUrl ? 'postgres' : 'sqlite'})`);
      return 0;
    });
  },
  client,
  user,
  keys,
  policy,
} satisfies Record<string, Command>;
type CommandName = keyof typeof commands;
const isCommand = (name: string): name is CommandName => Object.hasOwn(commands, name);

/** What `authnzd <command> --help` prints, by command. */
const usages: Record<CommandName, string> = {
  serve: 'usage: authnzd serve (start the service; settings from AUTHNZD_*)',
  init: 'usage: authnzd init (create the data dir, database, keyring, superuser and admin client, then exit)',
  migrate: 'usage: authnzd migrate (apply the committed database migrations, then exit)',
  client: clientUsage,
  user: userUsage,
  keys: keysUsage,
  policy: policyUsage,
};

/** `--help` / `-h` anywhere after the command: its usage, and nothing is run (exit 0). */
const asksForHelp = (args: string[]) => args.some((a) => a === '--help' || a === '-h');

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.out(help);
    return name === undefined ? 2 : 0;
  }
  if (!isCommand(name)) {
    io.err(`authnzd: unknown command "${name}" (try authnzd help)`);
    return 2;
  }
  if (asksForHelp(args)) {
    io.out(usages[name]);
    return 0;
  }
  try {
    return await commands[name](args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`authnzd: ${err.message}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.err(`authnzd: invalid configuration: ${err.message}`);
      return 2;
    }
    io.err(`authnzd: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    return 1;
  }
}

export const processIo: CliIo = {
  env: process.env,
  cwd: process.cwd(),
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};
