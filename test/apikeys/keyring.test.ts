import { createDecipheriv } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { CliIo } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { rotateKeyring } from '../../src/core/keyring.js';
import { openStore } from '../../src/db/open.js';
import type { Store } from '../../src/db/store.js';
import { createTestDatabase } from '../db/pg.js';
import { buildTestApp, json, repoRoot, show, type TestApp } from '../helper.js';
import { IP, UA, issueSessionKey, issueStandalone, newSession, newUser, rawDb, verify, type Standalone } from './setup.js';

/* The keyring: rotation, sharing between instances, sealing at rest (SPEC §4.1). */

const kidOf = (apikey: string) => JSON.parse(Buffer.from(apikey.slice(4).split('.')[0]!, 'base64url').toString()).kid as string;

/** The kids of an API key: the JWE's (enc), and the inner JWS's (sig), decrypted with the stored (plain) enc key. */
async function kidsOf(store: Store, apikey: string): Promise<{ enc: string; sig: string }> {
  const [header, , iv, ct, tag] = apikey.slice(4).split('.') as [string, string, string, string, string];
  const enc = kidOf(apikey);
  const row = (await store.keyring.list()).find((k) => k.kid === enc);
  if (!row) throw new Error(`no keyring row ${enc}`);
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(JSON.parse(row.material).k, 'base64url'), Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(header, 'ascii'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  const jws = Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  return { enc, sig: JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString()).kid as string };
}

function tempDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-keyring-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function cli(dataDir: string, env: Record<string, string> = {}) {
  const out: string[] = [];
  const io: CliIo = { env: { AUTHNZD_DATA_DIR: dataDir, ...env }, cwd: repoRoot, out: (l) => out.push(l), err: (l) => out.push(l) };
  return { io, out, run: (...args: string[]) => run(args, io) };
}

t.test('keys rotate: new keys issue, old keys keep verifying, other instances pick them up', async (t) => {
  const a = await buildTestApp(t, { dataDir: tempDir(t) });
  const uid = await newUser(a);
  const before = await issueStandalone(a, uid);
  const oldKid = kidOf(before.apikey);

  const c = cli(a.dataDir);
  t.equal(await c.run('keys', 'rotate'), 0, c.out.join('\n'));
  t.match(c.out.join('\n'), /keyring rotated/);
  c.out.length = 0;
  t.equal(await c.run('keys', 'list'), 0);
  const listing = c.out.join('\n');
  t.equal(listing.split('\n').filter((l) => l.includes('\tissuing\t')).length, 2, listing);
  t.equal(listing.split('\n').filter((l) => l.includes('retired')).length, 2, listing);
  t.notMatch(listing, /"k"/, 'no key material is printed');

  // A second instance on the same database starts with the rotated keyring and issues with it.
  const b = await buildTestApp(t, { dataDir: a.dataDir, clock: a.clock });
  const after = await issueStandalone(b, uid);
  const newKid = kidOf(after.apikey);
  t.not(newKid, oldKid, 'the new encryption key issues');

  // Instance A has not reloaded yet: the unknown kid makes it reload at once.
  t.equal((await verify(a, after.apikey)).valid, true, 'A verifies a key made with keys it had not loaded');
  t.equal((await verify(a, before.apikey)).valid, true, 'keys issued before the rotation keep verifying');
  t.equal((await verify(b, before.apikey)).valid, true);
  t.equal(kidOf((await issueStandalone(a, uid)).apikey), newKid, 'A issues with the new keys after its reload');

  const audit = await a.call('audit_query', { event: 'keyring_rotate' });
  t.equal(audit.json().events.length, 1, show(audit));
});

/**
 * SPEC §4.1: rotated keys "sign and encrypt from then on". Another process (the CLI) rotates
 * through its own connection; the running app's very next issue, by every issuing action, uses
 * the new keys, without waiting for the periodic reload, and keys issued before keep verifying.
 */
async function rotationSeenByNextIssue(t: Test, h: TestApp, cliStore: Store) {
  const uid = await newUser(h);
  const session = await newSession(h, uid);
  const before = await issueStandalone(h, uid);
  const old = await kidsOf(cliStore, before.apikey);
  const rotate = async () => {
    h.clock.advance(1);
    const kids = await rotateKeyring(cliStore, undefined, h.clock.now());
    return { enc: kids.find((k) => k.startsWith('enc-'))!, sig: kids.find((k) => k.startsWith('sig-'))! };
  };

  const first = await rotate();
  t.not(first.enc, old.enc);
  t.same(await kidsOf(cliStore, (await issueSessionKey(h, session)).apikey), first, 'issue_apikey right after the rotation: new enc and sig kids');

  const second = await rotate();
  const standalone = await issueStandalone(h, uid);
  t.same(await kidsOf(cliStore, standalone.apikey), second, 'issue_apikey_nosession right after the next rotation');

  const third = await rotate();
  const res = await h.call('refresh_apikey', { apikey: standalone.apikey, refresh_token: standalone.refresh_token, ip_address: IP, user_agent: UA });
  t.equal(res.statusCode, 201, show(res));
  t.same(await kidsOf(cliStore, json<Standalone>(res).apikey), third, 'refresh_apikey right after the next rotation');

  t.equal((await verify(h, before.apikey)).valid, true, 'a key issued before the rotations still verifies');
  t.same(await kidsOf(cliStore, (await issueSessionKey(h, session)).apikey), third, 'an unchanged keyring keeps the same issuing keys');
}

