import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/**
 * Fields that may carry secrets. Bodies are never logged, so these guard against an object being
 * logged by mistake; the authorization header is the one secret a request log would otherwise show.
 */
export const redactPaths = [
  'req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]',
  ...['password', 'current_password', 'new_password', 'session_token', 'keep_session_token', 'apikey',
    'refresh_token', 'reset_token', 'verification_token', 'secret', 'client_secret', 'token']
    .flatMap((k) => [k, `*.${k}`]),
];

/** Drops driver details (SQL parameters can hold hashes) and keeps what an operator needs. */
function errSerializer(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const message = err.message.split('\nparams:')[0]!.slice(0, 500);
  // The stack begins with the message, parameters included: keep only the frames.
  const frames = err.stack?.split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 7).join('\n');
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  return {
    type: err.name, message, code: (err as { code?: unknown }).code, stack: frames,
    ...(cause && typeof cause === 'object' ? { cause: { code: cause.code, message: String(cause.message ?? '').split('\n')[0]!.slice(0, 200) } } : {}),
  };
}

export function createLogger(level: LogLevel, stream?: DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'authnzd' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: { err: errSerializer, error: errSerializer },
  }, stream);
}
