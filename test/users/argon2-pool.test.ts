import t from 'tap';
import { Argon2Pool } from '../../src/core/argon2-pool.js';
import { argon2Params, argon2WorkerNice, configureArgon2, hashPassword, verifyPassword } from '../../src/core/passwords.js';

/*
 * argon2 runs in worker threads below the event loop's priority (issue 7): hashes made there
 * verify, a wrong password does not, the nice value is the configured one, failures reject.
 */

t.test('hash and verify through the workers', async (t) => {
  const hash = await hashPassword('correct horse battery staple');
  t.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  t.equal(await verifyPassword(hash, 'correct horse battery staple'), true);
  t.equal(await verifyPassword(hash, 'correct horse battery stapler'), false);
  t.equal(await verifyPassword('not-a-hash', 'x'), false, 'a malformed hash is a failed verify, not a crash');
  const many = await Promise.all(Array.from({ length: 6 }, (_, i) => hashPassword(`password-${i}`)));
  t.equal(new Set(many).size, 6, 'concurrent hashes queue and all finish');
});

t.test('the workers run at the configured nice value (Linux: per thread)', async (t) => {
  if (process.platform !== 'linux') return t.pass('per-thread nice values are a Linux feature: nothing to check here');
  t.equal(await argon2WorkerNice(), 10, 'default 10');
  configureArgon2({ nice: 15 });
  t.teardown(() => configureArgon2({ nice: 10 }));
  t.equal(await argon2WorkerNice(), 15);
  const { getPriority } = await import('node:os');
  t.equal(getPriority(0), 0, 'the event loop thread keeps its priority');
});

t.test('a failing job rejects and the pool keeps working', async (t) => {
  const pool = new Argon2Pool(1, 5);
  await t.rejects(pool.run({ op: 'hash', password: 'x', params: { ...argon2Params, memoryCost: 1 } }), 'argon2 refuses memoryCost 1');
  const hash = await pool.run({ op: 'hash', password: 'still works', params: { ...argon2Params } });
  t.equal(await pool.run({ op: 'verify', hash: hash as string, password: 'still works' }), true);
});

t.test('the pool bounds the work in flight: jobs beyond its size wait their turn', async (t) => {
  const pool = new Argon2Pool(1, 0);
  const params = { ...argon2Params, memoryCost: 8192, timeCost: 1 };
  const order: number[] = [];
  const jobs = [1, 2, 3].map((n) => pool.run({ op: 'hash', password: `p${n}`, params }).then((h) => {
    order.push(n);
    return h;
  }));
  const hashes = await Promise.all(jobs);
  t.same(order, [1, 2, 3], 'one worker: first come, first served');
  t.equal(new Set(hashes).size, 3);
  t.equal(await pool.workerNice(), 0, 'the same single worker answers afterwards');
});
