/**
 * The error catalog: every non-2xx answer carries one of these codes (SPEC §2).
 * Expected negatives of yes/no actions are values, not errors; these are for calls that failed.
 */
export const errorCatalog = {
  invalid_request: { status: 400, message: 'The request is malformed or has invalid values.' },
  weak_password: { status: 400, message: 'The password does not meet the password policy.' },
  unauthenticated: { status: 401, message: 'Missing or invalid client secret.' },
  invalid_session: { status: 401, message: 'The session is unknown, expired, or does not match this request.' },
  invalid_credentials: { status: 401, message: 'Wrong email or password.' },
  invalid_refresh_token: { status: 401, message: 'The refresh token is unknown, spent, expired or not yet valid.' },
  client_forbidden: { status: 403, message: 'This client may not call this action.' },
  permission_denied: { status: 403, message: 'The policy denies this action to the acting user.' },
  user_inactive: { status: 403, message: 'The user is not active.' },
  not_found: { status: 404, message: 'Not found.' },
  conflict: { status: 409, message: 'The request conflicts with existing data.' },
  payload_too_large: { status: 413, message: 'The request body is larger than 64 KiB.' },
  account_locked: { status: 423, message: 'The account is locked.' },
  rate_limited: { status: 429, message: 'Too many requests.' },
  internal_error: { status: 500, message: 'Internal error.' },
  unavailable: { status: 503, message: 'A dependency is unavailable. Try again later.' },
} as const;

export type ErrorCode = keyof typeof errorCatalog;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  request_id: string;
  details?: unknown[];
  retry_after?: number;
}

/** A failure the caller should see, with its catalog code. Thrown by core and routes. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown[] | undefined;
  /** Extra top-level fields for the body (e.g. `retry_after` on 423). */
  readonly extra: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, opts: { details?: unknown[]; extra?: Record<string, unknown> } = {}) {
    super(message ?? errorCatalog[code].message);
    this.name = 'ApiError';
    this.code = code;
    this.status = errorCatalog[code].status;
    this.details = opts.details;
    this.extra = opts.extra;
  }
}

/** Thrown when a database or another dependency cannot answer; mapped to 503 `unavailable`. */
export class UnavailableError extends Error {
  readonly dependency: string;
  constructor(dependency: string, cause?: unknown) {
    super(`${dependency} unavailable`, { cause });
    this.name = 'UnavailableError';
    this.dependency = dependency;
  }
}

/**
 * SQLite result codes (primary or extended: SQLITE_IOERR_SHORT_READ, SQLITE_READONLY_DBMOVED…)
 * that mean the database file cannot be used now: contention that outlasted busy_timeout, a
 * damaged, replaced, unreadable or full file. Not a bug in a request: 503, the operator's alarm.
 */
const sqliteOutage = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|CORRUPT|NOTADB|READONLY)(_[A-Z_]+)?$/;

/** SQLite's "another connection holds the lock" (SQLITE_BUSY, SQLITE_LOCKED, extended codes): one kind of outage. */
export function isSqliteLockBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)(_[A-Z_]+)?$/.test(code);
}

const outageCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE',
  // Contention that outlasted the retries of db/postgres/db.ts: try again later, not a bug.
  '40P01', '40001',
  // A read-only server (a standby after a failover, default_transaction_read_only) refusing a
  // write, and a statement cancelled by statement_timeout or an operator.
  '25006', '57014',
]);

/**
 * PostgreSQL SQLSTATE classes that mean the server cannot serve now, whatever the request:
 * 08 connection exception, 53 insufficient resources (disk full, out of memory, too many
 * connections), 57P01–57P05 operator intervention (shutdown, crash, starting up, database
 * dropped, idle timeout), 58 system error (I/O error), XX internal error (data or index corrupted).
 */
const pgOutage = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-5]|58[0-9A-Z]{3}|XX[0-9A-Z]{3})$/;

const connectFailure = Symbol('authnzd.connectFailure');

/**
 * Marks an error met while getting a database connection (db/postgres/db.ts): the pool could not
 * open one (server down or refusing: a database that does not accept connections, a role that
 * may not log in, a database that is gone) or had none free within its timeout. Whatever its
 * SQLSTATE (or none), the database cannot serve now, whatever the request: an outage.
 */
export function markConnectFailure<E>(err: E): E {
  if (err !== null && typeof err === 'object') (err as Record<symbol, unknown>)[connectFailure] = true;
  return err;
}

/** True for driver errors that mean "the database cannot answer now" (503), not a bug (500). */
export function isOutage(err: unknown): boolean {
  if (err instanceof UnavailableError) return true;
  const e = err as { code?: unknown; cause?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== 'object') return false;
  if ((e as Record<symbol, unknown>)[connectFailure] === true) return true;
  if (typeof e.code === 'string' && (outageCodes.has(e.code) || sqliteOutage.test(e.code) || pgOutage.test(e.code))) return true;
  if (typeof e.message === 'string' && /database connection is not open|Connection terminated|Cannot use a pool after calling end on the pool|is not queryable/.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isOutage(e.cause);
}

/**
 * PostgreSQL "data exception" codes a well-typed request can still trigger: a number beyond the
 * column's range, a NUL character (text and jsonb cannot hold U+0000), an over-long value. They
 * are the caller's bad value (400), not a server failure (500).
 */
const badValueCodes = new Set(['22001', '22003', '22021', '22P02', '22P05']);

export function isBadValue(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: unknown } | null;
  if (e === null || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && badValueCodes.has(e.code)) return true;
  return e.cause !== undefined && e.cause !== err && isBadValue(e.cause);
}
