import { sql } from 'drizzle-orm';
import {
  bigint, boolean, customType, index, integer, jsonb, pgTable, text, uniqueIndex,
} from 'drizzle-orm/pg-core';

/*
 * PostgreSQL schema: the same tables, columns, indexes and unique constraints as
 * db/sqlite/schema.ts, with native types. Times are `timestamptz` (millisecond precision) in the
 * database and epoch milliseconds in the domain types (db/types.ts), converted by `ms` below;
 * JSON columns are `jsonb`; flags are `boolean`; the audit log id is a `bigint` identity.
 * Secrets never appear here: tokens and client secrets are stored as SHA-256 (hex), passwords as
 * argon2id hashes.
 */

/** `timestamptz` ↔ epoch milliseconds, so every dialect returns the same domain records. */
const ms = customType<{ data: number; driverData: Date | string }>({
  dataType: () => 'timestamp (3) with time zone',
  toDriver: (value) => new Date(value).toISOString(),
  fromDriver: (value) => (value instanceof Date ? value.getTime() : new Date(value).getTime()),
});

export const clients = pgTable('clients', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  secretHash: text('secret_hash').notNull(),
  /** JSON array of action names, or ["*"]. */
  actions: jsonb('actions').$type<string[]>().notNull(),
  createdAt: ms('created_at').notNull(),
  revokedAt: ms('revoked_at'),
}, (t) => [
  uniqueIndex('clients_secret_hash_uq').on(t.secretHash),
  uniqueIndex('clients_name_live_uq').on(t.name).where(sql`revoked_at IS NULL`),
]);

export const users = pgTable('users', {
  /** By-default identity: the seed relies on the first two rows getting 1 and 2. */
  id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
  systemId: text('system_id').notNull(),
  /** Normalised (NFKC, trimmed, lower-cased). */
  email: text('email').notNull(),
  fullName: text('full_name'),
  passwordHash: text('password_hash'),
  role: text('role').notNull(),
  isActive: boolean('is_active').notNull(),
  emailVerified: boolean('email_verified').notNull(),
  extra: jsonb('extra').$type<Record<string, unknown>>().notNull(),
  /** Admin lock: only an admin lifts it. `roleBeforeLock` is restored on unlock. */
  adminLocked: boolean('admin_locked').notNull().default(false),
  roleBeforeLock: text('role_before_lock'),
  /** Failed-login bookkeeping (temporary lock), shared by every instance. */
  failedLogins: integer('failed_logins').notNull().default(0),
  lastFailedLoginAt: ms('last_failed_login_at'),
  tempLockedUntil: ms('temp_locked_until'),
  createdAt: ms('created_at').notNull(),
  updatedAt: ms('updated_at').notNull(),
  lastLoginAt: ms('last_login_at'),
}, (t) => [
  uniqueIndex('users_email_uq').on(t.email),
  uniqueIndex('users_system_id_uq').on(t.systemId),
]);

