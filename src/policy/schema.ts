import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { ANONYMOUS_ROLE } from '../core/bootstrap.js';
import { LOCKED_ROLE, SUPERUSER_ROLE } from '../core/user-admin.js';
import { VERIFIED_ROLE } from '../core/users.js';

/*
 * permissions.json: authnzerver's policy model (SPEC §5), plus two optional authnzd fields that
 * make authnzerver's hard-coded rules expressible in the file:
 *   role_policy.<role>.bypass_visibility  (authnzerver: true for `superuser` and `staff` only)
 *   visibility_access.<visibility>        (authnzerver: public/unlisted anyone, private owner,
 *                                          shared owner_or_shared, anything else none)
 * A file written for authnzerver has neither field and gets authnzerver's decisions.
 */

/**
 * Roles the service itself gives users, with who gets them: every policy must declare them
 * (SPEC §5 refuses "a role used but not declared"). A policy without one would leave those
 * users with `unknown_role` on every decision. Other roles (e.g. `staff`) are the file's own.
 */
export const REQUIRED_ROLES: ReadonlyMap<string, string> = new Map([
  [SUPERUSER_ROLE, 'the bootstrap superuser'],
  [VERIFIED_ROLE, 'users who verified their email'],
  [ANONYMOUS_ROLE, 'the anonymous user and visitor sessions'],
  [LOCKED_ROLE, 'admin-locked users'],
]);

const Name = Type.String({ minLength: 1, maxLength: 128 });
const Names = Type.Array(Name);

export const VisibilityAccess = Type.Enum(['anyone', 'owner', 'owner_or_shared', 'none']);
export type VisibilityAccess = Static<typeof VisibilityAccess>;

const LimitType = Type.Object({
  type: Type.Enum(['int', 'float']),
  operator: Type.Enum(['lt', 'gt']),
}, { additionalProperties: false });

const RoleLimit = Type.Object({ type: Name, limit: Type.Number() }, { additionalProperties: false });

const ItemPolicy = Type.Object({
  valid_role_actions: Names,
  valid_visibilities: Names,
  invalid_roles: Names,
}, { additionalProperties: false });

