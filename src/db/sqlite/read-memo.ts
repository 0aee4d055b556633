import type Database from 'better-sqlite3';
import { BoundedMap } from '../../bounded-map.js';
import type { ReadStamp } from '../store.js';

/*
 * Reads that repeat on every request (the verify path's key row, a session with its user, a
 * user by id) are kept in memory and served again only while the database is provably unchanged
 * since they were read (issue 7: in the service such a read cost 15–25 µs of a 120 µs verify).
 *
 * "Unchanged" is a stamp of two numbers from this connection:
 * - `PRAGMA data_version` changes whenever another connection committed: another authnzd
 *   process on the same file, the CLI (`authnzd user lock`), any other writer;
 * - `total_changes()` counts the rows this connection inserted, updated or deleted (a rolled
 *   back change still counts: the memo is then emptied for nothing, never kept wrongly).
 * Any write anywhere therefore invalidates every entry; the next read of each key goes to the
 * database again. This is what SPEC §4.3 asks of a cache of revocation state: a revocation
 * committed by any instance is seen by the next verify of every instance. Taking the stamp costs
 * a read transaction (a lock, no b-tree), about half of an indexed read.
 *
 * The stamp is taken before the read: a commit that lands between the two leaves the entry with
 * an older stamp (read again next time), never a newer stamp on older data.
 *
 * One stamp per request: a request reads the stamp once when it arrives (`ChangeStamp.read`, in
 * client authentication, which also checks its cached client against it) and passes it to the
 * reads it makes (`get(key, at)`). That stamp was read after the request arrived, so it reflects
 * every commit that finished before the request was sent, the guarantee asked for; a commit
 * that lands while the request is being handled is concurrent with it and may or may not be
 * seen. An entry is then kept under the request's stamp, which may be older than the data read
 * (never the other way round), so a later request, whose stamp is newer, reads again. Every SQLite write
 * of this process is a synchronous better-sqlite3 call (transactions included), so no read of
 * this connection can see a transaction half done.
 *
 * A key is kept from its second read on. Its first read goes straight to the database, without
 * the stamp, and is not kept: a key asked for once (an API key verified once, the cold-key
 * scenario of the bench) would otherwise cost three statements instead of one, and an entry
 * nobody reads again. Keys seen are remembered (as keys only) in a bounded set of the same size.
 * Measured: cold-key verify 240–248 → 222–235 µs of CPU per request (bench/profile.ts, alternating
 * runs); a key in use pays one more read, once.
 *
 * Values are frozen (deeply) before they are kept: callers share them. A first read's value is
 * the caller's own, not frozen.
 */

/** The change stamp of one connection. */
export class ChangeStamp {
  private readonly dataVersion: Database.Statement<[], number>;
  private readonly totalChanges: Database.Statement<[], number>;
  /** Changes made through `unseen`, left out of `own()`. */
  private unseenChanges = 0;

  constructor(raw: Database.Database) {
    this.dataVersion = raw.prepare<[], number>('PRAGMA data_version').pluck();
    this.totalChanges = raw.prepare<[], number>('SELECT total_changes()').pluck();
  }

  /** Other connections' commits (the number changes when there was one). */
  others(): number {
    return this.dataVersion.get()!;
  }

  /** Both numbers, now: the stamp of one request (`Store.readStamp`). */
  read(): ReadStamp {
    return { others: this.dataVersion.get()!, own: this.own() };
  }

  /** This connection's changed rows so far, less those of `unseen` writes. */
  own(): number {
    return this.totalChanges.get()! - this.unseenChanges;
  }

  /**
   * Runs a synchronous write that no memoised read can see, and leaves the stamp as it was: the
   * API-key usage flush (`use_count`, `last_used_at`), which no memo reads. Without it every
   * flush (every 4 s under traffic) sent the next verify of every key back to the database.
   * Only this connection's stamp is spared: other processes see the commit, as any other.
   */
  unseen<T>(write: () => T): T {
    const before = this.totalChanges.get()!;
    try {
      return write();
    } finally {
      this.unseenChanges += this.totalChanges.get()! - before;
    }
  }
}

interface Entry<V> {
  others: number;
  own: number;
  value: V;
}

/** Default bound of each memo (entries; bounded-map.ts: the oldest half is dropped at once). */
export const READ_MEMO_ENTRIES = 10_000;

export class ReadMemo<K, V extends object> {
  private readonly entries: BoundedMap<K, Entry<V>>;
  /** Keys read before (without an entry now, the next read keeps one). */
  private readonly seen: BoundedMap<K, true>;

  /** `read` is the uncached read; undefined answers (nothing found) are never kept. */
  constructor(
    private readonly stamp: ChangeStamp,
    private readonly read: (key: K) => V | undefined,
    max = READ_MEMO_ENTRIES,
  ) {
    this.entries = new BoundedMap(max);
    this.seen = new BoundedMap(max);
  }

  /** `at`: the caller's request stamp; without it the stamp is read now. */
  get(key: K, at?: ReadStamp): V | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined && this.firstSight(key)) return this.read(key);
    const others = at === undefined ? this.stamp.others() : at.others;
    const own = at === undefined ? this.stamp.own() : at.own;
    if (hit !== undefined && hit.others === others && hit.own === own) return hit.value;
    const value = this.read(key);
    if (value === undefined) {
      if (hit !== undefined) this.entries.delete(key);
      return undefined;
    }
    this.entries.set(key, { others, own, value: deepFreeze(value) });
    return value;
  }

  get size(): number {
    return this.entries.size;
  }

  /** True the first time `key` is asked for (among the last `max` keys), and remembers it. */
  private firstSight(key: K): boolean {
    if (this.seen.get(key) !== undefined) return false;
    this.seen.set(key, true);
    return true;
  }
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k in v) {
      const inner = v[k];
      if (typeof inner === 'object' && inner !== null) deepFreeze(inner);
    }
  }
  return v;
}
