import type { ApiKeyStore } from './store/apikeys.js';
import type { AuditStore } from './store/audit.js';
import type { ClientStore } from './store/clients.js';
import type { KeyringStore } from './store/keyring.js';
import type { SessionStore } from './store/sessions.js';
import type { UserStore } from './store/users.js';

/** A change stamp (`Store.readStamp`): opaque outside the SQLite store. */
export interface ReadStamp {
  /** Other connections' commits (`PRAGMA data_version`). */
  readonly others: number;
  /** This connection's changed rows. */
  readonly own: number;
}

/**
 * The storage contract. One implementation per dialect (db/sqlite, db/postgres); core code
 * sees only this. Every multi-statement change is one intent-named method that runs in a
 * single transaction together with its audit row.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly clients: ClientStore;
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly audit: AuditStore;
  readonly apikeys: ApiKeyStore;
  readonly keyring: KeyringStore;
  /**
   * Runs `fn` while holding a lock shared by every instance on this database (PostgreSQL
   * advisory lock), so instances starting together on an empty database seed it once.
   */
  withStartupLock<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Stores whose hot reads are memoised (SQLite, read-memo.ts): the change stamp, read now. A
   * request reads it once, as soon as it arrives (client authentication), and hands it to every
   * memoised read it makes and to the client cache: a stamp read after the request arrived sees
   * every commit that finished before it arrived, which is all SPEC §4.3 asks, so one read per
   * request serves them all. Absent on PostgreSQL, which reads every time.
   */
  readStamp?(): ReadStamp;
  /** Cheap round trip for /ready. Throws when the database cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
