import path from 'node:path';
import { fileURLToPath } from 'node:url';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

/**
 * The process: read the configuration, build the app, listen, and on SIGTERM/SIGINT stop
 * accepting, let in-flight requests finish, flush buffered writes (onClose hooks), close the
 * database and exit 0.
 */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`authnzd: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // A stop asked for while starting (migrations, first-start seeding) is kept until the start is
  // complete, then carried out as any other: a start is never cut half-way, and the exit is 0.
  // A second signal meanwhile exits at once.
  let stopWhileStarting: NodeJS.Signals | undefined;
  const onStartSignal = (signal: NodeJS.Signals) => {
    if (stopWhileStarting !== undefined) process.exit(1);
    stopWhileStarting = signal;
  };
  process.on('SIGTERM', onStartSignal);
  process.on('SIGINT', onStartSignal);
  let app;
  try {
    app = await buildApp(config);
    await app.ready();
  } catch (err) {
    // Settings found unusable only when used (TLS files, data dir, first-start admin password).
    if (err instanceof ConfigError) {
      process.stderr.write(`authnzd: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`authnzd: cannot start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
    process.exit(1);
  }
  process.off('SIGTERM', onStartSignal);
  process.off('SIGINT', onStartSignal);
  if (stopWhileStarting !== undefined) {
    app.log.info({ signal: stopWhileStarting }, 'shutting down (asked while starting)');
    await app.close();
    process.exit(0);
  }
  if (config.unknownSettings.length) {
    app.log.warn({ settings: config.unknownSettings }, 'ignoring unknown AUTHNZD_* settings');
  }
  closeWithGrace({ delay: 10_000, logger: { error: (m: unknown) => app.log.error(m) } }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
  });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // A port in use or privileged is AUTHNZD_PORT's; a name that does not resolve or an address
    // not on this machine (ENOTFOUND, EADDRNOTAVAIL) is AUTHNZD_HOST's.
    const code = (err as NodeJS.ErrnoException).code;
    const setting = code === 'EADDRINUSE' || code === 'EACCES' ? 'AUTHNZD_PORT' : 'AUTHNZD_HOST';
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    process.stderr.write(`authnzd: cannot start: ${setting}: cannot listen on ${config.host} port ${config.port} (${reason})\n`);
    await app.close();
    process.exit(1);
  }
}

// Run when executed directly (node dist/src/server.js, tsx src/server.ts), not when imported.
const entry = process.argv[1] ? path.resolve(process.argv[1]) : '';
if (entry === fileURLToPath(import.meta.url)) await serve();
