import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * The password policy of SPEC §3. Every rule is checked, and every failed rule is reported, so a
 * sign-up form can show all problems at once. The common-password list is zxcvbn-ts's (about
 * 49,000 passwords from real leaks), not a hand-typed one.
 */

export const MIN_PASSWORD_LENGTH = 12;
/** No single character may make up more than this share of the password. */
export const MAX_CHAR_SHARE = 0.3;

export type PasswordRule = 'min_length' | 'common_password' | 'all_digits' | 'similar_to_user' | 'repeated_character';

export interface PolicyFailure {
  rule: PasswordRule;
  message: string;
}

let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  common ??= new Set(dictionary.passwords.map((p) => p.toLowerCase()));
  return common;
}

/** Levenshtein distance, bounded inputs only (callers cut to 128 characters). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function isCommon(pw: string): boolean {
  const lower = pw.toLowerCase();
  const set = commonPasswords();
  if (set.has(lower)) return true;
  // "Password123!" style: a common word padded with digits and symbols at the ends.
  const core = lower.replace(/^[^a-z]+|[^a-z]+$/g, '');
  return core.length >= 4 && set.has(core);
}

/** Too similar: a user attribute makes up half the password or more, or is a near-copy of it. */
function isSimilar(pw: string, attributes: string[]): boolean {
  const lower = pw.toLowerCase().slice(0, 128);
  for (const raw of attributes) {
    const a = raw.toLowerCase().slice(0, 128);
    if (a.length < 4) continue;
    if (lower.includes(a) && a.length * 2 >= lower.length) return true;
    // A password of a few characters (or none) is in many names; min_length refuses it already.
    if (lower.length >= 4 && a.includes(lower)) return true;
    if (distance(lower, a) <= Math.floor(Math.max(lower.length, a.length) * 0.3)) return true;
  }
  return false;
}

/** The user attributes a password must not resemble: the email, its local part, the name and its words. */
function userAttributes(email: string, fullName: string | null | undefined): string[] {
  const local = email.split('@')[0] ?? '';
  const name = (fullName ?? '').normalize('NFKC').trim();
  return [email, local, name, name.replace(/\s+/g, ''), ...name.split(/\s+/)].filter((s) => s.length > 0);
}

/** Every rule the password fails (empty when it is acceptable). */
export function checkPasswordPolicy(password: string, user: { email: string; fullName?: string | null }): PolicyFailure[] {
  const pw = password.normalize('NFKC');
  const chars = [...pw];
  const failures: PolicyFailure[] = [];
  if (chars.length < MIN_PASSWORD_LENGTH) {
    failures.push({ rule: 'min_length', message: `must be at least ${MIN_PASSWORD_LENGTH} characters long` });
  }
  if (isCommon(pw)) failures.push({ rule: 'common_password', message: 'is a commonly used password' });
  if (/^\d+$/.test(pw)) failures.push({ rule: 'all_digits', message: 'must not consist of digits only' });
  if (isSimilar(pw, userAttributes(user.email, user.fullName))) {
    failures.push({ rule: 'similar_to_user', message: 'is too similar to the email address or name' });
  }
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  // A character that occurs once is not repeated: without the `> 1`, any password of three
  // characters or fewer would fail this rule as well as min_length.
  const most = chars.length > 0 ? Math.max(...counts.values()) : 0;
  if (most > 1 && most > chars.length * MAX_CHAR_SHARE) {
    failures.push({ rule: 'repeated_character', message: `no character may make up more than ${MAX_CHAR_SHARE * 100}% of the password` });
  }
  return failures;
}
