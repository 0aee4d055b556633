import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildTestApp, show } from '../helper.js';
import { issueStandalone, newSession, newUser, verify } from './setup.js';

/* Two instances on one database: a revocation on one is seen by the other's next verify (SPEC §4.2). */

t.test('a revocation on instance B is effective on instance A at once, despite A\'s cache', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-instances-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = await buildTestApp(t, { dataDir: dir });
  const b = await buildTestApp(t, { dataDir: dir, clock: a.clock });
  const uid = await newUser(a);
  const k = await issueStandalone(a, uid);
  t.equal((await verify(a, k.apikey)).valid, true, 'A has the verified claims cached');
  t.equal((await verify(b, k.apikey)).valid, true, 'B shares the keyring');
  t.ok(a.app.apikeys.cache.size > 0);

  const res = await b.call('revoke_apikey', { session_token: await newSession(b, uid), key_id: k.key_id });
  t.equal(res.statusCode, 200, show(res));
  t.equal((await verify(a, k.apikey)).reason, 'revoked');
});
