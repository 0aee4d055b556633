import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { CliIo } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { buildTestApp, repoRoot, show } from '../helper.js';
import { issueStandalone, newUser, rawDb, verify } from './setup.js';

/* The keyring: rotation, sharing between instances, sealing at rest (SPEC §4.1). */

const kidOf = (apikey: string) => JSON.parse(Buffer.from(apikey.slice(4).split('.')[0]!, 'base64url').toString()).kid as string;

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

  await t.rejects(buildTestApp(t, { dataDir: a.dataDir, env: { AUTHNZD_KEY_ENCRYPTION_KEY: kek + 'x' } }), /AUTHNZD_KEY_ENCRYPTION_KEY is wrong/);
  const wrong = cli(a.dataDir, { AUTHNZD_KEY_ENCRYPTION_KEY: kek + 'x' });
  t.equal(await wrong.run('keys', 'rotate'), 1, 'rotate refuses a wrong key-encryption key');
  t.match(wrong.out.join('\n'), /AUTHNZD_KEY_ENCRYPTION_KEY is wrong/);
  const missing = cli(a.dataDir);
  t.equal(await missing.run('keys', 'rotate'), 1, 'and a missing one');
  const sealed = cli(a.dataDir, { AUTHNZD_KEY_ENCRYPTION_KEY: kek });
  t.equal(await sealed.run('keys', 'list'), 0);
  const listed = sealed.out.filter((l) => /^(enc|sig)-/.test(l));
  t.equal(listed.length, 2, `nothing was added by the refused rotations: ${sealed.out.join('\n')}`);
  t.ok(listed.every((l) => l.endsWith('\tsealed')), 'keys list shows them sealed');
  await t.rejects(buildTestApp(t, { dataDir: a.dataDir }), /sealed: set AUTHNZD_KEY_ENCRYPTION_KEY/);
  const again = await buildTestApp(t, { dataDir: a.dataDir, env: { AUTHNZD_KEY_ENCRYPTION_KEY: kek }, clock: a.clock });
  t.equal((await verify(again, k.apikey)).valid, true, 'a restart with the same key-encryption key verifies old keys');
  const ready = await again.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.json().parts.keyring.ok, true, show(ready));
});