t.test('keys rotate by another process: the very next issue uses the new keys (SQLite file)', async (t) => {
  const h = await buildTestApp(t, { dataDir: tempDir(t) });
  const cliStore = await openStore({ dataDir: h.dataDir, databaseUrl: undefined });
  t.teardown(() => cliStore.close());
  await rotationSeenByNextIssue(t, h, cliStore);
});

t.test('keys rotate by another process: the very next issue uses the new keys (PostgreSQL)', {
  skip: process.env.AUTHNZD_TEST_PG_URL ? false : 'AUTHNZD_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)',
}, async (t) => {
  const pgDb = await createTestDatabase(process.env.AUTHNZD_TEST_PG_URL!);
  t.teardown(() => pgDb.drop());
  const h = await buildTestApp(t, { env: { AUTHNZD_DATABASE_URL: pgDb.url } });
  const cliStore = await openStore({ dataDir: h.dataDir, databaseUrl: pgDb.url });
  t.teardown(() => cliStore.close());
  await rotationSeenByNextIssue(t, h, cliStore);
});

t.test('unknown kids reload the keyring at most once per second', async (t) => {
  const h = await buildTestApp(t);
  const db = rawDb(h);
  t.teardown(() => db.close());
  let loads = 0;
  const source = h.app.store.keyring.list.bind(h.app.store.keyring);
  h.app.store.keyring.list = async () => {
    loads++;
    return source();
  };
  const forged = 'azk_' + Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: 'enc-nope' })).toString('base64url') + '..aaaa.bbbb.cccc';
  t.equal((await verify(h, forged)).reason, 'invalid');
  t.equal((await verify(h, forged)).reason, 'invalid');
  t.equal(loads, 1, 'a flood of unknown kids costs one reload per second');
  h.clock.advance(1);
  t.equal((await verify(h, forged)).reason, 'invalid');
  t.equal(loads, 2);
});

t.test('sealed at rest with AUTHNZD_KEY_ENCRYPTION_KEY', async (t) => {
  const kek = 'a-key-encryption-key-of-at-least-32-chars';
  const a = await buildTestApp(t, { dataDir: tempDir(t), env: { AUTHNZD_KEY_ENCRYPTION_KEY: kek } });
  const k = await issueStandalone(a, await newUser(a));
  const db = rawDb(a);
  const rows = db.prepare('SELECT kid, sealed, material FROM keyring').all() as { kid: string; sealed: number; material: string }[];
  db.close();
  t.equal(rows.length, 2);
  for (const r of rows) {
    t.equal(r.sealed, 1, `${r.kid} is sealed`);
    t.notMatch(r.material, /"k"|"d"|kty/, `${r.kid} holds no plain JWK`);
  }
  await a.close();

  await t.rejects(buildTestApp(t, { dataDir: a.dataDir, env: { AUTHNZD_KEY_ENCRYPTION_KEY: kek + 'x' } }), { name: 'ConfigError', message: /^AUTHNZD_KEY_ENCRYPTION_KEY: is wrong/ });
  const wrong = cli(a.dataDir, { AUTHNZD_KEY_ENCRYPTION_KEY: kek + 'x' });
  t.equal(await wrong.run('keys', 'rotate'), 2, 'rotate refuses a wrong key-encryption key (a setting to change: exit 2)');
  t.match(wrong.out.join('\n'), /invalid configuration: AUTHNZD_KEY_ENCRYPTION_KEY: is wrong/);
  const missing = cli(a.dataDir);
  t.equal(await missing.run('keys', 'rotate'), 2, 'and a missing one');
  t.match(missing.out.join('\n'), /invalid configuration: AUTHNZD_KEY_ENCRYPTION_KEY: is not set/);
  const sealed = cli(a.dataDir, { AUTHNZD_KEY_ENCRYPTION_KEY: kek });
  t.equal(await sealed.run('keys', 'list'), 0);
  const listed = sealed.out.filter((l) => /^(enc|sig)-/.test(l));
  t.equal(listed.length, 2, `nothing was added by the refused rotations: ${sealed.out.join('\n')}`);
  t.ok(listed.every((l) => l.endsWith('\tsealed')), 'keys list shows them sealed');
  await t.rejects(buildTestApp(t, { dataDir: a.dataDir }), { name: 'ConfigError', message: /^AUTHNZD_KEY_ENCRYPTION_KEY: is not set, and keyring entry \S+ is sealed$/ });
  const again = await buildTestApp(t, { dataDir: a.dataDir, env: { AUTHNZD_KEY_ENCRYPTION_KEY: kek }, clock: a.clock });
  t.equal((await verify(again, k.apikey)).valid, true, 'a restart with the same key-encryption key verifies old keys');
  const ready = await again.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.json().parts.keyring.ok, true, show(ready));
});
