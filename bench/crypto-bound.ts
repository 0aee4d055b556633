import { DEFAULT_SIGNING_ALG, SIGNING_ALGS } from '../src/crypto/keyring.js';
import { benchEnvelope } from './crypto.js';

/**
 * The crypto bound of the cold verify path, for bench/run.ts: bench/crypto.ts's envelope
 * microbenchmark (decrypt dir+A256GCM, then verify) run in its own process pinned to the service's
 * core. Prints one JSON line: µs and ops/s for the algorithm the service issues, and the others.
 *   node --import tsx bench/crypto-bound.ts [--quick]
 */
const quick = process.argv.includes('--quick');
const [iterations, rounds] = quick ? [500, 3] : [2000, 5];
const perAlg: Record<string, number> = {};
for (const alg of SIGNING_ALGS) perAlg[alg] = await benchEnvelope(alg, iterations, rounds);
const us = perAlg[DEFAULT_SIGNING_ALG]!;
process.stdout.write(JSON.stringify({ alg: DEFAULT_SIGNING_ALG, usPerOp: us, opsPerSec: 1e6 / us, usPerAlg: perAlg, iterations, rounds }) + '\n');
