import type { Claims } from '../crypto/envelope.js';

/** An opened key as the verify path needs it; what is derived from the claims is computed once. */
export interface OpenedKey {
  claims: Claims;
  /** SHA-256 of `tkn`, compared with the stored hash on every verify. */
  tknHash: string;
  /** `exp` as ISO 8601, for the answer. */
  expiresIso: string;
  /** A user agent already found to hash to `usa`: the same string again needs no SHA-256. */
  userAgentSeen?: string;
}

/**
 * Bounded FIFO cache of decrypt-and-verify results (the oldest insertion goes first: no reordering
 * on a hit, which cost two more Map operations on a long key per verify; a key evicted while in
 * use is opened again, ~15 µs). Keyed by the whole key string (Map compares it
 * exactly), never by `jti` alone, so a tampered key never hits an entry of the genuine one. No
 * hash of the key: the entry already holds the decrypted claims, `tkn` included, so the string
 * adds no secret, and hashing 800+ characters per verify cost more than the lookup it guards.
 * Entries die at the key's `exp`. Only the cryptographic result is cached: revocation and the
 * owner's state are read from the database on every verify. 10,000 entries ≈ 20 MB at most.
 */
export class VerifyCache {
  private entries = new Map<string, OpenedKey>();

  constructor(private readonly maxEntries = 10_000) {}

  get size(): number {
    return this.entries.size;
  }

  get(apikey: string, nowMs: number): OpenedKey | undefined {
    const opened = this.entries.get(apikey);
    if (opened === undefined) return undefined;
    if (opened.claims.exp * 1000 <= nowMs) {
      this.entries.delete(apikey);
      return undefined;
    }
    return opened;
  }

  set(apikey: string, opened: OpenedKey, nowMs: number): void {
    if (opened.claims.exp * 1000 <= nowMs) return;
    this.entries.delete(apikey);
    this.entries.set(apikey, opened);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
