import { CompactEncrypt, CompactSign, compactDecrypt, compactVerify, decodeProtectedHeader } from 'jose';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { ENCRYPTION_ALG, type Keyring } from './keyring.js';

/*
 * The API-key envelope (SPEC §4.1): `azk_` + a compact JWE (`alg: dir`, `enc: A256GCM`, `kid`)
 * whose plaintext is a compact JWS (`kid`) of the claims. Encryption hides the claims (user id,
 * role, bound IP) from the holder; the signature makes them unforgeable without the signing key.
 * Verification pins `dir`, A256GCM and the signing algorithm stored with each kid, so a header
 * naming another algorithm, `alg: none`, an unknown kid or any flipped byte is `invalid`.
 */

export const PREFIX = 'azk_';

export const Claims = Type.Object({
  jti: Type.String({ minLength: 1, maxLength: 64 }),
  tkn: Type.String({ minLength: 43, maxLength: 43 }),
  knd: Type.Union([Type.Literal('session'), Type.Literal('standalone')]),
  iss: Type.String(),
  aud: Type.String(),
  sub: Type.Union([Type.String(), Type.Array(Type.String())]),
  ver: Type.Union([Type.String(), Type.Integer()]),
  uid: Type.Integer(),
  rol: Type.String(),
  scp: Type.Optional(Type.Array(Type.String())),
  ipa: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  usa: Type.Optional(Type.String()),
  iat: Type.Integer(),
  nbf: Type.Integer(),
  exp: Type.Integer(),
});
export type Claims = Static<typeof Claims>;
const checkClaims = Compile(Claims);

export type OpenResult = { ok: true; claims: Claims } | { ok: false; reason: 'malformed' | 'invalid' };

const JWE_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Signs and encrypts the claims with the keyring's issuing keys. */
export async function sealApiKey(claims: Claims, keyring: Keyring): Promise<string> {
  const sig = keyring.issuing('sig');
  const encKey = keyring.issuing('enc');
  const jws = await new CompactSign(enc.encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: sig.alg, kid: sig.kid, typ: 'JWT' })
    .sign(sig.key);
  const jwe = await new CompactEncrypt(enc.encode(jws))
    .setProtectedHeader({ alg: 'dir', enc: ENCRYPTION_ALG, kid: encKey.kid, cty: 'JWT' })
    .encrypt(encKey.key);
  return PREFIX + jwe;
}

function kidOf(token: string): string | undefined {
  try {
    const kid = decodeProtectedHeader(token).kid;
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}

/** Decrypts and verifies an API key. No time or database check here: see core/apikey-verify. */
export async function openApiKey(apikey: string, keyring: Keyring): Promise<OpenResult> {
  if (!apikey.startsWith(PREFIX)) return { ok: false, reason: 'malformed' };
  const jwe = apikey.slice(PREFIX.length);
  if (!JWE_SHAPE.test(jwe)) return { ok: false, reason: 'malformed' };
  const encKid = kidOf(jwe);
  if (encKid === undefined) return { ok: false, reason: 'malformed' };
  try {
    const encKey = await keyring.find(encKid, 'enc');
    if (!encKey) return { ok: false, reason: 'invalid' };
    const { plaintext } = await compactDecrypt(jwe, encKey.key, {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: [ENCRYPTION_ALG],
    });
    const jws = dec.decode(plaintext);
    const sigKid = kidOf(jws);
    const sigKey = sigKid === undefined ? undefined : await keyring.find(sigKid, 'sig');
    if (!sigKey) return { ok: false, reason: 'invalid' };
    const { payload } = await compactVerify(jws, sigKey.verifyKey, { algorithms: [sigKey.alg] });
    const claims: unknown = JSON.parse(dec.decode(payload));
    return checkClaims.Check(claims) ? { ok: true, claims } : { ok: false, reason: 'invalid' };
  } catch {
    // Any decryption, signature, header or JSON failure: the key was not made by this keyring.
    return { ok: false, reason: 'invalid' };
  }
}
