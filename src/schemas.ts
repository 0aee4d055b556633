import { Type, type Static } from 'typebox';
import { EXTRA_MAX_DEPTH } from './core/extra.js';

/*
 * Schemas shared by several action areas. One schema feeds validation, types, serialization
 * and OpenAPI; area-specific schemas live beside their routes.
 */

/** Any IPv4 or IPv6 address (validated by the `ip-address` format registered in app.ts). */
export const IpAddress = Type.String({ format: 'ip-address', maxLength: 64, description: 'IPv4 or IPv6 address of the end user' });
/**
 * A user agent that is stored (session_new) or bound into a new key (issue_apikey,
 * issue_apikey_nosession): at most 1,024 characters.
 */
export const UserAgent = Type.String({ maxLength: 1024, description: 'User agent of the end user' });
/**
 * A user agent that is only compared with a bound one (verify_apikey, refresh_apikey): services
 * pass their caller's User-Agent header through, which may be longer than any key can be bound
 * to. A key bound to a user agent never matches a longer one; a key not bound to one does not care.
 */
export const PassedUserAgent = Type.String({
  maxLength: 16_384,
  description: 'User agent of the request (up to 16,384 characters); a key bound to a user agent never matches one longer than 1,024, the most it can be bound to',
});
/** The largest user id: ids are 32-bit (PostgreSQL `integer`). */
export const MAX_USER_ID = 2_147_483_647;
export const UserId = Type.Integer({ minimum: 1, maximum: MAX_USER_ID, description: 'Numeric user id' });
export const Token = Type.String({ minLength: 1, maxLength: 512 });
export const Email = Type.String({ minLength: 3, maxLength: 320, description: 'Email address; normalised (NFKC, trimmed, lower-cased)' });
/**
 * A password as given. Empty is a value, not a malformed call: the password policy refuses it
 * where a password is set (400 weak_password, SPEC §3) and it is wrong where one is checked.
 */
export const Password = Type.String({ maxLength: 1024 });
export const Seconds = Type.Integer({ minimum: 1, maximum: 10 * 365 * 86400, description: 'Duration in seconds' });
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601 UTC' });
/** Checked by the `x-max-depth` keyword registered in app.ts (core/extra.ts). */
export const Extra = Type.Record(Type.String(), Type.Unknown(), {
  description: `Free-form JSON object, at most ${EXTRA_MAX_DEPTH} levels of objects and arrays deep (the object itself is level 1)`,
  'x-max-depth': EXTRA_MAX_DEPTH,
});

export const ErrorBody = Type.Object({
  code: Type.String(),
  message: Type.String(),
  request_id: Type.String(),
  details: Type.Optional(Type.Array(Type.Unknown())),
  retry_after: Type.Optional(Type.Integer()),
}, { description: 'Every non-2xx answer (SPEC §2)' });
export type ErrorBodyT = Static<typeof ErrorBody>;
