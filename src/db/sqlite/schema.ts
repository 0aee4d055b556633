import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/*
 * SQLite schema. Times are integer milliseconds since the epoch; JSON columns are text.
 * Secrets never appear here: tokens and client secrets are stored as SHA-256 (hex), passwords as
 * argon2id hashes.
 */

export const clients = sqliteTable('clients', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  secretHash: text('secret_hash').notNull(),
  /** JSON array of action names, or ["*"]. */
  actions: text('actions', { mode: 'json' }).$type<string[]>().notNull(),
  createdAt: integer('created_at').notNull(),
  revokedAt: integer('revoked_at'),
}, (t) => [
  uniqueIndex('clients_secret_hash_uq').on(t.secretHash),
  uniqueIndex('clients_name_live_uq').on(t.name).where(sql`revoked_at IS NULL`),
]);

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  systemId: text('system_id').notNull(),
  /** Normalised (NFKC, trimmed, lower-cased). */
  email: text('email').notNull(),
  fullName: text('full_name'),
  passwordHash: text('password_hash'),
  role: text('role').notNull(),
  isActive: integer('is_active', { mode: 'boolean' }).notNull(),
  emailVerified: integer('email_verified', { mode: 'boolean' }).notNull(),
  extra: text('extra', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  /** Admin lock: only an admin lifts it. `roleBeforeLock` is restored on unlock. */
  adminLocked: integer('admin_locked', { mode: 'boolean' }).notNull().default(false),
  roleBeforeLock: text('role_before_lock'),
  /** Failed-login bookkeeping (temporary lock), kept in the database so it survives restarts. */
  failedLogins: integer('failed_logins').notNull().default(0),
  lastFailedLoginAt: integer('last_failed_login_at'),
  tempLockedUntil: integer('temp_locked_until'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
  lastLoginAt: integer('last_login_at'),
}, (t) => [
  uniqueIndex('users_email_uq').on(t.email),
  uniqueIndex('users_system_id_uq').on(t.systemId),
]);

export const sessions = sqliteTable('sessions', {
  /** Public id (session_list); never usable as a token. */
  id: text('id').primaryKey(),
  tokenHash: text('token_hash').notNull(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  ipAddress: text('ip_address').notNull(),
  userAgent: text('user_agent').notNull(),
  extra: text('extra', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  createdAt: integer('created_at').notNull(),
  expiresAt: integer('expires_at').notNull(),
}, (t) => [
  uniqueIndex('sessions_token_hash_uq').on(t.tokenHash),
  index('sessions_user_idx').on(t.userId),
  index('sessions_expires_idx').on(t.expiresAt),
]);

/** Single-use email verification and password reset tokens. */
export const userTokens = sqliteTable('user_tokens', {
  tokenHash: text('token_hash').primaryKey(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  purpose: text('purpose', { enum: ['verify_email', 'reset_password'] }).notNull(),
  createdAt: integer('created_at').notNull(),
  expiresAt: integer('expires_at').notNull(),
  usedAt: integer('used_at'),
}, (t) => [index('user_tokens_user_idx').on(t.userId)]);

export const apiKeys = sqliteTable('api_keys', {
  /** The `jti` claim. */
  id: text('id').primaryKey(),
  tokenHash: text('token_hash').notNull(),
  kind: text('kind', { enum: ['session', 'standalone'] }).notNull(),
  userId: integer('user_id').notNull(),
  role: text('role').notNull(),
  sessionId: text('session_id'),
  /** Refresh family: every key descended from one `issue_apikey_nosession`. */
  familyId: text('family_id'),
  audience: text('audience').notNull(),
  subject: text('subject', { mode: 'json' }).$type<string | string[]>().notNull(),
  apiVersion: text('api_version').notNull(),
  scopes: text('scopes', { mode: 'json' }).$type<string[]>(),
  bindIp: text('bind_ip', { mode: 'json' }).$type<string[]>(),
  bindUserAgent: text('bind_user_agent'),
  issuedAt: integer('issued_at').notNull(),
  notBefore: integer('not_before').notNull(),
  expiresAt: integer('expires_at').notNull(),
  revokedAt: integer('revoked_at'),
  revokedReason: text('revoked_reason'),
  lastUsedAt: integer('last_used_at'),
  useCount: integer('use_count').notNull().default(0),
}, (t) => [
  index('api_keys_user_idx').on(t.userId),
  index('api_keys_session_idx').on(t.sessionId),
  index('api_keys_family_idx').on(t.familyId),
  index('api_keys_expires_idx').on(t.expiresAt),
]);

export const refreshTokens = sqliteTable('refresh_tokens', {
  tokenHash: text('token_hash').primaryKey(),
  familyId: text('family_id').notNull(),
  /** The key this token refreshes. */
  apiKeyId: text('api_key_id').notNull(),
  userId: integer('user_id').notNull(),
  createdAt: integer('created_at').notNull(),
  notBefore: integer('not_before').notNull(),
  expiresAt: integer('expires_at').notNull(),
  usedAt: integer('used_at'),
}, (t) => [
  index('refresh_tokens_family_idx').on(t.familyId),
  index('refresh_tokens_key_idx').on(t.apiKeyId),
]);

/**
 * Failed logins to emails with no account (src/core/login.ts), when there is no Redis: kept in
 * the database like a real account's count in `users`, so a restart does not tell the two apart.
 * Keyed by a keyed hash of the normalised email (HMAC-SHA256 with AUTHNZD_PII_SALT), never the
 * email. A row means nothing after `expires_at` and is purged then (plugins/sessions.ts).
 */
export const unknownLoginFailures = sqliteTable('unknown_login_failures', {
  emailDigest: text('email_digest').primaryKey(),
  failures: integer('failures').notNull(),
  lastFailedAt: integer('last_failed_at').notNull(),
  lockedUntil: integer('locked_until'),
  expiresAt: integer('expires_at').notNull(),
}, (t) => [index('unknown_login_failures_expires_idx').on(t.expiresAt)]);

/** Encryption and signing keys of the API-key envelope (shared by every instance). */
export const keyring = sqliteTable('keyring', {
  kid: text('kid').primaryKey(),
  use: text('use', { enum: ['enc', 'sig'] }).notNull(),
  alg: text('alg').notNull(),
  /** JSON JWK of the private/secret material, or a sealed blob when a key-encryption key is set. */
  material: text('material').notNull(),
  sealed: integer('sealed', { mode: 'boolean' }).notNull(),
  createdAt: integer('created_at').notNull(),
  /** Set when a newer key took over issuing; the key keeps verifying. */
  retiredAt: integer('retired_at'),
});

export const auditLog = sqliteTable('audit_log', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  at: integer('at').notNull(),
  event: text('event').notNull(),
  requestId: text('request_id'),
  client: text('client'),
  actorUserId: integer('actor_user_id'),
  targetUserId: integer('target_user_id'),
  /** Key id, session id, policy sha256… whatever the event is about. Never a secret. */
  subject: text('subject'),
  outcome: text('outcome', { enum: ['success', 'failure'] }).notNull(),
  details: text('details', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
}, (t) => [
  index('audit_at_idx').on(t.at),
  index('audit_event_idx').on(t.event, t.at),
  index('audit_target_idx').on(t.targetUserId, t.at),
]);

export type ClientRow = typeof clients.$inferSelect;
export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type UserTokenRow = typeof userTokens.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
export type KeyringRow = typeof keyring.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
export type UnknownLoginFailureRow = typeof unknownLoginFailures.$inferSelect;
