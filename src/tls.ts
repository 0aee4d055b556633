import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError, type Config } from './config.js';

/**
 * Reads AUTHNZD_TLS_CERT and AUTHNZD_TLS_KEY and checks them with the same OpenSSL parsing the
 * HTTPS server uses: the certificate alone, the key alone, then the pair (the key must belong to
 * the certificate). A bad file is a ConfigError naming its setting and path; OpenSSL's reason is
 * kept in brackets (it never quotes the key).
 */
export function loadTls(tls: NonNullable<Config['tls']>): { cert: Buffer; key: Buffer } {
  const cert = read('AUTHNZD_TLS_CERT', tls.cert);
  const key = read('AUTHNZD_TLS_KEY', tls.key);
  check({ cert }, 'AUTHNZD_TLS_CERT', `${tls.cert} is not a PEM certificate`);
  check({ key }, 'AUTHNZD_TLS_KEY', `${tls.key} is not an unencrypted PEM private key`);
  check({ cert, key }, 'AUTHNZD_TLS_KEY', `${tls.key} is not the key of the certificate in ${tls.cert}`);
  return { cert, key };
}

function read(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(setting, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

function check(options: SecureContextOptions, setting: string, problem: string): void {
  try {
    createSecureContext(options);
  } catch (err) {
    throw new ConfigError(setting, `${problem} (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
}
