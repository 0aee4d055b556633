/*
 * In-process microbenchmark of the API-key envelope: decrypt (dir + A256GCM) then verify, per
 * signing algorithm, with pre-imported CryptoKeys, as core/apikey-verify does on a cache miss.
 *
 *   node --import tsx bench/crypto.ts [iterations] [rounds]
 *
 * Prints µs per open (median of the rounds) for HS256, ES256 and EdDSA. Used to choose
 * DEFAULT_SIGNING_ALG (docs/apikeys.md); the load benchmark reuses `benchEnvelope`.
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

/** µs per openApiKey for one algorithm (median of `rounds` rounds of `iterations`). */
export async function benchEnvelope(alg: SigningAlg, iterations = 2000, rounds = 5): Promise<number> {
  const keyring = await keyringFor(alg);
  const apikey = await sealApiKey(sampleClaims(), keyring);
  for (let i = 0; i < 200; i++) await openApiKey(apikey, keyring); // warm-up
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const res = await openApiKey(apikey, keyring);
      if (!res.ok) throw new Error(`bench key did not open: ${res.reason}`);
    }
    perRound.push(Number(process.hrtime.bigint() - start) / 1000 / iterations);
  }
  perRound.sort((a, b) => a - b);
  return perRound[Math.floor(rounds / 2)]!;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const iterations = Number(process.argv[2] ?? 2000);
  const rounds = Number(process.argv[3] ?? 5);
  console.log(`node ${process.version}; decrypt(dir+A256GCM)+verify, ${iterations} × ${rounds} rounds, median µs per key`);
  for (const alg of SIGNING_ALGS) {
    console.log(`${alg.padEnd(6)} ${(await benchEnvelope(alg, iterations, rounds)).toFixed(1)} µs`);
  }
}
