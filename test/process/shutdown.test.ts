import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ADMIN_SECRET, FakeClock, repoRoot } from '../helper.js';
import { freshServiceEnv, runCommand, startServer } from './util.js';

/*
 * HTTP during shutdown, over raw sockets (node:net) so keep-alive is under the test's control.
 * (a) An answer finished after close began carries `Connection: close`: the client must not send
 *     its next request on a socket the server is about to drop.
 * (b) A request that still arrives while closing is answered 503 with the error body of SPEC §2
 *     and its x-request-id, not Fastify's own {"error":"Service Unavailable",...}.
 */

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One client socket: what it wrote, the answers parsed so far, and when the server closed it. */
class RawClient {
  private data = '';
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(url: string) {
    const u = new URL(url);
    this.socket = net.connect(Number(u.port), u.hostname);
    this.socket.setEncoding('latin1'); // one char per byte: content-length counts bytes
    this.socket.on('data', (d: string) => {
      this.data += d;
      for (const w of this.waiters.splice(0)) w();
    });
    this.socket.on('error', () => {}); // a write racing the server's close
    this.closed = new Promise((resolve) => this.socket.on('close', () => {
      resolve();
      for (const w of this.waiters.splice(0)) w();
    }));
  }

  get ended(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  write(text: string): void {
    if (!this.ended) this.socket.write(text);
  }

  responses(): RawResponse[] {
    const out: RawResponse[] = [];
    let rest = this.data;
    for (;;) {
      const end = rest.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < end + 4 + length) return out;
      const status = Number(statusLine!.split(' ')[1]);
      if (status >= 200) out.push({ status, headers, body: rest.slice(end + 4, end + 4 + length) });
      rest = rest.slice(end + 4 + length);
    }
  }

