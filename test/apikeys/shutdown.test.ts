import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { ADMIN_SECRET } from '../helper.js';
import { freshServiceEnv, startServer } from '../process/util.js';
import { IP, UA, keyBody } from './setup.js';

/*
 * Usage counters are buffered (no write per verify) and must survive a shutdown: SIGTERM runs
 * the apikeys plugin's onClose flush before the database plugin closes the store (Fastify
 * closes plugins in reverse registration order). A real child process, a real signal.
 */

t.test('SIGTERM flushes every buffered verify before the database closes', async (t) => {
  const env = freshServiceEnv(t, 'authnzd-shutdown-');
  const srv = await startServer(env);
  t.teardown(() => srv.child.kill('SIGKILL'));
  const call = async (action: string, body: unknown) => {
    const res = await fetch(`${srv.url}/v1/${action}`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  };

  const issued = await call('issue_apikey_nosession', { user_id: 1, ip_address: IP, user_agent: UA, refresh_expires_in: 600, ...keyBody });
  t.equal(issued.status, 201, JSON.stringify(issued.body));
  const verifies = 7;
  for (let i = 0; i < verifies; i++) {
    const v = await call('verify_apikey', { apikey: issued.body.apikey, ip_address: IP, user_agent: UA });
    t.equal(v.body.valid, true, JSON.stringify(v.body));
  }
  srv.child.kill('SIGTERM');
  t.equal(await srv.exited, 0, `exit 0 after SIGTERM\n${srv.output()}`);
  t.notMatch(srv.output(), /usage flush failed|database connection is not open/, 'the flush ran while the store was open');

  const db = new Database(path.join(env.AUTHNZD_DATA_DIR, 'authnzd.sqlite'), { readonly: true });
  t.teardown(() => db.close());
  const row = db.prepare('SELECT use_count, last_used_at FROM api_keys WHERE id = ?').get(issued.body.key_id) as { use_count: number; last_used_at: number | null };
  t.equal(row.use_count, verifies, 'every buffered use reached the database');
  t.type(row.last_used_at, 'number');
});
