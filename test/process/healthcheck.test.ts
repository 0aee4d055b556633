import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import { buildTestApp, repoRoot } from '../helper.js';
import { runCommand } from './util.js';

/** The Dockerfile's HEALTHCHECK script (bin/healthcheck.js), run as the container runs it. */
const healthcheck = (env: Record<string, string>) => runCommand([path.join(repoRoot, 'bin/healthcheck.js')], env);

async function listening(t: Parameters<typeof buildTestApp>[0], env: Record<string, string> = {}) {
  const h = await buildTestApp(t, { env });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  return String((h.app.server.address() as { port: number }).port);
}

const tlsFixture = (name: string) => path.join(repoRoot, 'test/fixtures/tls', name);

t.test('exit 0 when /health answers 200 (HTTP; a wildcard AUTHNZD_HOST is asked on loopback)', async (t) => {
  const port = await listening(t);
  t.equal((await healthcheck({ AUTHNZD_PORT: port })).code, 0);
  t.equal((await healthcheck({ AUTHNZD_PORT: port, AUTHNZD_HOST: '0.0.0.0' })).code, 0);
});

t.test('HTTPS when AUTHNZD_TLS_CERT is set (the certificate is not checked)', async (t) => {
  const env = { AUTHNZD_TLS_CERT: tlsFixture('a.crt'), AUTHNZD_TLS_KEY: tlsFixture('a.key') };
  const port = await listening(t, env);
  t.equal((await healthcheck({ AUTHNZD_PORT: port, ...env })).code, 0);
  t.equal((await healthcheck({ AUTHNZD_PORT: port })).code, 1, 'plain HTTP to an HTTPS port fails');
});

t.test('exit 1 when nothing listens, with the reason on stderr', async (t) => {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = String((server.address() as { port: number }).port);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const r = await healthcheck({ AUTHNZD_PORT: port });
  t.equal(r.code, 1);
  t.match(r.stderr, /authnzd health check: .*ECONNREFUSED/);
});

t.test('exit 1 when /health answers anything but 200', async (t) => {
  const server = http.createServer((_req, res) => {
    res.statusCode = 503;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = String((server.address() as { port: number }).port);
  t.equal((await healthcheck({ AUTHNZD_PORT: port })).code, 1);
});
