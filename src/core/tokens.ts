import { hash, timingSafeEqual } from 'node:crypto';
import { secureRandomBytes } from '../crypto/random.js';

/**
 * Random secrets and their at-rest form. Every token handed out (sessions, API key `tkn`,
 * refresh, verification, reset, client secrets) is 256 bits from the CSPRNG; only its SHA-256
 * is stored, so a database leak yields nothing usable.
 */

/** 256 random bits, base64url (43 characters), with an optional readable prefix. */
export function newToken(prefix = ''): string {
  return prefix + secureRandomBytes(32).toString('base64url');
}

/** Opaque public id (sessions, clients, key ids): 128 random bits. */
export function newId(prefix = ''): string {
  return prefix + secureRandomBytes(16).toString('base64url');
}

/** SHA-256 hex of a token. Tokens are high-entropy, so a fast unsalted hash is the right tool. */
export function hashToken(token: string): string {
  // One-shot crypto.hash (Node ≥ 20.12): no Hash object per call, about half of createHash's cost.
  return hash('sha256', token, 'hex');
}

/** Constant-time equality for secrets and their hashes. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
