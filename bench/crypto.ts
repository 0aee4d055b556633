/*
 * In-process microbenchmark of the API-key envelope: decrypt (dir + A256GCM) then verify, per
 * signing algorithm, with pre-imported CryptoKeys, as core/apikey-verify does on a cache miss.
 *
 *   node --import tsx bench/crypto.ts [iterations-per-round] [rounds]
 *
 * Prints µs per open (median and best of the rounds) for HS256, ES256 and EdDSA. Used to choose
 * DEFAULT_SIGNING_ALG (docs/apikeys.md); the load benchmark can reuse `benchEnvelopes`.
 */
import { openApiKey, sealApiKey, type Claims } from '../src/crypto/envelope.js';
import { Keyring, SIGNING_ALGS, generateKeyringEntries, type SigningAlg } from '../src/crypto/keyring.js';
import { newToken } from '../src/core/tokens.js';

export async function keyringFor(alg: SigningAlg): Promise<Keyring> {
  const now = Date.now();
  const entries = (await generateKeyringEntries(now, undefined, alg)).map((e) => ({ ...e, retiredAt: null }));
  const keyring = new Keyring({ source: async () => entries, keyEncryptionKey: undefined, now: () => now });
  await keyring.reload();
  return keyring;
}

export function sampleClaims(): Claims {
  const now = Math.floor(Date.now() / 1000);
  return {
    jti: 'key_bench', tkn: newToken(), knd: 'standalone', iss: 'authnzd', aud: 'svc', sub: '/v1/things', ver: 1,
    uid: 3, rol: 'authenticated', scp: ['read'], ipa: '203.0.113.7', usa: 'x'.repeat(43), iat: now, nbf: now, exp: now + 3600,
  };
}

async function timeOpens(apikey: string, keyring: Keyring, iterations: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const res = await openApiKey(apikey, keyring);
    if (!res.ok) throw new Error(`bench key did not open: ${res.reason}`);
  }
  return Number(process.hrtime.bigint() - start) / 1000 / iterations;
}

/** µs per openApiKey for one algorithm (median of `rounds` rounds of `iterations`). */
export async function benchEnvelope(alg: SigningAlg, iterations = 500, rounds = 15): Promise<number> {
  return (await benchEnvelopes([alg], iterations, rounds))[alg]!.median;
}

/**
 * µs per openApiKey for each algorithm: median over `rounds`, the algorithms interleaved within
 * each round (in rotating order) so that noise from a shared machine hits all of them alike.
 */
export async function benchEnvelopes(algs: readonly SigningAlg[] = SIGNING_ALGS, iterations = 500, rounds = 15): Promise<Record<string, { median: number; min: number }>> {
  const subjects = await Promise.all(algs.map(async (alg) => {
    const keyring = await keyringFor(alg);
    const apikey = await sealApiKey(sampleClaims(), keyring);
    await timeOpens(apikey, keyring, 200); // warm-up
    return { alg, keyring, apikey, samples: [] as number[] };
  }));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < subjects.length; i++) {
      const s = subjects[(r + i) % subjects.length]!;
      s.samples.push(await timeOpens(s.apikey, s.keyring, iterations));
    }
  }
  const out: Record<string, { median: number; min: number }> = {};
  for (const s of subjects) {
    const sorted = [...s.samples].sort((a, b) => a - b);
    out[s.alg] = { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]! };
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const iterations = Number(process.argv[2] ?? 500);
  const rounds = Number(process.argv[3] ?? 15);
  console.log(`node ${process.version}; decrypt(dir+A256GCM)+verify, ${iterations} per round, ${rounds} interleaved rounds; µs per key`);
  for (const [alg, r] of Object.entries(await benchEnvelopes(SIGNING_ALGS, iterations, rounds))) {
    console.log(`${alg.padEnd(6)} median ${r.median.toFixed(1)}  min ${r.min.toFixed(1)}`);
  }
}
