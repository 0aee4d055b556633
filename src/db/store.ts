import type { ApiKeyStore } from './store/apikeys.js';
import type { AuditStore } from './store/audit.js';
import type { ClientStore } from './store/clients.js';
import type { KeyringStore } from './store/keyring.js';
import type { SessionStore } from './store/sessions.js';
import type { UserStore } from './store/users.js';

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
  /** Cheap round trip for /ready. Throws when the database cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
