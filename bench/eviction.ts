import { BoundedMap } from '../src/bounded-map.js';

/*
 * The cost of one insertion into a full bounded table of N entries, each insertion a new key
 * (what a never-seen API key does to the verify cache, the read memo and the rate limiter):
 * a Map that evicts `keys().next()` (the oldest insertion; what authnzd did before), against
 * BoundedMap. A diagnosis tool for docs/performance.md:
 *
 *   taskset -c 0 node --import tsx bench/eviction.ts
 */

const insertions = 200_000;
const keyOf = (i: number) => `key_${i.toString(36).padStart(20, '0')}`;

function perInsert(fill: (i: number) => void, n: number): number {
  for (let i = 0; i < n; i++) fill(i);
  const start = process.hrtime.bigint();
  for (let i = n; i < n + insertions; i++) fill(i);
  return Number(process.hrtime.bigint() - start) / insertions;
}

for (const n of [1_000, 10_000, 100_000, 1_000_000]) {
  const fifo = new Map<string, { i: number }>();
  const oldest = perInsert((i) => {
    if (fifo.size >= n) fifo.delete(fifo.keys().next().value!);
    fifo.set(keyOf(i), { i });
  }, n);
  const bounded = new BoundedMap<string, { i: number }>(n);
  const halves = perInsert((i) => bounded.set(keyOf(i), { i }), n);
  console.log(`${n.toLocaleString('en')} entries: Map + keys().next() ${(oldest / 1000).toFixed(2)} µs, BoundedMap ${(halves / 1000).toFixed(2)} µs per insertion`);
}
