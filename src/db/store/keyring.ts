import type { AuditEvent, KeyringEntry } from '../types.js';

/**
 * What tells two states of the keyring apart, cheaply: keyring rows are only ever added (a
 * rotation adds keys and retires the older ones in the same transaction; nothing deletes a
 * row), so the number of rows changes with every rotation, and the newest `created_at` with
 * every rotation stamped later than the last.
 */
export interface KeyringVersion {
  count: number;
  /** The newest `created_at` (epoch ms); null when the keyring is empty. */
  newest: number | null;
}

/** The version of the rows `list()` answered (what `version()` would have answered then). */
export function keyringVersionOf(rows: readonly Pick<KeyringEntry, 'createdAt'>[]): KeyringVersion {
  let newest: number | null = null;
  for (const r of rows) if (newest === null || r.createdAt > newest) newest = r.createdAt;
  return { count: rows.length, newest };
}

export function sameKeyringVersion(a: KeyringVersion, b: KeyringVersion | undefined): boolean {
  return b !== undefined && a.count === b.count && a.newest === b.newest;
}

export interface KeyringStore {
  /** Every key, newest first. */
  list(): Promise<KeyringEntry[]>;
  /** The keyring's version (one aggregate read, no key material): changes when keys are added. */
  version(): Promise<KeyringVersion>;
  /**
   * Adds new keys and marks every older key of the same use retired (they keep verifying).
   * With `onlyIfEmpty`, adds nothing when the keyring already has keys (first start of several
   * instances at once) and answers false.
   */
  add(entries: Omit<KeyringEntry, 'retiredAt'>[], now: number, opts?: { onlyIfEmpty?: boolean; audit?: AuditEvent }): Promise<boolean>;
}
