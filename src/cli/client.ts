import { createClient } from '../core/clients.js';
import { isActionName } from '../actions.js';
import { CLI_CLIENT, parseArgs, UsageError, withStore, now, type Command } from './io.js';

export const usage = 'usage: authnzd client add NAME --actions a,b|* | client list | client revoke NAME';

/** `client add|list|revoke`: the callers of the service and the actions each may call. */
const client: Command = async (args, io) => {
  const [sub, ...rest] = args;
  const { positional, options } = parseArgs(rest, ['actions']);
  // Every subcommand takes at most one NAME: anything more is a mistake (a stray word, an
  // unquoted list), not something to ignore.
  if (positional.length > (sub === 'list' ? 0 : 1)) throw new UsageError(`unexpected argument "${positional.at(-1)}" (${usage})`);
  if (sub === 'add') {
    const name = positional[0];
    if (!name || !/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new UsageError(`client add needs a NAME of letters, digits, . _ - (${usage})`);
    const actions = (options.actions ?? '').split(',').map((a) => a.trim()).filter(Boolean);
    if (actions.length === 0) throw new UsageError('client add needs --actions a,b or --actions "*"');
    // A misspelt action would make a client that is refused on every call it was meant for.
    const unknown = actions.filter((a) => a !== '*' && !isActionName(a));
    if (unknown.length > 0) {
      throw new UsageError(`--actions: unknown action${unknown.length > 1 ? 's' : ''} ${unknown.map((a) => `"${a}"`).join(', ')} (see docs/actions.md, or "*" for all)`);
    }
    return withStore(io, async (store) => {
      const existing = (await store.clients.list()).find((c) => c.name === name && c.revokedAt === null);
      if (existing) {
        io.err(`authnzd: a live client named ${name} already exists`);
        return 1;
      }
      const { secret } = await createClient(store, { name, actions, now: now(), by: CLI_CLIENT });
      io.out(`client ${name} created with actions ${actions.join(',')}; its secret is shown once, below:`);
      io.out(secret);
      return 0;
    });
  }
  if (sub === 'list') {
    return withStore(io, async (store) => {
      for (const c of await store.clients.list()) {
        const state = c.revokedAt === null ? 'live' : `revoked ${new Date(c.revokedAt).toISOString()}`;
        io.out(`${c.name}\t${c.actions.join(',')}\t${new Date(c.createdAt).toISOString()}\t${state}`);
      }
      return 0;
    });
  }
  if (sub === 'revoke') {
    const name = positional[0];
    if (!name) throw new UsageError(usage);
    return withStore(io, async (store) => {
      const done = await store.clients.revokeByName(name, now(), { event: 'client_revoke', outcome: 'success', client: CLI_CLIENT, subject: name });
      if (!done) {
        io.err(`authnzd: no live client named ${name}`);
        return 1;
      }
      io.out(`client ${name} revoked (running instances refuse it from their next request; on PostgreSQL once its change notification reaches them, normally within milliseconds)`);
      return 0;
    });
  }
  throw new UsageError(usage);
};
export default client;
