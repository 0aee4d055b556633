import type { AuditEvent, KeyringEntry } from '../types.js';

export interface KeyringStore {
  /** Every key, newest first. */
  list(): Promise<KeyringEntry[]>;
  /**
   * Adds new keys and marks every older key of the same use retired (they keep verifying).
   * With `onlyIfEmpty`, adds nothing when the keyring already has keys (first start of several
   * instances at once) and answers false.
   */
  add(entries: Omit<KeyringEntry, 'retiredAt'>[], now: number, opts?: { onlyIfEmpty?: boolean; audit?: AuditEvent }): Promise<boolean>;
}
