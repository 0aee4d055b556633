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

/** An error message without the SQL parameters drivers append (they can hold hashes), bounded. */
const loggedMessage = (message: string) => message.split('\nparams:')[0]!.slice(0, 500);

/** Drops driver details (SQL parameters can hold hashes) and keeps what an operator needs. */
function errSerializer(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) {
    // Not an Error (a thrown value, a plain object): its `message` if it has one, not "[object Object]".
    const m = (err as { message?: unknown } | null | undefined)?.message;
    return { message: loggedMessage(typeof m === 'string' ? m : String(err)) };
  }
  const message = loggedMessage(err.message);
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

type LevelMethod = (...args: unknown[]) => void;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/**
 * The per-request logger Fastify asks for (`childLoggerFactory`): a pino child with the request
 * id, made only when something is logged at an enabled level. Fastify otherwise builds a pino
 * child (bindings serialised, redaction applied) for every request, logged or not: 3% of a
 * verify_apikey's CPU at warn level (issue 7).
 */
export class LazyChildLogger {
  private real: Logger | undefined;
  declare fatal: LevelMethod;
  declare error: LevelMethod;
  declare warn: LevelMethod;
  declare info: LevelMethod;
  declare debug: LevelMethod;
  declare trace: LevelMethod;

  constructor(private readonly parent: Logger, private readonly bindings: pino.Bindings) {}

  /** The pino child, made on first use. */
  get logger(): Logger {
    return (this.real ??= this.parent.child(this.bindings));
  }

  get level(): string {
    return this.real?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.real ?? this.parent).isLevelEnabled(level);
  }

  child(bindings: pino.Bindings, opts?: pino.ChildLoggerOptions): Logger {
    return this.logger.child(bindings, opts);
  }

  silent(): void {}
}
for (const level of LEVELS) {
  LazyChildLogger.prototype[level] = function (this: LazyChildLogger, ...args: unknown[]) {
    if (this.isLevelEnabled(level)) (this.logger[level] as LevelMethod)(...args);
  };
}

/** Fastify's `childLoggerFactory`: lazy children, unless a route sets its own level. */
export function lazyChildLoggerFactory(logger: Logger, bindings: pino.Bindings, opts: pino.ChildLoggerOptions): Logger {
  if (opts.level !== undefined) return logger.child(bindings, opts);
  return new LazyChildLogger(logger, bindings) as unknown as Logger;
}
