import { compactDecrypt, compactVerify, decodeProtectedHeader } from 'jose';
import t from 'tap';
import { newToken } from '../../src/core/tokens.js';
import { openApiKey, sealApiKey, type Claims } from '../../src/crypto/envelope.js';
import { generateKeyringEntries, Keyring, SIGNING_ALGS } from '../../src/crypto/keyring.js';

/*
 * sealApiKey builds the JWS and JWE itself (node:crypto) for HS256 + dir/A256GCM and through
 * jose otherwise: every signing algorithm seals a key that openApiKey and plain jose open, with
 * the headers of SPEC §4.1, and non-ASCII claims survive.
 */

const claims: Claims = {
  jti: 'key_seal_test', tkn: newToken().slice(-43), knd: 'session', iss: 'authnzd', aud: 'svc', sub: ['/a', '/ü'], ver: 2,
  uid: 7, rol: 'authenticated', ipa: ['10.0.0.1'], usa: 'Mözilla/5.0 (日本語)', iat: 1_800_000_000, nbf: 1_800_000_000, exp: 1_800_003_600,
};

for (const alg of SIGNING_ALGS) {
  t.test(`${alg}: sealed keys open, with standard headers`, async (t) => {
    const entries = await generateKeyringEntries(Date.UTC(2026, 0, 1), undefined, alg);
    const keyring = new Keyring({ source: async () => entries.map((e) => ({ ...e, retiredAt: null })), keyEncryptionKey: undefined, now: () => 0 });
    await keyring.reload();
    const a = await sealApiKey(claims, keyring);
    const b = await sealApiKey(claims, keyring);
    t.not(a, b, 'a fresh IV per key');
    t.match(a, /^azk_[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/, 'compact JWE with an empty encrypted key');
    t.same(await openApiKey(a, keyring), { ok: true, claims });

    const encKey = keyring.issuing('enc');
    const sigKey = keyring.issuing('sig');
    t.same(decodeProtectedHeader(a.slice(4)), { alg: 'dir', enc: 'A256GCM', kid: encKey.kid, cty: 'JWT' });
    const { plaintext } = await compactDecrypt(a.slice(4), encKey.key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
    const jws = new TextDecoder().decode(plaintext);
    t.same(decodeProtectedHeader(jws), { alg, kid: sigKey.kid, typ: 'JWT' });
    const { payload } = await compactVerify(jws, sigKey.verifyKey, { algorithms: [alg] });
    t.same(JSON.parse(new TextDecoder().decode(payload)), claims);

    const flipped = a.slice(0, -3) + (a.at(-3) === 'A' ? 'B' : 'A') + a.slice(-2);
    t.same(await openApiKey(flipped, keyring), { ok: false, reason: 'invalid' }, 'a flipped tag byte is invalid');
  });
}
