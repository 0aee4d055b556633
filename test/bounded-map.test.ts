import t from 'tap';
import { BoundedMap } from '../src/bounded-map.js';

/*
 * BoundedMap: never more than `max` entries; the oldest half goes at once; an entry in use
 * survives a flood of one-time entries; delete, replace and sweep behave as on a Map.
 */

t.test('never holds more than max entries, and keeps at least the newest half', async (t) => {
  for (const max of [2, 3, 10, 1000]) {
    const m = new BoundedMap<number, string>(max);
    let most = 0;
    for (let i = 0; i < max * 5; i++) {
      m.set(i, `v${i}`);
      most = Math.max(most, m.size);
    }
    const half = Math.floor(max / 2);
    t.ok(most <= max && most >= half, `max ${max}: held at most ${most} entries, at least half of max`);
    const newest = Array.from({ length: half }, (_, k) => max * 5 - half + k);
    t.same(newest.map((i) => m.get(i)), newest.map((i) => `v${i}`), `max ${max}: the newest ${half} are kept`);
  }
});

t.test('the oldest entries go first; an entry in use stays through a flood', async (t) => {
  const m = new BoundedMap<string, number>(10);
  m.set('hot', 0);
  m.set('cold', 0);
  let lost = 0;
  for (let i = 0; i < 1000; i++) {
    m.set(`once-${i}`, i);
    if (m.get('hot') === undefined) lost++;
  }
  t.equal(lost, 0, 'the entry in use was there after each of 1,000 one-time entries');
  t.equal(m.get('cold'), undefined, 'the entry not used again was dropped');
  t.equal(m.get('once-0'), undefined, 'so were the old one-time entries');
  t.equal(m.get('once-999'), 999);
});

t.test('replace, delete, clear and deleteWhere act as on a Map', async (t) => {
  const m = new BoundedMap<string, { n: number }>(100);
  for (const [k, n] of [['a', 1], ['b', 2], ['c', 3]] as const) m.set(k, { n });
  m.set('a', { n: 10 });
  t.same(m.get('a'), { n: 10 }, 'replaced');
  t.equal(m.size, 3, 'a replacement adds nothing');
  t.equal(m.delete('b'), true);
  t.equal(m.delete('b'), false, 'deleted once');
  t.equal(m.get('b'), undefined);
  m.set('d', { n: 4 });
  m.deleteWhere((v) => v.n % 2 === 0);
  t.same([m.get('a'), m.get('c'), m.get('d')], [undefined, { n: 3 }, undefined], 'the sweep removed the even ones');
  m.clear();
  t.equal(m.size, 0);
  t.equal(m.get('c'), undefined);
});

t.test('replace and delete find a key in the older half too', async (t) => {
  const m = new BoundedMap<string, number>(6);
  for (const [k, n] of [['a', 1], ['b', 2], ['c', 3]] as const) m.set(k, n); // half full: these are the older half now
  m.set('d', 4);
  m.set('a', 10);
  t.equal(m.size, 4, 'a replaced, not added');
  t.equal(m.get('a'), 10);
  t.equal(m.delete('b'), true, 'deleted from the older half');
  t.equal(m.get('b'), undefined);
  m.deleteWhere((v) => v === 3);
  t.equal(m.get('c'), undefined, 'swept from the older half');
  t.equal(m.get('d'), 4);
});

t.test('a key deleted and set again is one entry, not two', async (t) => {
  const m = new BoundedMap<string, number>(6);
  for (let i = 0; i < 50; i++) {
    m.set('k', i);
    m.delete('k');
    m.set('k', i);
  }
  t.equal(m.get('k'), 49);
  t.equal(m.size, 1);
});

t.test('refuses a bound that cannot hold an entry', async (t) => {
  t.throws(() => new BoundedMap(1), RangeError);
  t.throws(() => new BoundedMap(2.5), RangeError);
});
