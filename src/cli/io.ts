import { loadConfig, ConfigError, type Config } from '../config.js';
import { systemClock } from '../clock.js';
import { openStore } from '../db/open.js';
import type { Store } from '../db/store.js';
import { ensureDataDir } from '../core/bootstrap.js';

/** What a command needs from the process; tests pass their own. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
  out(line: string): void;
  err(line: string): void;
}

/** A CLI command: gets its arguments (after the command word), returns the exit code. */
export type Command = (args: string[], io: CliIo) => Promise<number>;

/** A problem with the command line: printed as one line, exit code 2. */
export class UsageError extends Error {}

export function configFrom(io: CliIo): Config {
  return loadConfig(io.env, io.cwd);
}

/** Opens the configured database (migrated) for one command and closes it afterwards. */
export async function withStore<T>(io: CliIo, fn: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = configFrom(io);
  ensureDataDir(config.dataDir);
  const store = await openStore(config);
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

export const now = () => systemClock.now();

/** The `client` of every audit row the CLI writes (the service writes the calling client's name). */
export const CLI_CLIENT = 'cli';

/** `--name value` / `--name=value` options (each at most once) and positional arguments. */
export function parseArgs(args: string[], flags: string[]): { positional: string[]; options: Record<string, string> } {
  const positional: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!flags.includes(name)) throw new UsageError(`unknown option --${name}`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    // Which of two values was meant is a guess (two --actions lists: the narrower or the
    // wider?); an auth tool does not guess.
    if (Object.hasOwn(options, name)) throw new UsageError(`--${name} given more than once`);
    options[name] = value;
  }
  return { positional, options };
}

export { ConfigError };
