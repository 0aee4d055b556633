import { createHmac } from 'node:crypto';

/**
 * Keyed hash for personal data in logs (user ids, emails, IPs, user agents): lines stay
 * correlatable across a deployment without revealing the value. The key is AUTHNZD_PII_SALT.
 */
export type PiiHasher = (value: string | number | null | undefined) => string | undefined;

export function piiHasher(salt: string): PiiHasher {
  return (value) => {
    if (value === null || value === undefined) return undefined;
    return createHmac('sha256', salt).update(String(value)).digest('base64url').slice(0, 16);
  };
}
