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

/** What a client watch reports (`Store.watchClients`). */
export interface ClientWatchEvents {
  /**
   * The clients table changed (a commit was announced), or changes may have been missed: called
   * after every (re)connection too, once the watch listens again.
   */
  onChange(): void;
  /**
   * The watch came up (`live: true`) or went down; `reason` is safe to log (no password, no
   * connection string).
   */
  onState?(state: { live: true } | { live: false; reason: string }): void;
}

/** A running watch on the clients table (`Store.watchClients`). */
export interface ClientWatch {
  /**
   * True while every committed change is being announced: connected, listening, and answering
   * its heartbeat. While false, announcements may be missed (a cache must fall back to a TTL).
   */
  readonly live: boolean;
  /** Stops the watch and closes its connection (bounded: never waits on a dead server). */
  close(): Promise<void>;
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
  /**
   * Stores shared with processes whose commits cannot be stamped cheaply (PostgreSQL): watches
   * the clients table and announces every committed change (LISTEN/NOTIFY on a dedicated
   * connection, reconnected with backoff). Resolves after the first connection attempt, up or
   * not. Absent on SQLite, whose change stamp serves the client cache instead.
   */
  watchClients?(events: ClientWatchEvents): Promise<ClientWatch>;
  /** Cheap round trip for /ready. Throws when the database cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
