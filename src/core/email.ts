/**
 * Email addresses are compared in one form everywhere (SPEC §3): Unicode NFKC (so look-alike
 * compatibility characters collapse), trimmed, lower-cased. Every action that takes an email
 * normalises it with this function before any lookup or write.
 */
export function normaliseEmail(raw: string): string {
  return raw.normalize('NFKC').trim().toLowerCase();
}

/**
 * A deliberately loose shape check: one `@`, something on both sides, a dot in the domain, and no
 * control character (U+0000–U+001F, U+007F–U+009F: no part of an address, and PostgreSQL cannot
 * store U+0000).
 */
export function looksLikeEmail(email: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) && !/\p{Cc}/u.test(email) && email.length <= 320;
}
