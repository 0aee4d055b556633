import type { Test } from 'tap';
import { keyringVersionOf } from '../../../src/db/store/keyring.js';
import type { KeyringEntry } from '../../../src/db/types.js';
import { audits, ev, T0, type ContractTarget } from './fixtures.js';

const entry = (kid: string, use: 'enc' | 'sig', createdAt: number): Omit<KeyringEntry, 'retiredAt'> =>
  ({ kid, use, alg: use === 'enc' ? 'dir' : 'ES256', material: `{"kid":"${kid}"}`, sealed: use === 'sig', createdAt });

/** The keyring shared by every instance. */
export function keyringContract(t: Test, target: ContractTarget): void {
  t.test('keyring: add, retire, list', async (t) => {
    const { store } = await target.fresh(t);
    t.same(await store.keyring.list(), []);
    t.equal(await store.keyring.add([entry('e1', 'enc', T0), entry('s1', 'sig', T0)], T0, { onlyIfEmpty: true }), true);
    t.equal(await store.keyring.add([entry('e9', 'enc', T0)], T0, { onlyIfEmpty: true, audit: ev('keys_init') }), false, 'only if empty');
    t.same(await audits(store, 'keys_init'), [], 'no audit row when nothing was added');
    t.equal(await store.keyring.add([entry('e2', 'enc', T0 + 10), entry('s2', 'sig', T0 + 10)], T0 + 10, { audit: ev('keys_rotate') }), true);
    const list = await store.keyring.list();
    t.same(list.map((k) => k.kid), ['s2', 'e2', 's1', 'e1'], 'newest first, then by kid descending');
    t.same(list.find((k) => k.kid === 's1'), { ...entry('s1', 'sig', T0), retiredAt: T0 + 10 }, 'every column round-trips; older keys retire');
    t.same(list.filter((k) => k.retiredAt === null).map((k) => k.kid), ['s2', 'e2'], 'one issuing key per use');
    t.equal((await audits(store, 'keys_rotate')).length, 1);
    await t.rejects(store.keyring.add([entry('e3', 'enc', T0 + 20), entry('e2', 'enc', T0 + 20)], T0 + 20, { audit: ev('keys_rotate') }), 'the kid is unique');
    t.same((await store.keyring.list()).filter((k) => k.retiredAt === null).map((k) => k.kid), ['s2', 'e2'], 'a refused rotation retires nothing');
    t.equal((await audits(store, 'keys_rotate')).length, 1, 'and writes no audit row');
  });

  t.test('two instances: first start and rotation at once', async (t) => {
    const { store, another } = await target.fresh(t);
    const b = await another();
    const added = await Promise.all([store, b].map((s, i) => s.keyring.add([entry(`e${i}`, 'enc', T0), entry(`s${i}`, 'sig', T0)], T0, { onlyIfEmpty: true })));
    t.same([...added].sort(), [false, true], 'exactly one instance creates the first keys');
    t.equal((await b.keyring.list()).length, 2);
    await Promise.all([store, b].map((s, i) => s.keyring.add([entry(`r${i}`, 'enc', T0 + 1)], T0 + 1)));
    t.equal((await store.keyring.list()).filter((k) => k.use === 'enc' && k.retiredAt === null).length, 1, 'two rotations at once leave one issuing key');
  });

  t.test('keyring version: changes with every rotation, by any instance, and matches the listed rows', async (t) => {
    const { store, another } = await target.fresh(t);
    const b = await another();
    t.same(await store.keyring.version(), { count: 0, newest: null }, 'empty');
    t.same(await store.keyring.version(), keyringVersionOf(await store.keyring.list()));
    await store.keyring.add([entry('e1', 'enc', T0), entry('s1', 'sig', T0)], T0);
    const first = await store.keyring.version();
    t.same(first, { count: 2, newest: T0 });
    t.same(first, keyringVersionOf(await store.keyring.list()), 'the version of the rows list() answers');
    t.same(await store.keyring.version(), first, 'unchanged while nothing is added');
    // Another instance (the CLI's `keys rotate`) rotates: this instance's next read sees it.
    await b.keyring.add([entry('e2', 'enc', T0 + 10), entry('s2', 'sig', T0 + 10)], T0 + 10);
    const second = await store.keyring.version();
    t.same(second, { count: 4, newest: T0 + 10 });
    t.same(second, keyringVersionOf(await store.keyring.list()));
    // A rotation stamped earlier (a clock set back) still changes the version: rows are only added.
    await b.keyring.add([entry('e3', 'enc', T0 + 5)], T0 + 5);
    t.same(await store.keyring.version(), { count: 5, newest: T0 + 10 });
    t.same(await store.keyring.version(), keyringVersionOf(await store.keyring.list()));
  });
}
