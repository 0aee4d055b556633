import { webcrypto } from 'node:crypto';
import { CompactEncrypt, CompactSign, generateKeyPair } from 'jose';
import t from 'tap';
import { newToken } from '../../src/core/tokens.js';
import { buildTestApp } from '../helper.js';
import { issueStandalone, newUser, verify } from './setup.js';

/*
 * Attacks on the envelope: whatever a forger puts in the headers, verification is pinned to
 * dir + A256GCM and to the algorithm stored with each kid (SPEC §4.1). All answer `invalid`.
 */

const enc = new TextEncoder();
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

t.test('forged envelopes are invalid', async (t) => {
  const h = await buildTestApp(t);
  const uid = await newUser(h);
  const genuine = await issueStandalone(h, uid);
  const encKey = h.app.keyring.issuing('enc');
  const sigKey = h.app.keyring.issuing('sig');
  const now = Math.floor(h.clock.now() / 1000);
  const claims = { jti: genuine.key_id, tkn: newToken(), knd: 'standalone', iss: 'authnzd', aud: 'svc', sub: '/things', ver: 1, uid, rol: 'authenticated', iat: now, nbf: now, exp: now + 3600 };
  const payload = enc.encode(JSON.stringify(claims));

  const wrap = async (jws: string, header: Record<string, unknown> = {}, key = encKey.key) =>
    'azk_' + (await new CompactEncrypt(enc.encode(jws)).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: encKey.kid, ...header }).encrypt(key));

  const otherHmac = await webcrypto.subtle.importKey('raw', webcrypto.getRandomValues(new Uint8Array(32)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const es = await generateKeyPair('ES256');
  const cases: [string, () => Promise<string>][] = [
    ['inner alg none', async () => wrap(`${b64({ alg: 'none', kid: sigKey.kid })}.${Buffer.from(payload).toString('base64url')}.`)],
    ['inner signed with another HMAC key under the real kid', async () =>
      wrap(await new CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: sigKey.kid }).sign(otherHmac))],
    ['inner ES256 under the real kid (algorithm confusion)', async () =>
      wrap(await new CompactSign(payload).setProtectedHeader({ alg: 'ES256', kid: sigKey.kid }).sign(es.privateKey))],
    ['inner signed with an unknown kid', async () =>
      wrap(await new CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: 'sig-unknown' }).sign(otherHmac))],
    ['inner without kid', async () => wrap(await new CompactSign(payload).setProtectedHeader({ alg: 'HS256' }).sign(sigKey.key))],
    ['outer with an unknown kid', async () => wrap('x.y.z', { kid: 'enc-unknown' })],
    // A compact JWE (dir, A256GCM) under another key that names no kid, or a kid that is not a
    // string, is still a JWE: it cannot be decrypted (invalid), it is not malformed.
    ['outer without kid (another key)', async () =>
      'azk_' + (await new CompactEncrypt(enc.encode('x.y.z')).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(webcrypto.getRandomValues(new Uint8Array(32))))],
    ['outer without kid (the genuine key)', async () =>
      'azk_' + (await new CompactEncrypt(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'JWT' }).encrypt(encKey.key))],
    ['outer with a numeric kid', async () => wrap('x.y.z', { kid: 5 })],
    ['outer enc A128GCM', async () => {
      const k128 = await webcrypto.subtle.importKey('raw', webcrypto.getRandomValues(new Uint8Array(16)), { name: 'AES-GCM' }, false, ['encrypt']);
      return wrap(await new CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: sigKey.kid }).sign(sigKey.key), { enc: 'A128GCM' }, k128);
    }],
    ['outer alg A256KW', async () => {
      const kw = await webcrypto.subtle.importKey('raw', webcrypto.getRandomValues(new Uint8Array(32)), { name: 'AES-KW' }, false, ['wrapKey']);
      const jws = await new CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: sigKey.kid }).sign(sigKey.key);
      return 'azk_' + (await new CompactEncrypt(enc.encode(jws)).setProtectedHeader({ alg: 'A256KW', enc: 'A256GCM', kid: encKey.kid }).encrypt(kw));
    }],
    ['outer alg none-like header on a genuine body', async () => {
      const [, ...rest] = genuine.apikey.slice(4).split('.');
      return 'azk_' + [b64({ alg: 'none', enc: 'A256GCM', kid: encKey.kid }), ...rest].join('.');
    }],
    ['outer header with a member we never write (jku)', async () =>
      wrap(await new CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: sigKey.kid }).sign(sigKey.key), { jku: 'https://attacker.example/keys' })],
    ['inner header with crit (unencoded payload)', async () =>
      wrap(await new CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: sigKey.kid, crit: ['b64'], b64: true }).sign(sigKey.key))],
    ['outer tag cut to 12 bytes', async () => {
      const parts = genuine.apikey.slice(4).split('.');
      parts[4] = Buffer.from(parts[4]!, 'base64url').subarray(0, 12).toString('base64url');
      return 'azk_' + parts.join('.');
    }],
    ['outer IV of 16 bytes', async () => {
      const parts = genuine.apikey.slice(4).split('.');
      parts[2] = Buffer.concat([Buffer.from(parts[2]!, 'base64url'), Buffer.alloc(4)]).toString('base64url');
      return 'azk_' + parts.join('.');
    }],
    ['inner signature in non-canonical base64url (same bytes)', async () => {
      const jws = await new CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: sigKey.kid }).sign(sigKey.key);
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      // 32 bytes in 43 characters: the last one carries 2 unused bits; setting one keeps the bytes.
      const last = alphabet[alphabet.indexOf(jws.at(-1)!) + 1]!;
      const odd = jws.slice(0, -1) + last;
      t.same(Buffer.from(odd.split('.')[2]!, 'base64url'), Buffer.from(jws.split('.')[2]!, 'base64url'), 'same signature bytes');
      return wrap(odd);
    }],
    ['claims that do not match the schema', async () =>
      wrap(await new CompactSign(enc.encode(JSON.stringify({ ...claims, uid: 'root' }))).setProtectedHeader({ alg: 'HS256', kid: sigKey.kid }).sign(sigKey.key))],
  ];
  // The genuine key first: its two header texts are then remembered (envelope.ts), so every case
  // below that reuses a header or a kid meets a warm header memo.
  t.equal((await verify(h, genuine.apikey)).valid, true, 'the genuine key verifies');
  for (const [name, make] of cases) {
    t.equal((await verify(h, await make())).reason, 'invalid', name);
  }
  t.equal((await verify(h, genuine.apikey)).valid, true, 'and still verifies after the forgeries');
  // Control: the same construction with the genuine keys and the stored token would verify, so
  // the cases above fail for the reason named, not because the construction is wrong.
  const control = await wrap(await new CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: sigKey.kid }).sign(sigKey.key));
  t.equal((await verify(h, control)).reason, 'revoked', 'control: cryptographically valid, wrong token');
});
