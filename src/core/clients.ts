import type { ReadStamp, Store } from '../db/store.js';
import type { Client } from '../db/types.js';
import { hashToken, newId, newToken, safeEqual } from './tokens.js';

/** Client secrets are `azc_` + 256 random bits; the prefix makes leaked secrets easy to scan for. */
export const CLIENT_SECRET_PREFIX = 'azc_';

export function clientMayCall(client: Pick<Client, 'actions'>, action: string): boolean {
  return client.actions.includes('*') || client.actions.includes(action);
}

export async function createClient(
  store: Store,
  input: { name: string; actions: string[]; secret?: string; now: number },
): Promise<{ client: Client; secret: string }> {
  const secret = input.secret ?? newToken(CLIENT_SECRET_PREFIX);
  const client = await store.clients.create(
    { id: newId('cli_'), name: input.name, secretHash: hashToken(secret), actions: input.actions, createdAt: input.now },
    { event: 'client_create', outcome: 'success', subject: input.name, details: { actions: input.actions } },
  );
  return { client, secret };
}

/**
 * Resolves a presented client secret. The lookup is by SHA-256 (an index cannot be searched in
 * constant time, but it only ever sees the hash); the final comparison is constant-time.
 * Results are cached so the hot path does no database read for client auth. On a store with a
 * change stamp (SQLite) an answer is kept while no other connection has committed since it was
 * read: a client revoked or added by the CLI (another process) is seen by the next request, and
 * the stamp costs nothing more, since the request reads it anyway for its memoised reads
 * (read-memo.ts). Clients are only ever changed by the CLI. Without a stamp (PostgreSQL) an
 * answer is kept `ttlMs`: a revoked client stops working within it. The in-memory cache is keyed by the presented string
 * itself: hashing it on every call cost 3% of a verify_apikey (issue 7), a Map lookup compares
 * strings only within one hash bucket (no timing oracle on the secret's bytes), the secret is in
 * this process's memory with every request anyway, and nothing of it is stored or logged.
 */
export class ClientAuthenticator {
  private cache = new Map<string, { client: Client | undefined; until: number; others: number | undefined }>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly ttlMs = 5000,
    private readonly maxEntries = 1000,
  ) {}

  /**
   * The cached answer for `secret`, if one is still fresh (the hot path: no promise). `at`: the
   * request's change stamp, read when it arrived (`Store.readStamp`), on stores that have one.
   */
  cached(secret: string, at?: ReadStamp): { client: Client | undefined } | undefined {
    const hit = this.cache.get(secret);
    if (hit === undefined) return undefined;
    if (at !== undefined) return hit.others === at.others ? hit : undefined;
    return hit.until > this.now() ? hit : undefined;
  }

  /** `at` as for `cached`: it must have been read before this call (it stamps the answer). */
  async authenticate(secret: string, at?: ReadStamp): Promise<Client | undefined> {
    const hit = this.cached(secret, at);
    if (hit !== undefined) return hit.client;
    const t = this.now();
    const hash = hashToken(secret);
    const client = await this.store.clients.findLiveBySecretHash(hash);
    const ok = client !== undefined && safeEqual(client.secretHash, hash) ? client : undefined;
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(secret, { client: ok, until: t + this.ttlMs, others: at?.others });
    return ok;
  }

  invalidate(): void {
    this.cache.clear();
  }
}
