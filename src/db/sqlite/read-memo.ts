import type Database from 'better-sqlite3';
import { BoundedMap } from '../../bounded-map.js';

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
 * A read that can carry the stamp selects it with the row (`STAMP_COLUMNS`): one statement, one
 * read transaction, so the stamp and the row come from the same snapshot, and a never-seen key
 * costs one trip into SQLite, not three. A read that cannot (a drizzle query) is stamped before
 * it runs (`stampedBefore`): a commit that lands between the two leaves the entry with an older
 * stamp (read again next time), never a newer stamp on older data. Every SQLite write of this
 * process is a synchronous better-sqlite3 call (transactions included), so no read of this
 * connection can see a transaction half done.
 *
 * Values are frozen (deeply) before they are kept: callers share them.
 */

/** The change stamp of one connection. */
export class ChangeStamp {
  private readonly dataVersion: Database.Statement<[], number>;
  private readonly totalChanges: Database.Statement<[], number>;

  constructor(raw: Database.Database) {
    this.dataVersion = raw.prepare<[], number>('PRAGMA data_version').pluck();
    this.totalChanges = raw.prepare<[], number>('SELECT total_changes()').pluck();
  }

  /** Other connections' commits (the number changes when there was one). */
  others(): number {
    return this.dataVersion.get()!;
  }

  /** This connection's changed rows so far. */
  own(): number {
    return this.totalChanges.get()!;
  }
}

/** A value read, with the stamp the database had when it was read. */
export interface Stamped<V> {
  others: number;
  own: number;
  value: V;
}

/**
 * The stamp as two more columns of a SELECT (`stampOthers`, `stampOwn`), read in the same
 * transaction as the row. `pragma_data_version` is `PRAGMA data_version` as a table.
 */
export const STAMP_COLUMNS = '(SELECT data_version FROM pragma_data_version) AS stampOthers, total_changes() AS stampOwn';

/** An uncached read that cannot carry the stamp columns, stamped just before it runs. */
export function stampedBefore<K, V>(stamp: ChangeStamp, read: (key: K) => V | undefined): (key: K) => Stamped<V> | undefined {
  return (key) => {
    const others = stamp.others();
    const own = stamp.own();
    const value = read(key);
    return value === undefined ? undefined : { others, own, value };
  };
}

/** Default bound of each memo (entries; bounded-map.ts: the oldest half is dropped at once). */
export const READ_MEMO_ENTRIES = 10_000;

export class ReadMemo<K, V extends object> {
  private readonly entries: BoundedMap<K, Stamped<V>>;

  /** `read` is the uncached, stamped read; undefined answers (nothing found) are never kept. */
  constructor(
    private readonly stamp: ChangeStamp,
    private readonly read: (key: K) => Stamped<V> | undefined,
    max = READ_MEMO_ENTRIES,
  ) {
    this.entries = new BoundedMap(max);
  }

  get(key: K): V | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.others === this.stamp.others() && hit.own === this.stamp.own()) return hit.value;
    const read = this.read(key);
    if (read === undefined) {
      if (hit !== undefined) this.entries.delete(key);
      return undefined;
    }
    deepFreeze(read.value);
    this.entries.set(key, read);
    return read.value;
  }

  get size(): number {
    return this.entries.size;
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
