import path from 'node:path';
import { PolicyError } from '../policy/schema.js';
import { describeLoadError, loadPolicyFile } from '../policy/watcher.js';
import { configFrom, UsageError, type Command } from './io.js';

export const usage = 'usage: authnzd policy check [FILE] (default: AUTHNZD_PERMISSIONS, else ./permissions.json)';

/**
 * `policy check [FILE]`: validates a permissions file offline, with the same code the service
 * uses on reload. Exit 0 when the service would accept it; 1 with every problem (each naming its
 * path in the file) when it would refuse it; 2 (usage) for anything but one FILE.
 */
const policy: Command = async (args, io) => {
  const [sub, ...rest] = args;
  // No options (--help is answered by main.ts): anything else starting with - is a mistake,
  // not a file name. A file whose name starts with - can be given as ./-name.
  if (sub !== 'check' || rest.length > 1 || rest.some((a) => a.startsWith('-'))) throw new UsageError(usage);
  const file = rest[0];
  const target = file !== undefined ? path.resolve(io.cwd, file) : configFrom(io).permissionsPath;
  try {
    const loaded = loadPolicyFile(target, Date.now());
    const d = loaded.policy.document;
    io.out(`ok: ${target}: ${d.roles.length} roles, ${d.items.length} items, ${d.actions.length} actions, ` +
      `${d.visibilities.length} visibilities (sha256 ${loaded.sha256})`);
    return 0;
  } catch (err) {
    const problems = err instanceof PolicyError ? err.problems : [describeLoadError(err)];
    for (const p of problems) io.err(`authnzd: ${target}: ${p}`);
    io.err(`authnzd: policy refused (${problems.length} problem${problems.length === 1 ? '' : 's'})`);
    return 1;
  }
};

export default policy;
