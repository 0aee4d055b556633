import { createCipheriv, createDecipheriv, createHmac, KeyObject, timingSafeEqual, type webcrypto } from 'node:crypto';
import { CompactSign, compactVerify, type CryptoKey } from 'jose';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { BoundedMap } from '../bounded-map.js';
import { ENCRYPTION_ALG, type Keyring, type LoadedKey } from './keyring.js';
import { secureRandomBytes } from './random.js';

/*
 * The API-key envelope (SPEC §4.1): `azk_` + a compact JWE (`alg: dir`, `enc: A256GCM`, `kid`)
 * whose plaintext is a compact JWS (`kid`) of the claims. Encryption hides the claims (user id,
 * role, bound IP) from the holder; the signature makes them unforgeable without the signing key.
 * Verification pins `dir`, A256GCM and the signing algorithm stored with each kid, so a header
 * naming another algorithm, `alg: none`, an unknown kid or any flipped byte is `invalid`.
 */

export const PREFIX = 'azk_';

/**
 * The longest string taken for an API key: verify answers `malformed` for a longer one before
 * any other work (docs/apikeys.md). Issue refuses to make keys longer than
 * MAX_ISSUED_APIKEY_LENGTH: the gap leaves room for a refresh after a rotation to a longer
 * signature (ES256 and EdDSA signatures are 43 base64url characters longer than HS256's, about
 * 58 once encrypted), so every key issued stays verifiable and refreshable.
 */
export const MAX_APIKEY_LENGTH = 32_768;
export const MAX_ISSUED_APIKEY_LENGTH = MAX_APIKEY_LENGTH - 256;

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

/*
 * Sealing and opening use node:crypto synchronously for `dir` + A256GCM and HS256: the same
 * RFC 7515/7516 serialisation jose makes, at a tenth of jose's cost through WebCrypto's thread
 * pool (open ≈ 15 µs against 70–180 µs per key, seal ≈ 20 against 120 µs; issue 7). Every header
 * is pinned by hand as jose's allowlists would: exact algorithms, only the members we write (so
 * no `crit`, `jku`, `zip`…), canonical base64url, a 96-bit IV and a full 128-bit tag. ES256 and
 * EdDSA signatures are made and checked by jose, with the key's algorithm as the only one allowed.
 */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();
function keyObject(key: CryptoKey): KeyObject {
  let k = keyObjects.get(key);
  if (!k) {
    k = KeyObject.from(key as unknown as webcrypto.CryptoKey);
    keyObjects.set(key, k);
  }
  return k;
}

const b64url = (text: string) => Buffer.from(text).toString('base64url');

async function sign(payload: string, sig: LoadedKey): Promise<string> {
  const header = { alg: sig.alg, kid: sig.kid, typ: 'JWT' };
  if (sig.alg !== 'HS256') return new CompactSign(enc.encode(payload)).setProtectedHeader(header).sign(sig.key);
  const input = `${b64url(JSON.stringify(header))}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', keyObject(sig.key)).update(input).digest('base64url')}`;
}

