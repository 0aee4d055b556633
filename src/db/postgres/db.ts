import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { markConnectFailure } from '../../errors.js';
import { ConflictError } from '../errors.js';
import { migrationsDir } from '../../paths.js';
import * as schema from './schema.js';

export type PgDb = NodePgDatabase<typeof schema>;
/** The database or an open transaction: every helper that writes accepts either. */
export type PgTx = Parameters<Parameters<PgDb['transaction']>[0]>[0];
export type PgExec = PgDb | PgTx;

export interface PgHandle {
  db: PgDb;
  pool: pg.Pool;
}

/**
 * Advisory lock key held while migrating, so instances that start together apply the
 * migrations one after the other instead of racing on CREATE TABLE ("authnzd" in ASCII).
 */
const MIGRATE_LOCK = 0x617574686e7a64n;

/** Advisory lock key held while seeding an empty database ("authnzs"). */
const STARTUP_LOCK = 0x617574686e7a73n;

/** Runs `fn` holding a session-level advisory lock on one dedicated connection. */
export async function withAdvisoryLock<T>(pool: pg.Pool, key: bigint, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [key.toString()]);
    try {
      return await fn(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [key.toString()]);
    }
  } finally {
    client.release();
  }
}

/** Runs `fn` while no other instance on this database is seeding it. */
export const withStartupLock = <T>(pool: pg.Pool, fn: () => Promise<T>) => withAdvisoryLock(pool, STARTUP_LOCK, fn);

/** Applies the committed migrations (drizzle/postgres) under a session-level advisory lock. */
export async function migratePostgres(pool: pg.Pool): Promise<void> {
  await withAdvisoryLock(pool, MIGRATE_LOCK, (client) =>
    migrate(drizzle(client, { schema }), { migrationsFolder: migrationsDir('postgres') }));
}

/** Connects a pool to `url` and (unless told not to) applies the committed migrations. */
export async function openPostgres(url: string, opts: { migrate?: boolean; max?: number } = {}): Promise<PgHandle> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, connectionTimeoutMillis: 5000 });
  // An idle client that loses its server emits 'error' on the pool; without a listener the
  // process would crash. The next query reports the failure instead (ping → /ready).
  pool.on('error', () => {});
  markConnectFailures(pool);
  try {
    if (opts.migrate !== false) await migratePostgres(pool);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return { db: retryingTransactions(drizzle(pool, { schema })), pool };
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * Marks every failure to get a connection from `pool` (markConnectFailure), in both of its forms:
 * `pool.connect()` (transactions, advisory locks) and the callback that `pool.query` uses. Such a
 * failure (the server refusing new connections, SQLSTATE 55000 or class 28; no connection free
 * within connectionTimeoutMillis, an error without a SQLSTATE) is an outage: 503, not 500.
 */
function markConnectFailures(pool: pg.Pool): void {
  const connect = pool.connect.bind(pool) as unknown as (cb?: ConnectCallback) => Promise<pg.PoolClient> | undefined;
  pool.connect = ((cb?: ConnectCallback) => {
    if (cb) return connect((err, client, done) => cb(err ? markConnectFailure(err) : err, client, done));
    return connect()!.catch((err: unknown) => {
      throw markConnectFailure(err);
    });
  }) as pg.Pool['connect'];
}

/** Deadlock (40P01) or serialization failure (40001): the whole transaction may simply run again. */
export function isRetryableConflict(err: unknown): boolean {
  for (let e = err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    const { code } = e as { code?: unknown };
    if (code === '40P01' || code === '40001') return true;
    if ((e as { cause?: unknown }).cause === e) break;
  }
  return false;
}

/** Attempts of a transaction that PostgreSQL aborted as a deadlock victim (or serialization failure). */
export const TRANSACTION_ATTEMPTS = 4;

/**
 * Makes `db.transaction` run the transaction again when PostgreSQL aborts it as a deadlock victim
 * or a serialization failure: the server rolled it back, so nothing of it happened, and every
 * transaction of the stores is database work only (no side effect outside it to repeat). Up to
 * TRANSACTION_ATTEMPTS attempts with a short random back-off, so the two sides of a deadlock do
 * not collide again; the last error goes to the caller (an outage answer). Every store method's
 * transaction goes through this one place.
 */
export function retryingTransactions(db: PgDb, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): PgDb {
  const run = db.transaction.bind(db);
  db.transaction = (async (fn: Parameters<PgDb['transaction']>[0], config?: Parameters<PgDb['transaction']>[1]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(fn, config);
      } catch (err) {
        if (attempt >= TRANSACTION_ATTEMPTS || !isRetryableConflict(err)) throw err;
        await sleep(5 * attempt + Math.random() * 20 * attempt);
      }
    }
  }) as PgDb['transaction'];
  return db;
}

/** The constraint name when `err` (or its cause: drizzle wraps driver errors) is a unique violation (23505). */
function uniqueViolation(err: unknown): string | undefined {
  for (let e = err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    const { code, constraint } = e as { code?: unknown; constraint?: unknown };
    if (code === '23505') return typeof constraint === 'string' ? constraint : 'unknown';
  }
  return undefined;
}

/** What to throw for a failed write: a unique violation as a ConflictError naming its constraint, anything else as it is. */
export function conflictFrom(err: unknown): unknown {
  const constraint = uniqueViolation(err);
  return constraint ? new ConflictError(constraint) : err;
}
