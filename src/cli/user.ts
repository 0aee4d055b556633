import { ANONYMOUS_USER_ID } from '../core/bootstrap.js';
import { LOCKED_ROLE } from '../core/user-admin.js';
import { addUserDirectly } from '../core/users.js';
import { normaliseEmail } from '../core/email.js';
import { newToken } from '../core/tokens.js';
import { ApiError } from '../errors.js';
import { loadConfiguredPolicy } from '../policy/watcher.js';
import { CLI_CLIENT, configFrom, now, parseArgs, UsageError, withStore, type Command } from './io.js';

export const usage = 'usage: authnzd user add EMAIL [--name NAME] [--role ROLE] [--password-env VAR] | user lock EMAIL | user unlock EMAIL';
const cli = { client: CLI_CLIENT };

/**
 * `user add|lock|unlock`: operator access to accounts. `add` creates an active, verified user;
 * without --password-env a strong password is generated and printed alone on the last line
 * (passwords on the command line would show in `ps` and shell history).
 */
const user: Command = async (args, io) => {
  const [sub, ...rest] = args;
  const { positional, options } = parseArgs(rest, ['name', 'role', 'password-env']);
  const email = positional[0];
  if (!email) throw new UsageError(usage);
  // One EMAIL per command: a second word (an unquoted list) is a mistake, not something to ignore.
  if (positional.length > 1) throw new UsageError(`unexpected argument "${positional[1]}" (${usage})`);
  if (sub === 'add') {
    const role = options.role ?? 'authenticated';
    const config = configFrom(io);
    const roles = loadConfiguredPolicy(config.permissionsPath, now()).policy.roles;
    if (!roles.has(role) || role === LOCKED_ROLE || role === 'anonymous') {
      throw new UsageError(`--role must be a role of ${config.permissionsPath} other than locked and anonymous (got "${role}")`);
    }
    const fromEnv = options['password-env'];
    if (fromEnv !== undefined && !io.env[fromEnv]) throw new UsageError(`--password-env ${fromEnv}: that variable is not set`);
    const password = fromEnv !== undefined ? io.env[fromEnv]! : newToken();
    return withStore(io, async (store) => {
      try {
        const created = await addUserDirectly(store, now(), { email, password, fullName: options.name ?? null, role }, cli);
        io.out(`user ${created.email} created with id ${created.id} and role ${created.role}`);
        if (fromEnv === undefined) {
          io.out('its generated password is shown once, below:');
          io.out(password);
        }
        return 0;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        const rules = (err.details ?? []).map((d) => (d as { message?: string }).message).filter(Boolean);
        io.err(`authnzd: ${err.message}${rules.length ? ` (${rules.join('; ')})` : ''}`);
        return 1;
      }
    });
  }
  if (sub === 'lock' || sub === 'unlock') {
    const locked = sub === 'lock';
    return withStore(io, async (store) => {
      const target = await store.users.getByEmail(normaliseEmail(email));
      if (!target) {
        io.err(`authnzd: no user with email ${normaliseEmail(email)}`);
        return 1;
      }
      if (target.id === ANONYMOUS_USER_ID) {
        io.err('authnzd: the anonymous user cannot be locked (every visitor session depends on it)');
        return 1;
      }
      const after = await store.users.setAdminLock(target.id, locked, LOCKED_ROLE, now(), {
        ...cli, event: locked ? 'user_lock' : 'user_unlock', outcome: 'success', targetUserId: target.id,
      });
      io.out(locked
        ? `user ${target.email} locked (sessions and API keys revoked)`
        : `user ${target.email} unlocked (role ${after?.role ?? target.role})`);
      return 0;
    });
  }
  throw new UsageError(usage);
};
export default user;
