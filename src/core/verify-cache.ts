import type { Claims } from '../crypto/envelope.js';

/**
 * Bounded cache of decrypt-and-verify results (the crypto is 75–80% of a cold verify). Keyed by
 * a hash of the whole key string, never by `jti` alone, so a tampered key never hits an entry of
 * the genuine one. Entries die at the key's `exp`. Only the cryptographic result is cached:
 * revocation and the owner's state are read from the database on every verify.
 */
export class VerifyCache {
  private entries = new Map<string, Claims>();

  constructor(private readonly maxEntries = 10_000) {}

  get size(): number {
    return this.entries.size;
  }

  get(keyHash: string, nowMs: number): Claims | undefined {
    const claims = this.entries.get(keyHash);
    if (claims === undefined) return undefined;
    if (claims.exp * 1000 <= nowMs) {
      this.entries.delete(keyHash);
      return undefined;
    }
    // Refresh recency: Map keeps insertion order, so re-inserting makes this the newest.
    this.entries.delete(keyHash);
    this.entries.set(keyHash, claims);
    return claims;
  }

  set(keyHash: string, claims: Claims, nowMs: number): void {
    if (claims.exp * 1000 <= nowMs) return;
    this.entries.delete(keyHash);
    this.entries.set(keyHash, claims);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
