import { readFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { checkLimit, evaluateAccess, roleLimit } from '../../src/policy/evaluate.js';
import { LOCKED_ROLE } from '../../src/core/user-admin.js';
import { parsePolicy, parsePolicyText, PolicyError, REQUIRED_ROLES } from '../../src/policy/schema.js';
import { repoRoot } from '../helper.js';

type Doc = Record<string, any>;
const shippedText = readFileSync(path.join(repoRoot, 'permissions.json'), 'utf8');
const shipped = (): Doc => JSON.parse(shippedText) as Doc;

/** The problems reported for a document changed by `edit` (fails the test when it is accepted). */
function problemsOf(t: Test, edit: (d: Doc) => void): string[] {
  const doc = shipped();
  edit(doc);
  try {
    parsePolicy(doc);
  } catch (err) {
    t.type(err, PolicyError);
    return [...(err as PolicyError).problems];
  }
  t.fail('the edited policy was accepted');
  return [];
}

t.test('the shipped file and authnzerver\'s file (without the optional authnzd fields) load', async (t) => {
  t.ok(parsePolicyText(shippedText));
  const doc = shipped();
  delete doc.visibility_access;
  for (const rp of Object.values(doc.role_policy) as Doc[]) delete rp.bypass_visibility;
  t.ok(parsePolicy(doc));
});

t.test('refusals name the path in the file', async (t) => {
  const cases: [string, (d: Doc) => void, RegExp][] = [
    ['unknown top-level key', (d) => { d.rolez = []; }, /^rolez: unknown key "rolez"$/],
    ['unknown nested key', (d) => { d.item_policy.apikey.valid_actions = []; }, /^item_policy\.apikey\.valid_actions: unknown key/],
    ['unknown key in a role', (d) => { d.role_policy.staff.can_own = []; }, /^role_policy\.staff\.can_own: unknown key/],
    ['missing key', (d) => { delete d.role_policy.staff.limits; }, /^role_policy\.staff\.limits: missing$/],
    ['wrong type', (d) => { d.roles = 'superuser'; }, /^roles: must be array$/],
    ['wrong element type', (d) => { d.actions[2] = 7; }, /^actions\[2\]: must be string$/],
    ['bad limit operator', (d) => { d.limits.max.operator = 'le'; }, /^limits\.max\.operator: must be one of \["lt","gt"\]$/],
    ['role used but not declared (invalid_roles)', (d) => { d.item_policy.user.invalid_roles.push('admin'); },
      /^item_policy\.user\.invalid_roles\[3\]: "admin" is not a declared role/],
    ['role policy for an undeclared role', (d) => { d.role_policy.admin = structuredClone(d.role_policy.staff); },
      /^role_policy\.admin: "admin" is not a declared role/],
    ['declared role without a policy', (d) => { d.roles.push('auditor'); }, /^role_policy\.auditor: missing/],
    ['item used but not declared', (d) => { d.role_policy.anonymous.can_own_items.push('photo'); },
      /^role_policy\.anonymous\.can_own_items\[1\]: "photo" is not a declared item/],
    ['item policy for an undeclared item', (d) => { d.item_policy.photo = structuredClone(d.item_policy.object); },
      /^item_policy\.photo: "photo" is not a declared item/],
    ['action not declared', (d) => { d.role_policy.staff.allowed_actions_for_owned.push('share'); },
      /^role_policy\.staff\.allowed_actions_for_owned\[7\]: "share" is not a declared action/],
    ['visibility not declared (item)', (d) => { d.item_policy.object.valid_visibilities.push('internal'); },
      /^item_policy\.object\.valid_visibilities\[4\]: "internal" is not a declared visibility/],
    ['visibility not declared (role)', (d) => { d.role_policy.staff.allowed_actions_for_other.internal = ['view']; },
      /^role_policy\.staff\.allowed_actions_for_other\.internal: "internal" is not a declared visibility/],
    ['visibility_access for an undeclared visibility', (d) => { d.visibility_access.internal = 'anyone'; },
      /^visibility_access\.internal: "internal" is not a declared visibility/],
    ['bad visibility_access value', (d) => { d.visibility_access.shared = 'friends'; }, /^visibility_access\.shared: must be one of/],
    ['limit type not declared', (d) => { d.role_policy.staff.limits.max_rows = { type: 'maximum', limit: 5 }; },
      /^role_policy\.staff\.limits\.max_rows\.type: "maximum" is not a declared limit type \(declared: max, min\)$/],
    ['name declared twice', (d) => { d.roles.push('staff'); }, /^roles\[5\]: "staff" is declared twice$/],
  ];
  for (const [name, edit, want] of cases) {
    const problems = problemsOf(t, edit);
    t.ok(problems.some((p) => want.test(p)), `${name}: ${JSON.stringify(problems)}`);
  }
});

/** Removes a role everywhere the shipped file names it, leaving an otherwise consistent file. */
function dropRole(d: Doc, role: string): void {
  d.roles = d.roles.filter((r: string) => r !== role);
  delete d.role_policy[role];
  for (const ip of Object.values(d.item_policy) as Doc[]) ip.invalid_roles = ip.invalid_roles.filter((r: string) => r !== role);
}

t.test('the roles the service assigns must be declared; staff is optional', async (t) => {
  t.same([...REQUIRED_ROLES.keys()], ['superuser', 'authenticated', 'anonymous', LOCKED_ROLE]);
  for (const role of REQUIRED_ROLES.keys()) {
    const problems = problemsOf(t, (d) => dropRole(d, role));
    t.equal(problems.length, 1, `${role}: ${JSON.stringify(problems)}`);
    t.match(problems[0], new RegExp(`^roles: "${role}" is not declared; the service assigns it \\(.+\\), so every policy must declare it$`));
  }
  const none = problemsOf(t, (d) => { for (const role of [...d.roles]) dropRole(d, role); });
  t.same(none.map((p) => /^roles: "([a-z]+)" is not declared/.exec(p)?.[1]), ['superuser', 'authenticated', 'anonymous', 'locked'],
    `"roles": [] names every missing role: ${JSON.stringify(none)}`);

  const noStaff = shipped();
  dropRole(noStaff, 'staff');
  t.ok(parsePolicy(noStaff), 'a policy without staff loads');
});

t.test('every problem is reported, not only the first', async (t) => {
  const problems = problemsOf(t, (d) => {
    d.item_policy.user.invalid_roles.push('admin');
    d.role_policy.staff.limits.max_rows = { type: 'maximum', limit: 5 };
  });
  t.equal(problems.length, 2, JSON.stringify(problems));
});

t.test('bad JSON', async (t) => {
  t.throws(() => parsePolicyText('{"roles": [}'), /^not valid JSON: /);
  t.throws(() => parsePolicyText('[]'), PolicyError);
});

t.test('the visibility bypass is in the file, not in the code', async (t) => {
  const ask = (doc: Doc, role: string, action: string, visibility: string) =>
    evaluateAccess(parsePolicy(doc), { actorId: 10, role, action, item: 'object', ownerId: 11, visibility, sharedWith: [12] });

  const noBypass = shipped();
  noBypass.role_policy.staff.bypass_visibility = false;
  t.same(ask(shipped(), 'staff', 'list', 'private'), { allowed: true }, 'shipped: staff list private items of others');
  t.same(ask(noBypass, 'staff', 'list', 'private'), { allowed: false, reason: 'not_owner' });
  t.same(ask(noBypass, 'staff', 'view', 'shared'), { allowed: false, reason: 'not_shared' });

  const authBypass = shipped();
  authBypass.role_policy.authenticated.bypass_visibility = true;
  authBypass.role_policy.authenticated.allowed_actions_for_other.private = ['view'];
  t.same(ask(authBypass, 'authenticated', 'view', 'private'), { allowed: true });

  // authnzerver's default applies to files that do not say: by role name, superuser and staff.
  const silent = shipped();
  delete silent.role_policy.staff.bypass_visibility;
  delete silent.role_policy.authenticated.bypass_visibility;
  silent.role_policy.authenticated.allowed_actions_for_other.private = ['view'];
  t.same(ask(silent, 'staff', 'list', 'private'), { allowed: true });
  t.same(ask(silent, 'authenticated', 'view', 'private'), { allowed: false, reason: 'not_owner' });
});

t.test('visibility_access: a custom visibility', async (t) => {
  const doc = shipped();
  doc.visibilities.push('internal');
  doc.item_policy.object.valid_visibilities.push('internal');
  doc.role_policy.authenticated.allowed_actions_for_other.internal = ['view'];
  const ask = (d: Doc) => evaluateAccess(parsePolicy(d), { actorId: 10, role: 'authenticated', action: 'view', item: 'object', ownerId: 11, visibility: 'internal' });
  t.same(ask(doc), { allowed: false, reason: 'visibility' }, 'undescribed visibility: nobody passes the gate (authnzerver)');
  doc.visibility_access.internal = 'anyone';
  t.same(ask(doc), { allowed: true });
});

t.test('reason codes of evaluateAccess', async (t) => {
  const p = parsePolicyText(shippedText);
  const base = { actorId: 10, role: 'authenticated', action: 'view', item: 'dataset', ownerId: 11, visibility: 'public' };
  const reason = (over: Partial<typeof base>) => {
    const d = evaluateAccess(p, { ...base, ...over });
    return d.allowed ? 'allowed' : d.reason;
  };
  t.equal(reason({}), 'allowed');
  t.equal(reason({ role: 'admin' }), 'unknown_role');
  t.equal(reason({ item: 'photo' }), 'unknown_item');
  t.equal(reason({ action: 'share' }), 'unknown_action');
  t.equal(reason({ visibility: 'internal' }), 'unknown_visibility');
  t.equal(reason({ item: 'user', visibility: 'private' }), 'role_not_allowed');
  t.equal(reason({ item: 'apikey' }), 'visibility_not_valid');
  t.equal(reason({ item: 'preference', action: 'delete', visibility: 'private', ownerId: 10 }), 'action_not_valid');
  t.equal(reason({ item: 'object', ownerId: 10 }), 'cannot_own');
  t.equal(reason({ action: 'delete' }), 'action_not_allowed');
  t.equal(reason({ visibility: 'private', role: 'staff', action: 'view' }), 'action_not_allowed');
  t.equal(reason({ visibility: 'shared' }), 'not_shared');
});

t.test('limits: authnzerver lt/gt semantics, unknown limit is not a pass', async (t) => {
  const doc = shipped();
  doc.limits.ratio = { type: 'float', operator: 'gt' };
  doc.role_policy.staff.limits.min_rows = { type: 'min', limit: 10 };
  doc.role_policy.staff.limits.min_ratio = { type: 'ratio', limit: 0.5 };
  const p = parsePolicy(doc);
  t.equal(roleLimit(p, 'staff', 'max_requests'), 1000000);
  t.equal(roleLimit(p, 'staff', 'nope'), undefined);
  t.equal(roleLimit(p, 'nobody', 'max_requests'), undefined);
  t.same(checkLimit(p, 'staff', 'max_requests', 999999), { within: true, limit: 1000000 });
  t.same(checkLimit(p, 'staff', 'max_requests', 1000000), { within: false, limit: 1000000, reason: 'over_limit' }, 'lt is strict');
  t.same(checkLimit(p, 'staff', 'max_requests', 999999.9), { within: true, limit: 1000000 }, 'int limits truncate the value');
  t.same(checkLimit(p, 'staff', 'min_rows', 11), { within: true, limit: 10 });
  t.same(checkLimit(p, 'staff', 'min_rows', 10.5), { within: false, limit: 10, reason: 'under_limit' }, 'gt is strict, int truncates');
  t.same(checkLimit(p, 'staff', 'min_ratio', 0.51), { within: true, limit: 0.5 });
  t.same(checkLimit(p, 'staff', 'min_ratio', 0.5), { within: false, limit: 0.5, reason: 'under_limit' });
  t.same(checkLimit(p, 'locked', 'max_requests', 0), { within: false, limit: 0, reason: 'over_limit' });
  t.same(checkLimit(p, 'staff', 'max_rows', 1), { within: false, reason: 'unknown_limit' });
  t.same(checkLimit(p, 'nobody', 'max_requests', 1), { within: false, reason: 'unknown_role' });
});
