import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import t, { type Test } from 'tap';
import { createSqliteStore } from '../../src/db/sqlite/index.js';
import { isOutage } from '../../src/errors.js';
import { USAGE_FLUSH_MS } from '../../src/plugins/apikeys.js';
import { buildTestApp } from '../helper.js';
import { issueStandalone, newUser, rawDb, verify } from './setup.js';

/*
 * The API-key usage flush is the one write on the verify path's process that no request waits
 * for. On SQLite a write waits for another connection's write lock on the event loop (up to
 * the 5 s busy timeout), so a flush that met a lock held by the CLI or a second instance held
 * every verify for as long. It now waits at most USAGE_FLUSH_LOCK_WAIT_MS, keeps the counts and
 * tries again soon; the shutdown flush still waits the full timeout (nothing lost).
 */

/**
 * Holds the file's write lock for `ms` in another thread: a lock held on this thread could not be
 * released while a write of this thread waits for it (better-sqlite3 waits synchronously).
 * Resolves once the lock is held; `released` once it is let go.
 */
async function holdLockElsewhere(file: string, ms: number): Promise<{ released: Promise<void> }> {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const db = new (require(workerData.sqlite))(workerData.file);
    db.exec('BEGIN IMMEDIATE');
    parentPort.postMessage('locked');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, workerData.ms);
  `, { eval: true, workerData: { sqlite, file, ms } });
  const released = new Promise<void>((resolve, reject) => {
    worker.once('exit', () => resolve());
    worker.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return { released };
}

async function until(t: Test, what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) {
      t.fail(`${what}: not within ${ms} ms`);
      return;
    }
    await sleep(25);
  }
}

t.test('store: a usage write with lockWaitMs gives up on a held lock (an outage), writes nothing, and keeps the usual timeout for other writes', async (t) => {
  const h = await buildTestApp(t);
  const user = await newUser(h);
  const key = await issueStandalone(h, user);
  const file = path.join(h.dataDir, 'authnzd.sqlite');
  const store = createSqliteStore(file);
  t.teardown(() => store.close());
  const other = rawDb(h);
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const err = await store.apikeys.recordUsage([{ id: key.key_id, count: 3, lastUsedAt: Date.now() }], { lockWaitMs: 10 }).catch((e: unknown) => e);
  t.match(err, { code: /^SQLITE_BUSY/ }, 'SQLITE_BUSY once the short wait is over');
  t.ok(isOutage(err), 'an outage (503 if it ever reached a request), not a bug');
  other.exec('COMMIT');
  const count = () => (other.prepare('SELECT use_count FROM api_keys WHERE id = ?').get(key.key_id) as { use_count: number }).use_count;
  t.equal(count(), 0, 'nothing was written');
  await store.apikeys.recordUsage([{ id: key.key_id, count: 3, lastUsedAt: Date.now() }], { lockWaitMs: 10 });
  t.equal(count(), 3, 'written once the lock is free');
  // The connection's busy timeout is back to the usual one: a plain write waits for a lock
  // released 300 ms later instead of failing at once.
  const lock = await holdLockElsewhere(file, 300);
  await t.resolves(store.apikeys.recordUsage([{ id: key.key_id, count: 1, lastUsedAt: Date.now() }]), 'a write without lockWaitMs waits for the lock');
  await lock.released;
  t.equal(count(), 4);
});

t.test('service: a periodic flush meeting another process\'s write lock is deferred and retried, not waited for; the counts land once the lock is gone', async (t) => {
  const h = await buildTestApp(t);
  const user = await newUser(h);
  const key = await issueStandalone(h, user);
  t.equal((await verify(h, key.apikey)).valid, true);
  t.equal((await verify(h, key.apikey)).valid, true);
  const other = rawDb(h);
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const start = Date.now();
  // Held across several retries (250 ms apart) after the first deferral.
  await until(t, 'the periodic flush reports a deferral', () => h.rawLogs().includes('API key usage flush deferred'), USAGE_FLUSH_MS + 3000);
  const line = h.logs.find((l) => l.msg === 'API key usage flush deferred: another connection holds the database write lock')!;
  t.equal(line.level, 40, 'a warning, not an error');
  t.match(line, { code: /^SQLITE_BUSY/, pending: 1 });
  // The old flush waited the 5 s busy timeout on the event loop and then logged a failure.
  t.notMatch(h.rawLogs(), /API key usage flush failed/);
  // Verify answers meanwhile (WAL readers do not wait for the writer).
  t.equal((await verify(h, key.apikey)).valid, true, 'verify answers while the lock is held');
  t.ok(Date.now() - start < USAGE_FLUSH_MS + 3000, 'the deferral came at the first tick, without the 5 s busy wait');
  await sleep(800);
  other.exec('COMMIT');
  const count = () => (other.prepare('SELECT use_count FROM api_keys WHERE id = ?').get(key.key_id) as { use_count: number }).use_count;
  await until(t, 'the retried flush writes the kept counts', () => count() === 3, 2000);
  t.equal(count(), 3, 'three verifies counted once each');
  await until(t, 'the landing is logged', () => h.rawLogs().includes('API key usage flush landed after a deferral'), 1000);
  t.equal(h.logs.filter((l) => String(l.msg).startsWith('API key usage flush deferred')).length, 1, 'one warning for the whole run of retries');
});

t.test('shutdown: the last flush waits for a lock released within the busy timeout (nothing lost)', async (t) => {
  // A data dir of the test's own: close() keeps it, so the file can be read afterwards.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'authnzd-test-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const h = await buildTestApp(t, { dataDir });
  const user = await newUser(h);
  const key = await issueStandalone(h, user);
  t.equal((await verify(h, key.apikey)).valid, true);
  const lock = await holdLockElsewhere(path.join(h.dataDir, 'authnzd.sqlite'), 300);
  await h.close();
  await lock.released;
  const other = rawDb(h);
  t.teardown(() => other.close());
  t.equal((other.prepare('SELECT use_count FROM api_keys WHERE id = ?').get(key.key_id) as { use_count: number }).use_count, 1);
  t.notMatch(h.rawLogs(), /flush failed/);
});
