import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ConfigError } from '../config.js';

/*
 * Sealing of keyring material at rest (AUTHNZD_KEY_ENCRYPTION_KEY). AES-256-GCM with a key
 * derived by HKDF-SHA256 from the configured secret; the key id is the additional data, so a
 * sealed blob cannot be moved onto another keyring row.
 */

const VERSION = 'v1';

function derive(keyEncryptionKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', keyEncryptionKey, 'authnzd-keyring', 'keyring-seal-v1', 32));
}

export function seal(plaintext: string, keyEncryptionKey: string, kid: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', derive(keyEncryptionKey), iv);
  cipher.setAAD(Buffer.from(kid));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** Throws when the key-encryption key is wrong or the blob was altered. */
export function unseal(sealed: string, keyEncryptionKey: string, kid: string): string {
  const [version, iv, ct, tag] = sealed.split('.');
  if (version !== VERSION || !iv || !ct || !tag) throw new Error(`keyring entry ${kid}: unknown sealed format`);
  const decipher = createDecipheriv('aes-256-gcm', derive(keyEncryptionKey), Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(kid));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    // The setting must change (exit 2 at start and in the CLI), not an outage to retry.
    throw new ConfigError('AUTHNZD_KEY_ENCRYPTION_KEY', `is wrong: keyring entry ${kid} cannot be unsealed with it`);
  }
}
