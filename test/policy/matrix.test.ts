import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { evaluateAccess } from '../../src/policy/evaluate.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { buildTestApp, json, repoRoot, show } from '../helper.js';

/*
 * authnzerver's check_item_access on its default policy, written out by hand (from
 * authnzerver/permissions.py and default-permissions-model.json) as a truth table: for each
 * role and item, the actions granted in each of seven situations. Letters: l list, v view,
 * c create, d delete, e edit, V change_visibility, o change_owner; `-` nothing.
 *
 *   OP own item, private         XU someone else's, public
 *   OS own item, shared          XW someone else's, shared with me
 *   OU own item, public          XN someone else's, shared with someone else (not me)
 *                                XP someone else's, private
 */
const situations = ['OP', 'OS', 'OU', 'XU', 'XW', 'XN', 'XP'] as const;
const all = 'lvcdeVo';
const truthTable = `
  role           item          OP      OS      OU      XU      XW      XN      XP
  superuser      object        ${all} ${all} ${all} ${all} ${all} ${all} ${all}
  superuser      dataset       ${all} ${all} ${all} ${all} ${all} ${all} ${all}
  superuser      collection    ${all} ${all} ${all} ${all} ${all} ${all} ${all}
  superuser      user          -       -       -       -       -       -       lvcde
  superuser      session       -       -       -       -       -       -       lvd
  superuser      apikey        lvcd    -       -       -       -       -       lvcd
  superuser      preference    lve     -       -       -       -       -       lve
  staff          object        ${all} ${all} ${all} lvdeVo  lve     lve     l
  staff          dataset       ${all} ${all} ${all} lvdeVo  lve     lve     l
  staff          collection    ${all} ${all} ${all} lvdeVo  lve     lve     l
  staff          user          -       -       -       -       -       -       l
  staff          session       -       -       -       -       -       -       l
  staff          apikey        lvcd    -       -       -       -       -       l
  staff          preference    lve     -       -       -       -       -       l
  authenticated  object        -       -       -       lv      lve     -       -
  authenticated  dataset       lvcdeV  lvcdeV  lvcdeV  lv      lve     -       -
  authenticated  collection    -       -       -       lv      lve     -       -
  authenticated  user          -       -       -       -       -       -       -
  authenticated  session       -       -       -       -       -       -       -
  authenticated  apikey        lvcd    -       -       -       -       -       -
  authenticated  preference    lve     -       -       -       -       -       -
  anonymous      object        -       -       -       lv      -       -       -
  anonymous      dataset       lvc     lvc     lvc     lv      -       -       -
  anonymous      collection    -       -       -       lv      -       -       -
  anonymous      user          -       -       -       -       -       -       -
  anonymous      session       -       -       -       -       -       -       -
  anonymous      apikey        -       -       -       -       -       -       -
  anonymous      preference    -       -       -       -       -       -       -
  locked         object        -       -       -       -       -       -       -
  locked         dataset       -       -       -       -       -       -       -
  locked         collection    -       -       -       -       -       -       -
  locked         user          -       -       -       -       -       -       -
  locked         session       -       -       -       -       -       -       -
  locked         apikey        -       -       -       -       -       -       -
  locked         preference    -       -       -       -       -       -       -
`;
const letters: Record<string, string> = {
  l: 'list', v: 'view', c: 'create', d: 'delete', e: 'edit', V: 'change_visibility', o: 'change_owner',
};
const actions = Object.values(letters);

interface Row { role: string; item: string; situation: (typeof situations)[number]; action: string; allowed: boolean }

function expandTable(): Row[] {
  const rows: Row[] = [];
  for (const line of truthTable.trim().split('\n').slice(1)) {
    const [role, item, ...cells] = line.trim().split(/\s+/);
    if (cells.length !== situations.length) throw new Error(`bad table line: ${line}`);
    situations.forEach((situation, i) => {
      const granted = new Set([...cells[i]!.replace('-', '')].map((c) => letters[c]!));
      for (const action of actions) rows.push({ role: role!, item: item!, situation, action, allowed: granted.has(action) });
    });
  }
  return rows;
}

const rows = expandTable();
t.equal(rows.length, 5 * 7 * 7 * 7, 'the table covers roles × items × situations × actions');

