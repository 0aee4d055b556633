import https from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ConfigError } from '../src/config.js';
import { loadTls } from '../src/tls.js';
import { buildTestApp, repoRoot } from './helper.js';

/**
 * Test-only self-signed pairs (CN=localhost, 100 years), made with
 * `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a.key -out a.crt
 * -days 36500 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1`.
 */
const fixture = (name: string) => path.join(repoRoot, 'test/fixtures/tls', name);

function problem(tls: { cert: string; key: string }): string {
  try {
    loadTls(tls);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return 'accepted';
}

t.test('a certificate and its key are served over HTTPS', async (t) => {
  const h = await buildTestApp(t, { env: { AUTHNZD_TLS_CERT: fixture('a.crt'), AUTHNZD_TLS_KEY: fixture('a.key') } });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = h.app.server.address() as { port: number };
  const status = await new Promise<number>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: '/health', rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
  t.equal(status, 200);
});

t.test('bad TLS files are refused naming the setting and the path', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = path.join(dir, 'text.pem');
  writeFileSync(text, 'not PEM\n');

  t.equal(problem({ cert: fixture('a.crt'), key: fixture('a.key') }), 'accepted');
  t.match(problem({ cert: text, key: fixture('a.key') }), `AUTHNZD_TLS_CERT: ${text} is not a PEM certificate (`);
  t.match(problem({ cert: fixture('a.key'), key: fixture('a.key') }), `AUTHNZD_TLS_CERT: ${fixture('a.key')} is not a PEM certificate`);
  t.match(problem({ cert: fixture('a.crt'), key: fixture('a.crt') }), `AUTHNZD_TLS_KEY: ${fixture('a.crt')} is not an unencrypted PEM private key`);
  t.match(problem({ cert: fixture('a.crt'), key: fixture('b.key') }),
    `AUTHNZD_TLS_KEY: ${fixture('b.key')} is not the key of the certificate in ${fixture('a.crt')}`);
  t.match(problem({ cert: dir, key: fixture('a.key') }), `AUTHNZD_TLS_CERT: cannot read ${dir} (EISDIR)`);
  t.notMatch(problem({ cert: fixture('a.crt'), key: fixture('b.key') }), /BEGIN|PRIVATE/, 'the key is never quoted');
});