/** JWE compact serialisation with `alg: dir`: header, empty encrypted key, IV, ciphertext, tag. */
function encryptDir(plaintext: string, encKey: LoadedKey): string {
  const header = b64url(JSON.stringify({ alg: 'dir', enc: ENCRYPTION_ALG, kid: encKey.kid, cty: 'JWT' }));
  const iv = secureRandomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyObject(encKey.key), iv);
  cipher.setAAD(Buffer.from(header, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${header}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}

/** Signs and encrypts the claims with the keyring's issuing keys. */
export async function sealApiKey(claims: Claims, keyring: Keyring): Promise<string> {
  const sig = keyring.issuing('sig');
  const encKey = keyring.issuing('enc');
  return PREFIX + encryptDir(await sign(JSON.stringify(claims), sig), encKey);
}

/** Decodes base64url, refusing anything but the canonical (unpadded, zero trailing bits) form. */
function unb64(part: string): Buffer | undefined {
  const buf = Buffer.from(part, 'base64url');
  return buf.toString('base64url') === part ? buf : undefined;
}

/** The JSON value of UTF-8 bytes; undefined when they are not JSON (JSON has no undefined). */
function jsonOf(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

type Header = Readonly<Record<string, unknown>> & { readonly kid: string };

/**
 * Parsed protected headers by their base64url text. Every key sealed with the same keys carries
 * the same two header parts, so a never-seen key's headers are almost always known already: the
 * decode, the canonical check and the JSON parse are done once per text, not twice per key.
 * Keyed by the whole text, the memo gives the answer parsing that text gives, and both texts
 * are authenticated anyway (the JWE's is the AES-GCM AAD, the JWS's is signed). Only well-formed
 * headers are kept (frozen); the bound keeps made-up ones from growing it.
 */
const headers = new BoundedMap<string, Header>(256);

/** A protected header: a JSON object with a string `kid`; undefined when it is not one. */
function protectedHeader(part: string): Header | undefined {
  const known = headers.get(part);
  if (known !== undefined) return known;
  const raw = unb64(part);
  if (raw === undefined) return undefined;
  const h = jsonOf(raw);
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return undefined;
  if (typeof (h as { kid?: unknown }).kid !== 'string') return undefined;
  const header = Object.freeze(h) as Header;
  headers.set(part, header);
  return header;
}

/**
 * True when a part is the base64url of a JSON object. A JWE whose protected header is one but has
 * no string `kid` is still a JWE (SPEC §4.2: `malformed` is "not azk_ + a JWE"): no key of the
 * keyring can open it, so it is `invalid`, like one naming an unknown kid. Only asked on refusal.
 */
function isJsonObject(part: string): boolean {
  const raw = unb64(part);
  const h = raw === undefined ? undefined : jsonOf(raw);
  return typeof h === 'object' && h !== null && !Array.isArray(h);
}

/** True when the header has no member outside `allowed` (so no `crit`, `jku`, `zip`, `b64`…). */
function onlyMembers(h: Readonly<Record<string, unknown>>, allowed: ReadonlySet<string>): boolean {
  for (const k of Object.keys(h)) if (!allowed.has(k)) return false;
  return true;
}

const JWE_MEMBERS = new Set(['alg', 'enc', 'kid', 'cty']);
const JWS_MEMBERS = new Set(['alg', 'kid', 'typ']);
const INVALID: OpenResult = { ok: false, reason: 'invalid' };
const MALFORMED: OpenResult = { ok: false, reason: 'malformed' };

/** AES-256-GCM decryption of a `dir` JWE (RFC 7516 §5.2); undefined on any failure. */
function decryptDir(parts: string[], encKey: LoadedKey): Buffer | undefined {
  const [header, , ivPart, ctPart, tagPart] = parts as [string, string, string, string, string];
  const iv = unb64(ivPart);
  const ct = unb64(ctPart);
  const tag = unb64(tagPart);
  if (iv?.length !== 12 || tag?.length !== 16 || ct === undefined) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyObject(encKey.key), iv, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(header, 'ascii'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    return undefined;
  }
}

/**
 * Where an open stops when it cannot finish without waiting: a key it names is not loaded (the
 * keyring reloads, in case another instance has just rotated), or the signature is asymmetric
 * (jose checks it, asynchronously).
 */
type Pending = { load: string; use: 'enc' | 'sig' } | { jose: string; key: LoadedKey };

/** The claims of a verified payload, when they have the claims' shape. */
function claimsOf(payload: Buffer | undefined): OpenResult {
  if (payload === undefined) return INVALID;
  const claims = jsonOf(payload);
  return checkClaims.Check(claims) ? { ok: true, claims } : INVALID;
}

/**
 * Every step of an open that needs no waiting: the JWE's shape and header, its decryption, the
 * JWS's shape and header, an HS256 signature and the claims. Stops at the first refusal, or where
 * it must wait (Pending).
 */
function openSteps(apikey: string, keyring: Keyring): OpenResult | Pending {
  if (!apikey.startsWith(PREFIX)) return MALFORMED;
  const jwe = apikey.slice(PREFIX.length);
  if (!JWE_SHAPE.test(jwe)) return MALFORMED;
  const parts = jwe.split('.');
  const h = protectedHeader(parts[0]!);
  if (h === undefined) return isJsonObject(parts[0]!) ? INVALID : MALFORMED;
  if (h.alg !== 'dir' || h.enc !== ENCRYPTION_ALG || parts[1] !== '' || !onlyMembers(h, JWE_MEMBERS)) return INVALID;
  const encKey = keyring.get(h.kid, 'enc');
  if (encKey === undefined) return { load: h.kid, use: 'enc' };
  const plaintext = decryptDir(parts, encKey);
  if (plaintext === undefined) return INVALID;

  const jws = plaintext.toString('utf8');
  const jwsParts = jws.split('.');
  if (jwsParts.length !== 3) return INVALID;
  const [headerPart, payloadPart, sigPart] = jwsParts as [string, string, string];
  const sh = protectedHeader(headerPart);
  if (sh === undefined || !onlyMembers(sh, JWS_MEMBERS)) return INVALID;
  const sigKey = keyring.get(sh.kid, 'sig');
  if (sigKey === undefined) return { load: sh.kid, use: 'sig' };
  if (sh.alg !== sigKey.alg) return INVALID;
  if (sigKey.alg !== 'HS256') return { jose: jws, key: sigKey };
  const sig = unb64(sigPart);
  const mac = createHmac('sha256', keyObject(sigKey.verifyKey)).update(`${headerPart}.${payloadPart}`).digest();
  return claimsOf(sig !== undefined && sig.length === mac.length && timingSafeEqual(sig, mac) ? unb64(payloadPart) : undefined);
}

/**
 * Decrypts and verifies an API key without a promise, when nothing has to wait: its keys loaded
 * and an HS256 signature (the default). Undefined otherwise; `openApiKey` then does it all. No
 * time or database check here: see core/apikey-verify.
 */
export function openApiKeyNow(apikey: string, keyring: Keyring): OpenResult | undefined {
  const r = openSteps(apikey, keyring);
  return 'ok' in r ? r : undefined;
}

/** Decrypts and verifies an API key, loading the keys it names when they are new here. */
export async function openApiKey(apikey: string, keyring: Keyring): Promise<OpenResult> {
  // Each round loads at most one key (the encryption key, then the signing key), and the steps
  // start again: a key that needed loading is rare (a rotation by another instance), so the
  // repeated decryption costs nothing that matters.
  for (let round = 0; round < 3; round++) {
    const r = openSteps(apikey, keyring);
    if ('ok' in r) return r;
    if ('jose' in r) {
      try {
        return claimsOf(Buffer.from((await compactVerify(r.jose, r.key.verifyKey, { algorithms: [r.key.alg] })).payload));
      } catch {
        return INVALID;
      }
    }
    if (await keyring.find(r.load, r.use) === undefined) return INVALID;
  }
  return INVALID;
}
