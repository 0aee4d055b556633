import { generateKeyringEntries, Keyring, type SigningAlg } from '../crypto/keyring.js';
import type { Store } from '../db/store.js';

/*
 * The keyring's lifecycle in the shared database: created on the first start, rotated by
 * `authnzd keys rotate`. Old keys are retired (they stop issuing) but keep verifying.
 */

/** Generates the first keys when the keyring is empty; false when another process already did. */
export async function ensureKeyring(store: Store, kek: string | undefined, now: number): Promise<boolean> {
  if ((await store.keyring.list()).length > 0) return false;
  return store.keyring.add(await generateKeyringEntries(now, kek), now, {
    onlyIfEmpty: true,
    audit: { event: 'keyring_create', outcome: 'success', details: {} },
  });
}

/**
 * Adds new issuing keys; answers their kids. The existing keyring is loaded first, so a wrong or
 * missing AUTHNZD_KEY_ENCRYPTION_KEY fails here instead of adding keys no instance can unseal.
 * `by`: who rotates, for the audit row's `client` (the CLI: `cli`).
 */
export async function rotateKeyring(store: Store, kek: string | undefined, now: number, alg?: SigningAlg, by?: string): Promise<string[]> {
  await new Keyring({ source: () => store.keyring.list(), keyEncryptionKey: kek, now: () => now }).reload();
  const entries = await generateKeyringEntries(now, kek, alg);
  await store.keyring.add(entries, now, {
    audit: { event: 'keyring_rotate', outcome: 'success', client: by ?? null, subject: entries.map((e) => e.kid).join(','), details: { alg: entries.find((e) => e.use === 'sig')?.alg } },
  });
  return entries.map((e) => e.kid);
}
