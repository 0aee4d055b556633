import { DEFAULT_SIGNING_ALG, SIGNING_ALGS } from '../src/crypto/keyring.js';
import { benchEnvelopes } from './crypto.js';

/**
 * The crypto bound of the cold verify path, for bench/run.ts: bench/crypto.ts's envelope
 * microbenchmark (decrypt dir+A256GCM, then verify; algorithms interleaved) run in its own process
 * pinned to the service's core. Prints one JSON line: µs and ops/s for the algorithm the service
 * issues (median of the rounds), and every algorithm's median and best round.
 *   node --import tsx bench/crypto-bound.ts [--quick]
 */
const quick = process.argv.includes('--quick');
const [iterations, rounds] = quick ? [200, 5] : [500, 15];
const perAlg = await benchEnvelopes(SIGNING_ALGS, iterations, rounds);
const us = perAlg[DEFAULT_SIGNING_ALG]!.median;
process.stdout.write(JSON.stringify({ alg: DEFAULT_SIGNING_ALG, usPerOp: us, opsPerSec: 1e6 / us, perAlg, iterations, rounds }) + '\n');