  /** Resolves once the server sent `100 Continue`. */
  async continued(): Promise<void> {
    while (!this.data.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !this.socket.destroyed) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves once `n` answers arrived, or the socket closed. */
  async waitFor(n: number): Promise<RawResponse[]> {
    while (this.responses().length < n && !this.socket.destroyed) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.responses();
  }
}

function get(pathname: string, requestId: string): string {
  return `GET ${pathname} HTTP/1.1\r\nhost: authnzd\r\nx-request-id: ${requestId}\r\n\r\n`;
}

/** A 503 as SPEC §2 has it, for the request id sent. */
function isSpec503(t: Test, r: RawResponse, requestId: string, name: string) {
  t.equal(r.status, 503, `${name}: ${JSON.stringify(r)}`);
  t.equal(r.headers['x-request-id'], requestId, `${name}: x-request-id echoed`);
  t.equal(r.headers.connection, 'close', `${name}: Connection: close`);
  const body = JSON.parse(r.body) as Record<string, unknown>;
  t.match(body, { code: 'unavailable', message: String, request_id: requestId }, `${name}: ${r.body}`);
  t.notOk('statusCode' in body || 'error' in body, `${name}: not Fastify's own body`);
}

/** Resolves once the server refuses new connections, i.e. it has stopped listening. */
async function untilRefused(url: string): Promise<void> {
  const u = new URL(url);
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(Number(u.port), u.hostname);
      s.on('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.on('error', () => resolve(true));
    });
    if (refused) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('SIGTERM: the in-flight answer on a keep-alive socket says Connection: close', async (t) => {
  const srv = await startServer(freshServiceEnv(t, 'authnzd-shutdown-'));
  t.teardown(() => srv.child.kill('SIGKILL'));

  const c = new RawClient(srv.url);
  const body = '{"limit": 1}';
  // The headers only: the request is in flight, the socket is not idle. Node answers
  // `100 Continue` in the same turn as it hands the request to Fastify, so once it is here the
  // request was routed before the signal.
  c.write(`POST /v1/audit_query HTTP/1.1\r\nhost: authnzd\r\nx-request-id: inflight-1\r\nauthorization: Bearer ${ADMIN_SECRET}\r\n`
    + `content-type: application/json\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\n\r\n`);
  await c.continued();
  srv.child.kill('SIGTERM');
  await untilRefused(srv.url); // close has begun: the listener is gone
  c.write(body);

  const [first] = await c.waitFor(1);
  t.equal(first?.status, 200, JSON.stringify(first));
  t.equal(first?.headers.connection, 'close', `the answer tells the client to drop the socket: ${JSON.stringify(first?.headers)}`);
  t.equal(first?.headers['x-request-id'], 'inflight-1');

  // The request the audit sent next on the same socket: the server has closed it (nothing is
  // answered), or, if the write won the race, it gets the SPEC 503.
  c.write(get('/health', 'late-2'));
  await c.closed;
  for (const late of c.responses().slice(1)) isSpec503(t, late, 'late-2', 'late request');
  t.equal(await srv.exited, 0, `exit 0 after SIGTERM\n${srv.output()}`);
});

t.test('a request arriving while the app closes is a SPEC 503 with its request id', async (t) => {
  const config = loadConfig({
    ...freshServiceEnv(t, 'authnzd-shutdown-'),
    AUTHNZD_RATE_LIMITS: 'off',
    AUTHNZD_LOG_LEVEL: 'info',
  }, repoRoot);
  let log = '';
  const logStream = new Writable({ write(chunk, _e, cb) { log += chunk.toString(); cb(); } });
  const app = await buildApp(config, { clock: new FakeClock(), logStream });
  // Holds the close between "closing" and "stop listening" (where Fastify drops idle sockets),
  // the window in which a late request can still arrive; production's is short, not empty.
  let began!: () => void;
  const closeBegan = new Promise<void>((resolve) => (began = resolve));
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  app.addHook('preClose', async () => {
    began();
    await held;
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => {
    release();
    return app.close();
  });

  const idle = new RawClient(url);
  idle.write(get('/health', 'early-1'));
  const [early] = await idle.waitFor(1);
  t.equal(early?.status, 200, JSON.stringify(early));
  t.not(early?.headers.connection, 'close', 'before close, the socket is kept alive');

  const closing = app.close();
  await closeBegan;
  idle.write(get('/health', 'late-2'));
  const [, late] = await idle.waitFor(2);
  t.ok(late, `an answer to the late request: ${JSON.stringify(idle.responses())}`);
  if (late) isSpec503(t, late, 'late-2', 'late /health on a kept-alive socket');

  const fresh = new RawClient(url);
  fresh.write(`POST /v1/audit_query HTTP/1.1\r\nhost: authnzd\r\nx-request-id: late-3\r\nauthorization: Bearer ${ADMIN_SECRET}\r\n`
    + 'content-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
  const [action] = await fresh.waitFor(1);
  t.ok(action, 'an answer to the late action');
  if (action) isSpec503(t, action, 'late-3', 'late action on a new socket');

  release();
  await closing;
  t.match(log, /"request_id":"late-2"/, 'the late request has its log line');
});

t.test('SIGTERM while the service is still starting: the start completes, then it stops with exit 0', async (t) => {
  const env = freshServiceEnv(t, 'authnzd-early-stop-');
  // The policy is read first, before the database is opened, migrated and seeded (a first start
  // also hashes the superuser's password): the signal comes while all that is still to do.
  const { code, signal, stdout, stderr } = await runCommand(['--import', 'tsx', path.join(repoRoot, 'src/server.ts')],
    { AUTHNZD_PORT: '0', ...env }, { killOn: /"policy loaded"/, signal: 'SIGTERM' });
  const out = stdout + stderr;
  t.same({ code, signal }, { code: 0, signal: null }, `exit 0, not killed by the signal:\n${out}`);
  t.match(out, /shutting down/);
  t.notMatch(out, /Server listening/, 'it did not start listening');
  t.ok(existsSync(path.join(env.AUTHNZD_DATA_DIR, 'authnzd.sqlite')), 'the start that was under way completed');
});
