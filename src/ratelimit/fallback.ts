import type { LimitResult, Limiter } from './limiter.js';

/** What the fallback needs to know about the Redis connection (an ioredis client fits). */
export interface Connection {
  readonly status: string;
  on(event: 'ready' | 'error' | 'close' | 'end', listener: (...args: unknown[]) => void): unknown;
}

export interface FallbackLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Redis first, this instance's memory when Redis cannot answer. The service keeps answering
 * through a Redis outage; limits are then per instance (looser by the number of instances) until
 * Redis is back. Counts made in memory during the outage are not copied to Redis.
 * Each switch is logged once; `degraded` feeds /ready (a warning) and /metrics (a gauge).
 */
export class FallbackLimiter implements Limiter {
  private down = false;
  private since: number | undefined;
  private retryAt = 0;
  private stopped = false;

  constructor(
    private readonly conn: Connection,
    private readonly primary: Limiter,
    private readonly memory: Limiter,
    private readonly log: FallbackLog,
  ) {
    // Ready, but maybe not usable (a refused SELECT: src/plugins/rate-limit.ts): the status says.
    conn.on('ready', () => {
      if (this.conn.status === 'ready') this.recover();
    });
    conn.on('error', (err) => this.fail(err));
    conn.on('close', () => this.fail(new Error('connection closed')));
  }

  /** True while limits are counted in memory because Redis is unreachable. */
  get degraded(): boolean {
    return this.down || this.conn.status !== 'ready';
  }

  /** Epoch ms (wall clock) of the switch to memory, while degraded. */
  get degradedSince(): number | undefined {
    return this.degraded ? this.since ?? Date.now() : undefined;
  }

  hit(key: string, max: number, windowMs: number, now: number): Promise<LimitResult> {
    return this.use((l) => l.hit(key, max, windowMs, now));
  }

  peek(key: string, max: number, windowMs: number, now: number): Promise<LimitResult> {
    return this.use((l) => l.peek(key, max, windowMs, now));
  }

  async reset(key: string): Promise<void> {
    await this.memory.reset(key);
    if (!this.degraded) {
      try {
        await this.primary.reset(key);
      } catch (err) {
        this.fail(err);
      }
    }
  }

  /** Logs the fallback now if Redis is not ready (at start, instead of on the first call). */
  check(): void {
    if (this.conn.status !== 'ready') this.fail(new Error(`redis connection is ${this.conn.status}`));
  }

  /** Stops reporting: the connection is being closed on purpose. */
  stop(): void {
    this.stopped = true;
  }

  private async use(op: (l: Limiter) => Promise<LimitResult>): Promise<LimitResult> {
    // A Redis that errs while connected (e.g. a command timeout) is retried at most once a second.
    if (this.conn.status === 'ready' && (!this.down || Date.now() >= this.retryAt)) {
      try {
        const result = await op(this.primary);
        this.recover();
        return result;
      } catch (err) {
        this.fail(err);
        this.retryAt = Date.now() + 1000;
      }
    } else if (!this.down) {
      this.fail(new Error(`redis connection is ${this.conn.status}`));
    }
    return op(this.memory);
  }

  private fail(err: unknown): void {
    if (this.down || this.stopped) return;
    this.down = true;
    this.since = Date.now();
    // The logger's err serializer takes an Error (a plain object logged "[object Object]").
    this.log.warn({ err: err instanceof Error ? err : new Error(String(err)) }, 'rate limits: Redis unreachable, counting in memory per instance');
  }

  private recover(): void {
    if (!this.down) return;
    this.down = false;
    this.since = undefined;
    this.log.info({}, 'rate limits: Redis reachable again, counters shared');
  }
}
