import { compactDecrypt, compactVerify, decodeProtectedHeader } from 'jose';
import t from 'tap';
import { newToken } from '../../src/core/tokens.js';
import { openApiKey, openApiKeyNow, sealApiKey, type Claims } from '../../src/crypto/envelope.js';
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

type Entries = Awaited<ReturnType<typeof entriesOf>>;

/** A fresh key pair (encryption and signing) for `alg`, as the keyring store holds them. */
async function entriesOf(alg: (typeof SIGNING_ALGS)[number]) {
  return (await generateKeyringEntries(Date.UTC(2026, 0, 1), undefined, alg)).map((e) => ({ ...e, retiredAt: null }));
}

/** A keyring over `source`, loaded once. */
async function keyringOf(source: () => Entries): Promise<Keyring> {
  const k = new Keyring({ source: async () => source(), keyEncryptionKey: undefined, now: () => 0 });
  await k.reload();
  return k;
}

/** The key with one byte of its GCM tag changed. */
const flipTagByte = (key: string) => key.slice(0, -3) + (key.at(-3) === 'A' ? 'B' : 'A') + key.slice(-2);

for (const alg of SIGNING_ALGS) {
  t.test(`${alg}: sealed keys open, with standard headers`, async (t) => {
    const entries = await entriesOf(alg);
    const keyring = await keyringOf(() => entries);
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

    t.same(await openApiKey(flipTagByte(a), keyring), { ok: false, reason: 'invalid' }, 'a flipped tag byte is invalid');
  });
}

t.test('openApiKeyNow opens at once what needs no waiting, and only that', async (t) => {
  const hs = await entriesOf('HS256');
  const hsRing = await keyringOf(() => hs);
  const key = await sealApiKey(claims, hsRing);
  t.same(openApiKeyNow(key, hsRing), { ok: true, claims }, 'HS256 with its keys loaded: at once');
  t.same(openApiKeyNow('azk_nope', hsRing), { ok: false, reason: 'malformed' }, 'a refusal is an answer too');
  t.same(openApiKeyNow(flipTagByte(key), hsRing), { ok: false, reason: 'invalid' });

  // Another instance rotated: these keyrings loaded before it, one with nothing of it, one with
  // only its encryption key. The open waits for the reload (openApiKey), then answers at once.
  let rotated = false;
  const lagging = await keyringOf(() => (rotated ? hs : []));
  const encOnly = await keyringOf(() => (rotated ? hs : hs.filter((e) => e.use === 'enc')));
  rotated = true;
  t.equal(openApiKeyNow(key, lagging), undefined, 'keys not loaded: must wait');
  t.same(await openApiKey(key, lagging), { ok: true, claims }, 'openApiKey reloads and opens');
  t.same(openApiKeyNow(key, lagging), { ok: true, claims }, 'loaded now');
  t.equal(openApiKeyNow(key, encOnly), undefined, 'signing key not loaded: must wait');
  t.same(await openApiKey(key, encOnly), { ok: true, claims }, 'loaded in a second round');

  const unknown = await keyringOf(() => []);
  t.same(await openApiKey(key, unknown), { ok: false, reason: 'invalid' }, 'a kid no reload finds is invalid');

  for (const alg of SIGNING_ALGS.filter((a) => a !== 'HS256')) {
    const entries = await entriesOf(alg);
    const ring = await keyringOf(() => entries);
    const k = await sealApiKey(claims, ring);
    t.equal(openApiKeyNow(k, ring), undefined, `${alg}: jose checks the signature, asynchronously`);
    t.same(await openApiKey(k, ring), { ok: true, claims }, `${alg}: openApiKey opens it`);
  }
});