/** The request for one situation: `me` acts, `other` owns someone else's items, `third` is a bystander. */
function situationRequest(s: Row['situation'], me: number, other: number, third: number) {
  const own = s.startsWith('O');
  const visibility = { OP: 'private', OS: 'shared', OU: 'public', XU: 'public', XW: 'shared', XN: 'shared', XP: 'private' }[s];
  const sharedWith = s === 'XW' ? [third, me] : s === 'OS' || s === 'XN' ? [third] : undefined;
  return { ownerId: own ? me : other, visibility, sharedWith };
}

const shipped = JSON.parse(readFileSync(path.join(repoRoot, 'permissions.json'), 'utf8')) as Record<string, unknown>;

/** authnzerver's own file: the shipped one without the two optional authnzd fields. */
function authnzerverDocument(): Record<string, unknown> {
  const doc = structuredClone(shipped) as { visibility_access?: unknown; role_policy: Record<string, Record<string, unknown>> };
  delete doc.visibility_access;
  for (const rp of Object.values(doc.role_policy)) delete rp.bypass_visibility;
  return doc;
}

t.test('authnzerver file (no authnzd fields): pure decisions equal the truth table', async (t) => {
  const policy = parsePolicy(authnzerverDocument());
  const me = 10; const other = 11; const third = 12;
  let mismatches = 0;
  for (const r of rows) {
    const s = situationRequest(r.situation, me, other, third);
    const d = evaluateAccess(policy, { actorId: me, role: r.role, action: r.action, item: r.item, ...s });
    if (d.allowed !== r.allowed) {
      mismatches++;
      t.fail(`${r.role} ${r.action} ${r.item} ${r.situation}: expected ${r.allowed}, got ${JSON.stringify(d)}`);
    }
  }
  t.equal(mismatches, 0, `${rows.length} cases`);
});

t.test('shipped permissions.json over HTTP: check_access equals the truth table', async (t) => {
  const h = await buildTestApp(t);
  const ids: Record<string, number> = {};
  let n = 0;
  const mkUser = async (role: string) => (await h.app.store.users.create({
    systemId: `matrix-${++n}`, email: `matrix-${n}@example.test`, fullName: null, passwordHash: null,
    role, isActive: true, emailVerified: true, extra: {}, createdAt: h.clock.now(),
  })).id;
  for (const role of ['superuser', 'staff', 'authenticated', 'anonymous', 'locked']) ids[role] = await mkUser(role);
  const other = await mkUser('authenticated');
  const third = await mkUser('authenticated');

  let mismatches = 0;
  for (const r of rows) {
    const me = ids[r.role]!;
    const s = situationRequest(r.situation, me, other, third);
    const body = {
      user_id: me, action: r.action, item: r.item, owner_id: s.ownerId, visibility: s.visibility,
      ...(s.sharedWith ? { shared_with: s.sharedWith } : {}),
    };
    const res = await h.call('check_access', body);
    if (res.statusCode !== 200 || json(res).allowed !== r.allowed) {
      mismatches++;
      t.fail(`${r.role} ${r.action} ${r.item} ${r.situation}: expected ${r.allowed}, got ${show(res)}`);
    }
    if (!r.allowed && typeof json(res).reason !== 'string') t.fail(`denial without a reason: ${show(res)}`);
  }
  t.equal(mismatches, 0, `${rows.length} cases`);
});

t.test('unlisted items and items shared with the anonymous user (authnzerver: shared with everyone)', async (t) => {
  const policy = parsePolicy(shipped);
  const ask = (role: string, action: string, visibility: string, sharedWith?: number[]) =>
    evaluateAccess(policy, { actorId: 10, role, action, item: 'dataset', ownerId: 11, visibility, sharedWith }).allowed;
  t.equal(ask('authenticated', 'view', 'unlisted'), true);
  t.equal(ask('authenticated', 'list', 'unlisted'), false, 'unlisted: viewable by link, not listed');
  t.equal(ask('anonymous', 'view', 'unlisted'), true);
  t.equal(ask('staff', 'delete', 'unlisted'), true);
  t.equal(ask('authenticated', 'view', 'shared', [12]), false);
  t.equal(ask('authenticated', 'view', 'shared', [12, 2]), true, 'shared with anonymous (id 2) = shared with all');
  t.equal(ask('anonymous', 'view', 'shared', [2]), false, 'anonymous role has no actions on shared items');
});
