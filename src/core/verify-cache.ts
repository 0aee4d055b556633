import { BoundedMap } from '../bounded-map.js';
import type { Claims } from '../crypto/envelope.js';
import type { VerifiedKey } from './apikey-verify.js';

/** An opened key as the verify path needs it; what is derived from the claims is computed once. */
export interface OpenedKey {
  claims: Claims;
  /** SHA-256 of `tkn`, compared with the stored hash on every verify. */
  tknHash: string;
  /** `exp` as ISO 8601, for the answer. */
  expiresIso: string;
  /** A user agent already found to hash to `usa`: the same string again needs no SHA-256. */
  userAgentSeen?: string;
  /** The last database row (frozen, from the SQLite read memo) this key passed the row checks with. */
  rowPassed?: object;
  /** The per-key verify limit's counter key, built once. */
  limitKey?: string;
  /** The answer to a valid verify of this key, built once. */
  accepted?: { readonly valid: true; readonly key: Readonly<VerifiedKey> };
}

/** Characters at the end of a key that name its cache slot: the JWE tag (128 random-looking bits). */
const SLOT_CHARS = 22;

/**
 * Bounded cache of decrypt-and-verify results (bounded-map.ts: the oldest half goes at once, a
 * key in use stays; a key evicted while in use is opened again, ~25 µs). An entry is found by
 * the key's last 22 characters (its JWE authentication tag) and served only when the whole key
 * string equals the one it was opened from, never by `jti` alone, so a tampered key never hits
 * an entry of the genuine one. (The Map hashed the whole 800-character string of every request
 * otherwise, 1.5 µs; a different key with the same tail only shares the slot: a miss, then a
 * replacement.) No hash of the key: the entry already holds the decrypted claims, `tkn`
 * included, so the string adds no secret.
 * Entries die at the key's `exp`. Only the cryptographic result (and what derives from it) is
 * cached here: revocation and the owner's state come from the store on every verify (on SQLite
 * through its read memo, see db/sqlite/read-memo.ts). 10,000 entries ≈ 20 MB at most.
 */
export class VerifyCache {
  private readonly entries: BoundedMap<string, { apikey: string; opened: OpenedKey }>;

  constructor(maxEntries = 10_000) {
    this.entries = new BoundedMap(maxEntries);
  }

  get size(): number {
    return this.entries.size;
  }

  get(apikey: string, nowMs: number): OpenedKey | undefined {
    const slot = apikey.slice(-SLOT_CHARS);
    const e = this.entries.get(slot);
    if (e === undefined || e.apikey !== apikey) return undefined;
    if (e.opened.claims.exp * 1000 <= nowMs) {
      this.entries.delete(slot);
      return undefined;
    }
    return e.opened;
  }

  set(apikey: string, opened: OpenedKey, nowMs: number): void {
    if (opened.claims.exp * 1000 <= nowMs) return;
    this.entries.set(apikey.slice(-SLOT_CHARS), { apikey, opened });
  }

  clear(): void {
    this.entries.clear();
  }
}
