#!/usr/bin/env node
// Container health check (the Dockerfile's HEALTHCHECK): exits 0 when GET /health on this
// host's service answers 200 within 2.5 s, 1 otherwise. Reads the service's own settings:
// AUTHNZD_PORT, AUTHNZD_HOST (a wildcard address is asked on loopback) and AUTHNZD_TLS_CERT
// (set: HTTPS, without checking the certificate, which names the service's public host).
import http from 'node:http';
import https from 'node:https';

const env = process.env;
const bound = env.AUTHNZD_HOST || '127.0.0.1';
const host = bound === '0.0.0.0' ? '127.0.0.1' : bound === '::' ? '::1' : bound;
const tls = Boolean(env.AUTHNZD_TLS_CERT);
const req = (tls ? https : http).get({
  host,
  port: Number(env.AUTHNZD_PORT || 13431),
  path: '/health',
  timeout: 2500,
  ...(tls ? { rejectUnauthorized: false } : {}),
}, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => {
  process.stderr.write(`authnzd health check: ${err.message}\n`);
  process.exit(1);
});
