import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { CliIo } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { repoRoot } from '../helper.js';

function io(env: Record<string, string> = {}, cwd = repoRoot) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = { env, cwd, out: (l) => out.push(l), err: (l) => err.push(l) };
  return { cli, out, err };
}

const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-policy-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('policy check: the shipped file passes (default: ./permissions.json, or AUTHNZD_PERMISSIONS)', async (t) => {
  const a = io();
  t.equal(await run(['policy', 'check'], a.cli), 0, a.err.join('\n'));
  t.match(a.out.join('\n'), /^ok: .*permissions\.json: 5 roles, 7 items, 7 actions, 4 visibilities \(sha256 [0-9a-f]{64}\)$/);

  const copy = path.join(dir, 'copy.json');
  writeFileSync(copy, readFileSync(path.join(repoRoot, 'permissions.json')));
  const b = io({ AUTHNZD_PERMISSIONS: copy });
  t.equal(await run(['policy', 'check'], b.cli), 0);
  t.match(b.out[0], copy);

  const c = io({}, dir);
  t.equal(await run(['policy', 'check', 'copy.json'], c.cli), 0, 'a relative FILE is resolved against the working directory');
});

t.test('policy check: a file that does not declare the roles the service assigns exits 1 naming them', async (t) => {
  const doc = JSON.parse(readFileSync(path.join(repoRoot, 'permissions.json'), 'utf8'));
  doc.roles = doc.roles.filter((r: string) => r !== 'locked' && r !== 'anonymous');
  delete doc.role_policy.locked;
  delete doc.role_policy.anonymous;
  for (const ip of Object.values(doc.item_policy) as { invalid_roles: string[] }[]) {
    ip.invalid_roles = ip.invalid_roles.filter((r) => r !== 'locked' && r !== 'anonymous');
  }
  const file = path.join(dir, 'no-locked.json');
  writeFileSync(file, JSON.stringify(doc));
  const a = io();
  t.equal(await run(['policy', 'check', file], a.cli), 1, a.out.join('\n'));
  t.same(a.out, []);
  t.match(a.err[0], `authnzd: ${file}: roles: "anonymous" is not declared; the service assigns it`);
  t.match(a.err[1], `authnzd: ${file}: roles: "locked" is not declared; the service assigns it`);
  t.equal(a.err[2], 'authnzd: policy refused (2 problems)');

  const empty = path.join(dir, 'no-roles.json');
  writeFileSync(empty, JSON.stringify({ ...doc, roles: [], role_policy: {}, item_policy: Object.fromEntries(
    Object.entries(doc.item_policy as Record<string, object>).map(([k, v]) => [k, { ...v, invalid_roles: [] }])) }));
  const b = io();
  t.equal(await run(['policy', 'check', empty], b.cli), 1, '"roles": [] is refused');
  t.equal(b.err.at(-1), 'authnzd: policy refused (4 problems)', b.err.join('\n'));
});

t.test('policy check: broken files exit 1 with pointed messages', async (t) => {
  const broken = JSON.parse(readFileSync(path.join(repoRoot, 'permissions.json'), 'utf8'));
  broken.role_policy.staff.can_own_items.push('photo');
  broken.role_policy.staff.limits.max_rows = { type: 'maximum', limit: 1 };
  const file = path.join(dir, 'broken.json');
  writeFileSync(file, JSON.stringify(broken));
  const a = io();
  t.equal(await run(['policy', 'check', file], a.cli), 1);
  t.same(a.out, []);
  t.match(a.err[0], `authnzd: ${file}: role_policy.staff.can_own_items[5]: "photo" is not a declared item`);
  t.match(a.err[1], `authnzd: ${file}: role_policy.staff.limits.max_rows.type: "maximum" is not a declared limit type`);
  t.equal(a.err[2], 'authnzd: policy refused (2 problems)');

  const json = path.join(dir, 'notjson.json');
  writeFileSync(json, '{"roles": ');
  const b = io();
  t.equal(await run(['policy', 'check', json], b.cli), 1);
  t.match(b.err[0], /not valid JSON/);

  const c = io();
  t.equal(await run(['policy', 'check', path.join(dir, 'absent.json')], c.cli), 1);
  t.match(c.err[0], /absent\.json: file not found$/);

  const d = io();
  t.equal(await run(['policy', 'lint'], d.cli), 2, 'unknown subcommand is a usage error');
  t.match(d.err[0], /usage: authnzd policy check/);
});

t.test('policy check --help / -h prints the usage and exits 0; any other option is a usage error', async (t) => {
  for (const args of [['policy', 'check', '--help'], ['policy', 'check', '-h'], ['policy', '--help'], ['policy', '-h'], ['policy', 'check', 'permissions.json', '--help']]) {
    const a = io();
    t.equal(await run(args, a.cli), 0, `${args.join(' ')}: ${a.err.join('\n')}`);
    t.same(a.err, []);
    t.match(a.out, [/^usage: authnzd policy check \[FILE\]/], args.join(' '));
  }
  for (const args of [['policy', 'check', '--verbose'], ['policy', 'check', '-x'], ['policy', 'check', '-'], ['policy', 'check', 'permissions.json', '--strict'], ['policy', 'check', '--file=permissions.json']]) {
    const a = io();
    t.equal(await run(args, a.cli), 2, `${args.join(' ')}: ${a.err.join('\n')}`);
    t.same(a.out, []);
    t.match(a.err, [/^authnzd: usage: authnzd policy check \[FILE\]/], args.join(' '));
  }
});
