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

/**
 * Keyed digest for personal data kept in the database (the failed-login counts of unknown
 * emails): HMAC-SHA256 with AUTHNZD_PII_SALT over `purpose`, a NUL and the value, base64url (43
 * characters). A database dump alone does not reveal which emails were tried, as an unkeyed hash
 * would (emails are easy to guess); the purpose keeps these digests apart from the log hashes.
 */
export type KeyedDigest = (purpose: string, value: string) => string;

export function keyedDigest(salt: string): KeyedDigest {
  return (purpose, value) => createHmac('sha256', salt).update(`${purpose}\0${value}`).digest('base64url');
}
