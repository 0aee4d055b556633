import pg from 'pg';
import { firstLine, maskUrl, scrub } from '../mask.js';
import type { ClientWatch, ClientWatchEvents } from '../store.js';

export interface ListenOptions {
  /** Pause between two heartbeats (`SELECT 1` on the listening connection). */
  heartbeatMs?: number;
  /** A heartbeat (or the connection and LISTEN) not answered within this counts as a lost connection. */
  timeoutMs?: number;
  /** First reconnection delay; doubled per failed attempt (with jitter) up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

const DEFAULTS: Required<ListenOptions> = { heartbeatMs: 2000, timeoutMs: 2000, minBackoffMs: 250, maxBackoffMs: 10_000 };

/** How the connection shows in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'authnzd clients listener';

/** How long `close` lets the server acknowledge the goodbye before dropping the socket. */
const END_GRACE_MS = 1000;

/**
 * One dedicated connection (not from the pool: LISTEN belongs to a session) that LISTENs on
 * `channel` and reports each notification. It never throws and never crashes the process:
 * every failure (refused connection, server restart, terminated backend, an unanswered
 * heartbeat on a silently dead network path) marks it not live, is reported once through
 * `onState` with a reason scrubbed of the URL's secrets, and is followed by a reconnection after
 * a growing, jittered delay. After each (re)connection `onChange` is called once, since
 * notifications sent while it was not listening are lost.
 *
 * Liveness: PostgreSQL sends a notification to an idle listening session at once, but a
 * connection whose network path died without a reset (no FIN, no RST) would look healthy
 * forever; the heartbeat bounds that: such a connection counts as lost at most
 * `heartbeatMs + timeoutMs` after it died.
 */
export class PgListener implements ClientWatch {
  private readonly opts: Required<ListenOptions>;
  private readonly secrets: string[];
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private up = false;
  /** Whether the current outage was reported (once per outage, not per attempt). */
  private reportedDown = false;

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly events: ClientWatchEvents,
    opts: ListenOptions = {},
  ) {
    this.opts = { ...DEFAULTS, ...opts };
    this.secrets = maskUrl(url).secrets;
  }

  get live(): boolean {
    return this.up;
  }

  /** Connects and listens; resolves after this first attempt whatever its outcome (a failure retries in the background). */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    if (client) await endClient(client, END_GRACE_MS);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.opts.timeoutMs * 2,
      application_name: LISTENER_APPLICATION_NAME,
      keepAlive: true,
    });
    this.client = client;
    // Without an 'error' listener a dropped connection would crash the process.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    client.on('notification', (n) => {
      if (client === this.client && n.channel === this.channel) this.events.onChange();
    });
    const timer = setTimeout(() => this.lost(client, new Error(`no answer within ${this.opts.timeoutMs * 3} ms`)), this.opts.timeoutMs * 3);
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel.replaceAll('"', '""')}"`);
    } catch (err) {
      this.lost(client, err);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (client !== this.client) return; // closed or lost meanwhile: already being ended
    this.failures = 0;
    this.reportedDown = false;
    this.up = true;
    // From here every commit is announced; what was committed before may not have been.
    this.events.onChange();
    this.events.onState?.({ live: true });
    this.schedule(() => this.heartbeat(client), this.opts.heartbeatMs);
  }

  private async heartbeat(client: pg.Client): Promise<void> {
    const timer = setTimeout(() => this.lost(client, new Error(`no answer to a heartbeat within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
    try {
      await client.query('SELECT 1');
    } catch (err) {
      this.lost(client, err);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (client === this.client) this.schedule(() => this.heartbeat(client), this.opts.heartbeatMs);
  }

  /** The connection `client` failed: report, drop it, and reconnect later (once per connection). */
  private lost(client: pg.Client, err: unknown): void {
    if (client !== this.client) return; // an older connection, or closed
    this.client = undefined;
    this.up = false;
    clearTimeout(this.timer);
    void endClient(client, 0);
    if (this.closed) return;
    if (!this.reportedDown) {
      this.reportedDown = true;
      this.events.onState?.({ live: false, reason: scrub(firstLine(err), this.secrets) });
    }
    const base = Math.min(this.opts.maxBackoffMs, this.opts.minBackoffMs * 2 ** this.failures);
    this.failures++;
    this.schedule(() => this.connect(), base / 2 + Math.random() * (base / 2));
  }

  private schedule(fn: () => Promise<void>, ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void fn().catch(() => {}), ms);
    this.timer.unref();
  }
}

/**
 * Ends `client` without ever waiting on a dead server: the goodbye gets `graceMs` to be
 * acknowledged, then the socket is destroyed. Never rejects.
 */
async function endClient(client: pg.Client, graceMs: number): Promise<void> {
  const socket = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    }),
  ]);
  clearTimeout(timer);
  socket?.destroy();
}
