import Database from 'better-sqlite3';

/**
 * Seeding. Everything the scenarios use (users, sessions, keys) is created through the real HTTP
 * API with the admin client, except the 1,000,000 filler rows of the large-table scenario, which
 * are written straight into the SQLite file while the service is stopped (see fillApiKeys).
 */

export const BENCH_IP = '203.0.113.7';
export const BENCH_UA = 'authnzd-bench/1 (+https://example.test/bench)';
export const BENCH_PASSWORD = 'Bench-Quartz-Lantern-Orbit-73';

export interface Reply {
  status: number;
  json: Record<string, unknown>;
}

export class Api {
  private actions: Set<string> | undefined;

  constructor(readonly base: string, readonly secret: string) {}

  async call(action: string, body: unknown): Promise<Reply> {
    const res = await fetch(`${this.base}/v1/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.secret}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  /** Calls and insists on `status`; the error names the action and shows the answer. */
  async must(action: string, body: unknown, status = 200): Promise<Record<string, unknown>> {
    const r = await this.call(action, body);
    if (r.status !== status) throw new Error(`${action} answered ${r.status} (expected ${status}): ${JSON.stringify(r.json)}`);
    return r.json;
  }

  /** Actions the running service offers, from its OpenAPI document. */
  async has(action: string): Promise<boolean> {
    if (!this.actions) {
      const doc = (await (await fetch(`${this.base}/openapi.json`)).json()) as { paths?: Record<string, unknown> };
      this.actions = new Set(Object.keys(doc.paths ?? {}).filter((p) => p.startsWith('/v1/')).map((p) => p.slice(4)));
    }
    return this.actions.has(action);
  }
}

/** Runs `fn(0..n-1)` with at most `concurrency` calls in flight; results in index order. */
export async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  return out;
}

/** A distinct documentation-range-free private IPv4 per index (10.0.0.0/8). */
export function ipFor(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) || 1}`;
}

export async function anonymousSession(api: Api, ip = BENCH_IP, ua = BENCH_UA): Promise<string> {
  const s = await api.must('session_new', { ip_address: ip, user_agent: ua }, 201);
  return s.session_token as string;
}

export async function login(api: Api, email: string, password: string): Promise<{ userId: number; session: string }> {
  const anon = await anonymousSession(api);
  const r = await api.must('user_login', { session_token: anon, email, password });
  return { userId: r.user_id as number, session: r.session_token as string };
}

/** A verified, active user signed up through user_new + user_verify_email, then logged in. */
export async function signUp(api: Api, email: string): Promise<{ userId: number; session: string }> {
  const u = await api.must('user_new', { email, password: BENCH_PASSWORD, full_name: 'Bench User' }, 201);
  await api.must('user_verify_email', { verification_token: u.verification_token });
  return login(api, email, BENCH_PASSWORD);
}

export function issueBody(session: string): Record<string, unknown> {
  return {
    session_token: session, ip_address: BENCH_IP, user_agent: BENCH_UA,
    audience: 'bench-api', subject: 'bench', api_version: 1, expires_in: 86400,
  };
}

export async function issueKeys(api: Api, session: string, n: number, concurrency = 16): Promise<string[]> {
  return pool(n, concurrency, async () => (await api.must('issue_apikey', issueBody(session), 201)).apikey as string);
}

export function verifyBody(apikey: string): string {
  return JSON.stringify({ apikey, ip_address: BENCH_IP, user_agent: BENCH_UA });
}

/** Fresh anonymous sessions, each from its own IP (per-IP login limits never trip). */
export async function anonymousSessions(api: Api, n: number, concurrency = 16): Promise<string[]> {
  return pool(n, concurrency, (i) => anonymousSession(api, ipFor(i + 1), BENCH_UA));
}

/**
 * Adds `n` filler rows to api_keys, straight into the SQLite file (the service must be stopped):
 * one prepared INSERT … SELECT in one transaction that copies a real row issued through the API,
 * giving each copy a random id (same prefix and length) and a random token hash. (A JS loop of
 * single-row INSERTs costs ~5× more per row.) The filler rows have no usable key, so only verify
 * traffic for keys issued through the API goes through HTTP.
 */
export function fillApiKeys(file: string, n: number): { seconds: number; rows: number } {
  const t0 = performance.now();
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -262144');
    const template = db.prepare('SELECT * FROM api_keys ORDER BY rowid LIMIT 1').get() as Record<string, unknown> | undefined;
    if (n > 0) {
      if (!template) throw new Error('api_keys is empty: issue at least one key through the API first');
      const id = String(template.id);
      const prefix = /^[A-Za-z]+_/.exec(id)?.[0] ?? '';
      const len = id.length - prefix.length;
      const cols = Object.keys(template).filter((c) => c !== 'id' && c !== 'token_hash').map((c) => `"${c}"`);
      const insert = db.prepare(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < @n)
        INSERT INTO api_keys (id, token_hash, ${cols.join(', ')})
        SELECT @prefix || substr(lower(hex(randomblob(@bytes))), 1, @len), lower(hex(randomblob(32))), ${cols.map((c) => `t.${c}`).join(', ')}
        FROM c, (SELECT * FROM api_keys WHERE rowid = @rowid) AS t`);
      const rowid = (db.prepare('SELECT min(rowid) AS r FROM api_keys').get() as { r: number }).r;
      db.transaction(() => insert.run({ n, prefix, bytes: Math.ceil(len / 2), len, rowid }))();
      // The checkpoint fsyncs the file (synchronous ≥ NORMAL), so the filler reaches the disk
      // here. With synchronous still OFF it would stay dirty in the OS page cache (hundreds of MB
      // for a million rows), and the service's first checkpoint, at its first usage flush, would
      // write all of it back inside the measured load: a 0.5 s stall that a table written over
      // months never has.
      db.pragma('synchronous = NORMAL');
      db.pragma('wal_checkpoint(TRUNCATE)');
    }
    const rows = (db.prepare('SELECT count(*) AS n FROM api_keys').get() as { n: number }).n;
    return { seconds: (performance.now() - t0) / 1000, rows };
  } finally {
    db.close();
  }
}