const RolePolicy = Type.Object({
  limits: Type.Record(Type.String(), RoleLimit),
  can_own_items: Names,
  allowed_actions_for_owned: Names,
  allowed_actions_for_other: Type.Record(Type.String(), Names),
  bypass_visibility: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

/** The file as written. */
export const PolicyDocument = Type.Object({
  roles: Names,
  items: Names,
  actions: Names,
  visibilities: Names,
  limits: Type.Record(Type.String(), LimitType),
  item_policy: Type.Record(Type.String(), ItemPolicy),
  role_policy: Type.Record(Type.String(), RolePolicy),
  visibility_access: Type.Optional(Type.Record(Type.String(), VisibilityAccess)),
}, { additionalProperties: false });
export type PolicyDocument = Static<typeof PolicyDocument>;

export interface CompiledRole {
  readonly canOwn: ReadonlySet<string>;
  readonly forOwned: ReadonlySet<string>;
  /** By visibility; a visibility not listed allows nothing. */
  readonly forOther: ReadonlyMap<string, ReadonlySet<string>>;
  readonly bypassVisibility: boolean;
  readonly limits: ReadonlyMap<string, { readonly limit: number; readonly type: 'int' | 'float'; readonly operator: 'lt' | 'gt' }>;
}

export interface CompiledItem {
  readonly validActions: ReadonlySet<string>;
  readonly validVisibilities: ReadonlySet<string>;
  readonly invalidRoles: ReadonlySet<string>;
}

/** The validated policy, as sets and maps for constant-time decisions. Immutable once built. */
export interface Policy {
  /** The file as written (what policy_get returns). */
  readonly document: PolicyDocument;
  readonly roles: ReadonlyMap<string, CompiledRole>;
  readonly items: ReadonlyMap<string, CompiledItem>;
  readonly actions: ReadonlySet<string>;
  readonly visibilities: ReadonlyMap<string, VisibilityAccess>;
}

/** The file is not a valid policy; the message names the path in the file. */
export class PolicyError extends Error {
  constructor(message: string, readonly problems: readonly string[] = [message]) {
    super(message);
    this.name = 'PolicyError';
  }
}

/** authnzerver's hard-coded visibility gate, used for visibilities the file does not describe. */
function authnzerverAccess(visibility: string): VisibilityAccess {
  if (visibility === 'public' || visibility === 'unlisted') return 'anyone';
  if (visibility === 'private') return 'owner';
  if (visibility === 'shared') return 'owner_or_shared';
  return 'none';
}

/** authnzerver lets these roles past the visibility gate; a file may say otherwise per role. */
const authnzerverBypassRoles = new Set(['superuser', 'staff']);

/** `/role_policy/staff/limits` → `role_policy.staff.limits`; array indexes as `[n]`. */
function dotted(pointer: string, extra?: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(top level)' : out;
}

function structureProblems(value: unknown): string[] {
  const problems: string[] = [];
  for (const e of Value.Errors(PolicyDocument, value)) {
    if (e.keyword === 'boolean') continue; // reported once by its additionalProperties error
    if (e.keyword === 'additionalProperties') {
      const keys = (e.params as { additionalProperties?: string[] }).additionalProperties ?? [];
      for (const k of keys) problems.push(`${dotted(e.instancePath, k)}: unknown key "${k}"`);
    } else if (e.keyword === 'required') {
      const missing = (e.params as { requiredProperties?: string[] }).requiredProperties ?? [];
      for (const k of missing) problems.push(`${dotted(e.instancePath, k)}: missing`);
      if (missing.length === 0) problems.push(`${dotted(e.instancePath)}: ${e.message}`);
    } else if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues ?? [];
      problems.push(`${dotted(e.instancePath)}: must be one of ${JSON.stringify(allowed)}`);
    } else {
      problems.push(`${dotted(e.instancePath)}: ${e.message}`);
    }
  }
  return [...new Set(problems)];
}

/** Names used in one list must be declared in `declared` (the top-level list named `kind`). */
const listOf: Record<string, string> = { role: 'roles', item: 'items', action: 'actions', visibility: 'visibilities' };

function checkNames(problems: string[], path: string, used: readonly string[], declared: ReadonlySet<string>, kind: string) {
  used.forEach((n, i) => {
    if (!declared.has(n)) problems.push(`${path}[${i}]: "${n}" is not a declared ${kind} (add it to "${listOf[kind]}" or remove it here)`);
  });
}

function declaredSet(problems: string[], key: string, names: readonly string[]): Set<string> {
  const set = new Set<string>();
  names.forEach((n, i) => {
    if (set.has(n)) problems.push(`${key}[${i}]: "${n}" is declared twice`);
    set.add(n);
  });
  return set;
}

/** Every cross-reference: roles, items, actions, visibilities and limit types used must be declared. */
function referenceProblems(doc: PolicyDocument): string[] {
  const p: string[] = [];
  const roles = declaredSet(p, 'roles', doc.roles);
  const items = declaredSet(p, 'items', doc.items);
  const actions = declaredSet(p, 'actions', doc.actions);
  const visibilities = declaredSet(p, 'visibilities', doc.visibilities);
  for (const [role, who] of REQUIRED_ROLES) {
    if (!roles.has(role)) p.push(`roles: "${role}" is not declared; the service assigns it (${who}), so every policy must declare it`);
  }

  for (const [item, ip] of Object.entries(doc.item_policy)) {
    const at = `item_policy.${item}`;
    if (!items.has(item)) p.push(`${at}: "${item}" is not a declared item (add it to "items" or remove it here)`);
    checkNames(p, `${at}.valid_role_actions`, ip.valid_role_actions, actions, 'action');
    checkNames(p, `${at}.valid_visibilities`, ip.valid_visibilities, visibilities, 'visibility');
    checkNames(p, `${at}.invalid_roles`, ip.invalid_roles, roles, 'role');
  }
  for (const item of items) if (!doc.item_policy[item]) p.push(`item_policy.${item}: missing (item "${item}" is declared in "items")`);

  for (const [role, rp] of Object.entries(doc.role_policy)) {
    const at = `role_policy.${role}`;
    if (!roles.has(role)) p.push(`${at}: "${role}" is not a declared role (add it to "roles" or remove it here)`);
    checkNames(p, `${at}.can_own_items`, rp.can_own_items, items, 'item');
    checkNames(p, `${at}.allowed_actions_for_owned`, rp.allowed_actions_for_owned, actions, 'action');
    for (const [vis, acts] of Object.entries(rp.allowed_actions_for_other)) {
      if (!visibilities.has(vis)) p.push(`${at}.allowed_actions_for_other.${vis}: "${vis}" is not a declared visibility`);
      checkNames(p, `${at}.allowed_actions_for_other.${vis}`, acts, actions, 'action');
    }
    for (const [name, lim] of Object.entries(rp.limits)) {
      if (!doc.limits[lim.type]) p.push(`${at}.limits.${name}.type: "${lim.type}" is not a declared limit type (declared: ${Object.keys(doc.limits).join(', ') || 'none'})`);
    }
  }
  for (const role of roles) if (!doc.role_policy[role]) p.push(`role_policy.${role}: missing (role "${role}" is declared in "roles")`);

  for (const vis of Object.keys(doc.visibility_access ?? {})) {
    if (!visibilities.has(vis)) p.push(`visibility_access.${vis}: "${vis}" is not a declared visibility`);
  }
  return p;
}

function compile(doc: PolicyDocument): Policy {
  const roles = new Map<string, CompiledRole>();
  for (const [name, rp] of Object.entries(doc.role_policy)) {
    roles.set(name, {
      canOwn: new Set(rp.can_own_items),
      forOwned: new Set(rp.allowed_actions_for_owned),
      forOther: new Map(Object.entries(rp.allowed_actions_for_other).map(([v, a]) => [v, new Set(a)])),
      bypassVisibility: rp.bypass_visibility ?? authnzerverBypassRoles.has(name),
      limits: new Map(Object.entries(rp.limits).map(([n, l]) => [n, { limit: l.limit, ...doc.limits[l.type]! }])),
    });
  }
  const items = new Map<string, CompiledItem>();
  for (const [name, ip] of Object.entries(doc.item_policy)) {
    items.set(name, {
      validActions: new Set(ip.valid_role_actions),
      validVisibilities: new Set(ip.valid_visibilities),
      invalidRoles: new Set(ip.invalid_roles),
    });
  }
  const visibilities = new Map(doc.visibilities.map((v) => [v, doc.visibility_access?.[v] ?? authnzerverAccess(v)] as const));
  return { document: doc, roles, items, actions: new Set(doc.actions), visibilities };
}

/** Validates a parsed policy document; throws PolicyError listing every problem with its path. */
export function parsePolicy(value: unknown): Policy {
  const structural = structureProblems(value);
  if (structural.length) throw new PolicyError(structural.join('; '), structural);
  const doc = value as PolicyDocument;
  const refs = referenceProblems(doc);
  if (refs.length) throw new PolicyError(refs.join('; '), refs);
  return compile(doc);
}

/** Parses the text of a permissions file (JSON) and validates it. */
export function parsePolicyText(text: string): Policy {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PolicyError(`not valid JSON: ${(err as Error).message}`);
  }
  return parsePolicy(value);
}
