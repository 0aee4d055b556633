import type { ClientWatch, ReadStamp, Store } from '../db/store.js';
import type { Client } from '../db/types.js';
import { hashToken, newId, newToken, safeEqual } from './tokens.js';

/** Client secrets are `azc_` + 256 random bits; the prefix makes leaked secrets easy to scan for. */
export const CLIENT_SECRET_PREFIX = 'azc_';

/**
 * How long a cached client answer is kept when nothing announces changes: on PostgreSQL while
 * the client watch is down (ClientAuthenticator).
 */
export const CLIENT_CACHE_TTL_MS = 1000;

export function clientMayCall(client: Pick<Client, 'actions'>, action: string): boolean {
  return client.actions.includes('*') || client.actions.includes(action);
}

export async function createClient(
  store: Store,
  input: { name: string; actions: string[]; secret?: string; now: number; by?: string },
): Promise<{ client: Client; secret: string }> {
  const secret = input.secret ?? newToken(CLIENT_SECRET_PREFIX);
  const client = await store.clients.create(
    { id: newId('cli_'), name: input.name, secretHash: hashToken(secret), actions: input.actions, createdAt: input.now },
    { event: 'client_create', outcome: 'success', client: input.by ?? null, subject: input.name, details: { actions: input.actions } },
  );
  return { client, secret };
}

/**
 * Resolves a presented client secret. The lookup is by SHA-256 (an index cannot be searched in
 * constant time, but it only ever sees the hash); the final comparison is constant-time.
 * Results are cached so the hot path does no database read for client auth. Clients are only
 * ever changed by the CLI (another process), so how long an answer may be kept depends on how
 * the store announces other processes' commits:
 *
 * - SQLite (a change stamp, `Store.readStamp`): an answer is kept while no other connection has
 *   committed since it was read, so a client revoked or added by the CLI is refused or accepted
 *   by the very next request. The stamp costs nothing more: the request reads it anyway for its
 *   memoised reads (read-memo.ts).
 * - PostgreSQL (a client watch, `Store.watchClients`, attached with `follow`): every change to
 *   the clients table notifies at commit (triggers: NOTIFY authnzd_clients), and each instance
 *   listens on a dedicated connection and drops the whole cache (`invalidate`) on each
 *   notification. While the watch is live an answer is kept until the next notification: a
 *   client revoked or added by the CLI is refused or accepted once the notification has arrived,
 *   normally within milliseconds of the commit (delivery is asynchronous: a request that races
 *   the notification by those milliseconds may still get the old answer). While the watch is
 *   down (the connection lost, or a heartbeat unanswered) an answer is kept at most `ttlMs` from
 *   when it was read, and the cache is dropped again when the watch listens again, since
 *   notifications sent meanwhile were lost. A dead network path that gives no error is noticed
 *   by the watch's heartbeat (db/postgres/listen.ts: within 4 s).
 * - A store with neither (test doubles): an answer is kept `ttlMs`.
 *
 * An answer read while a notification arrives is not cached (`generation`): it may predate the
 * change the notification announced. The in-memory cache is keyed by the presented string
 * itself: hashing it on every call cost 3% of a verify_apikey (issue 7), a Map lookup compares
 * strings only within one hash bucket (no timing oracle on the secret's bytes), the secret is in
 * this process's memory with every request anyway, and nothing of it is stored or logged.
 */
export class ClientAuthenticator {
  private cache = new Map<string, { client: Client | undefined; until: number; others: number | undefined }>();
  /** Bumped by every `invalidate`: an answer whose read began before the bump is not cached. */
  private generation = 0;
  private watch: Pick<ClientWatch, 'live'> | undefined;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    /** How long an answer is kept without a change stamp and without a live watch. */
    private readonly ttlMs = CLIENT_CACHE_TTL_MS,
    private readonly maxEntries = 1000,
  ) {}

  /** Keep answers until `invalidate` while `watch` is live (the caller calls `invalidate` on each change it announces). */
  follow(watch: Pick<ClientWatch, 'live'>): void {
    this.watch = watch;
    this.invalidate();
  }

  /**
   * The cached answer for `secret`, if one is still fresh (the hot path: no promise). `at`: the
   * request's change stamp, read when it arrived (`Store.readStamp`), on stores that have one.
   */
  cached(secret: string, at?: ReadStamp): { client: Client | undefined } | undefined {
    const hit = this.cache.get(secret);
    if (hit === undefined) return undefined;
    if (at !== undefined) return hit.others === at.others ? hit : undefined;
    if (this.watch?.live) return hit;
    return hit.until > this.now() ? hit : undefined;
  }

  /** `at` as for `cached`: it must have been read before this call (it stamps the answer). */
  async authenticate(secret: string, at?: ReadStamp): Promise<Client | undefined> {
    const hit = this.cached(secret, at);
    if (hit !== undefined) return hit.client;
    const t = this.now();
    const generation = this.generation;
    const hash = hashToken(secret);
    const client = await this.store.clients.findLiveBySecretHash(hash);
    const ok = client !== undefined && safeEqual(client.secretHash, hash) ? client : undefined;
    if (generation !== this.generation) return ok; // a change was announced meanwhile: do not keep it
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(secret, { client: ok, until: t + this.ttlMs, others: at?.others });
    return ok;
  }

  /** Drops every cached answer (a change to the clients table was announced, or may have been missed). */
  invalidate(): void {
    this.generation++;
    this.cache.clear();
  }
}
