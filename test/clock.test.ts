import t from 'tap';
import { isoTime } from '../src/clock.js';

// isoTime is the wire format of every timestamp: it must agree with toISOString everywhere.
t.test('isoTime is exactly Date.prototype.toISOString', async (t) => {
  const edges = [
    0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000, Date.UTC(1972, 1, 29), Date.UTC(2000, 1, 29, 23, 59, 59, 999),
    Date.UTC(2000, 2, 1), Date.UTC(2100, 1, 28, 12), Date.UTC(2100, 2, 1), Date.UTC(2400, 1, 29), Date.UTC(2026, 11, 31, 23, 59, 59, 999),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), -1, -86_400_001, 1.5, 8.64e15,
  ];
  for (const ms of edges) t.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  let bad = 0;
  for (let i = 0; i < 200_000; i++) {
    const ms = Math.floor(Math.random() * 253402300800000);
    if (isoTime(ms) !== new Date(ms).toISOString()) bad++;
  }
  t.equal(bad, 0, '200,000 random instants of years 1970–9999');
  // Every day boundary of a 4-century cycle (all leap-year rules).
  let dayBad = 0;
  for (let d = 0; d < 146_097; d++) {
    const ms = Date.UTC(2000, 0, 1) + d * 86_400_000;
    if (isoTime(ms) !== new Date(ms).toISOString() || isoTime(ms - 1) !== new Date(ms - 1).toISOString()) dayBad++;
  }
  t.equal(dayBad, 0, 'every midnight of 2000–2399 and the millisecond before it');
  t.throws(() => isoTime(Number.NaN), RangeError, 'an invalid time still throws as toISOString does');
});