export const sessions = pgTable('sessions', {
  /** Public id (session_list); never usable as a token. */
  id: text('id').primaryKey(),
  tokenHash: text('token_hash').notNull(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  ipAddress: text('ip_address').notNull(),
  userAgent: text('user_agent').notNull(),
  extra: jsonb('extra').$type<Record<string, unknown>>().notNull(),
  createdAt: ms('created_at').notNull(),
  expiresAt: ms('expires_at').notNull(),
}, (t) => [
  uniqueIndex('sessions_token_hash_uq').on(t.tokenHash),
  index('sessions_user_idx').on(t.userId),
  index('sessions_expires_idx').on(t.expiresAt),
]);

/** Single-use email verification and password reset tokens. */
export const userTokens = pgTable('user_tokens', {
  tokenHash: text('token_hash').primaryKey(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  purpose: text('purpose', { enum: ['verify_email', 'reset_password'] }).notNull(),
  createdAt: ms('created_at').notNull(),
  expiresAt: ms('expires_at').notNull(),
  usedAt: ms('used_at'),
}, (t) => [index('user_tokens_user_idx').on(t.userId)]);

export const apiKeys = pgTable('api_keys', {
  /** The `jti` claim; the verify path's one indexed read is by this primary key. */
  id: text('id').primaryKey(),
  tokenHash: text('token_hash').notNull(),
  kind: text('kind', { enum: ['session', 'standalone'] }).notNull(),
  userId: integer('user_id').notNull(),
  role: text('role').notNull(),
  sessionId: text('session_id'),
  /** Refresh family: every key descended from one `issue_apikey_nosession`. */
  familyId: text('family_id'),
  audience: text('audience').notNull(),
  subject: jsonb('subject').$type<string | string[]>().notNull(),
  apiVersion: text('api_version').notNull(),
  scopes: jsonb('scopes').$type<string[]>(),
  bindIp: jsonb('bind_ip').$type<string[]>(),
  bindUserAgent: text('bind_user_agent'),
  issuedAt: ms('issued_at').notNull(),
  notBefore: ms('not_before').notNull(),
  expiresAt: ms('expires_at').notNull(),
  revokedAt: ms('revoked_at'),
  revokedReason: text('revoked_reason'),
  lastUsedAt: ms('last_used_at'),
  useCount: integer('use_count').notNull().default(0),
}, (t) => [
  index('api_keys_user_idx').on(t.userId),
  index('api_keys_session_idx').on(t.sessionId),
  index('api_keys_family_idx').on(t.familyId),
  index('api_keys_expires_idx').on(t.expiresAt),
]);

export const refreshTokens = pgTable('refresh_tokens', {
  tokenHash: text('token_hash').primaryKey(),
  familyId: text('family_id').notNull(),
  /** The key this token refreshes. */
  apiKeyId: text('api_key_id').notNull(),
  userId: integer('user_id').notNull(),
  createdAt: ms('created_at').notNull(),
  notBefore: ms('not_before').notNull(),
  expiresAt: ms('expires_at').notNull(),
  usedAt: ms('used_at'),
}, (t) => [
  index('refresh_tokens_family_idx').on(t.familyId),
  index('refresh_tokens_key_idx').on(t.apiKeyId),
]);

/** Failed logins to emails with no account, when there is no Redis (see db/sqlite/schema.ts). */
export const unknownLoginFailures = pgTable('unknown_login_failures', {
  emailDigest: text('email_digest').primaryKey(),
  failures: integer('failures').notNull(),
  lastFailedAt: ms('last_failed_at').notNull(),
  lockedUntil: ms('locked_until'),
  expiresAt: ms('expires_at').notNull(),
}, (t) => [index('unknown_login_failures_expires_idx').on(t.expiresAt)]);

/** Encryption and signing keys of the API-key envelope (shared by every instance). */
export const keyring = pgTable('keyring', {
  kid: text('kid').primaryKey(),
  use: text('use', { enum: ['enc', 'sig'] }).notNull(),
  alg: text('alg').notNull(),
  /** JSON JWK of the private/secret material, or a sealed blob when a key-encryption key is set. */
  material: text('material').notNull(),
  sealed: boolean('sealed').notNull(),
  createdAt: ms('created_at').notNull(),
  /** Set when a newer key took over issuing; the key keeps verifying. */
  retiredAt: ms('retired_at'),
});

export const auditLog = pgTable('audit_log', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  at: ms('at').notNull(),
  event: text('event').notNull(),
  requestId: text('request_id'),
  client: text('client'),
  actorUserId: integer('actor_user_id'),
  targetUserId: integer('target_user_id'),
  /** Key id, session id, policy sha256… whatever the event is about. Never a secret. */
  subject: text('subject'),
  outcome: text('outcome', { enum: ['success', 'failure'] }).notNull(),
  details: jsonb('details').$type<Record<string, unknown>>().notNull(),
}, (t) => [
  index('audit_at_idx').on(t.at),
  index('audit_event_idx').on(t.event, t.at),
  index('audit_target_idx').on(t.targetUserId, t.at),
]);
