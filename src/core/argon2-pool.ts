import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/*
 * argon2id in worker threads of their own, at a lower CPU priority than the event loop (issue 7).
 * On libuv's thread pool a hash competes with the event loop as an equal: on a one-core process
 * (or container) a login storm tripled the verify_apikey p99. Here each worker lowers its own
 * nice value (on Linux the nice value is per thread), so the kernel runs the event loop first and
 * gives the hashes what is left; with a free core, nothing changes. Nice 10 gives a busy event
 * loop about ten times a hash's share of one core: logins slow down under a verify flood, they do
 * not stop. AUTHNZD_ARGON2_NICE sets it (0 = same priority as the event loop).
 *
 * The worker is a few lines of CommonJS evaluated in place (no second file to resolve from
 * src/ and from dist/), calling @node-rs/argon2's synchronous API inside the worker.
 */

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const os = require('node:os');
const argon2 = require(workerData.argon2Path);
let nice = null;
try {
  os.setPriority(0, workerData.nice);
  nice = os.getPriority(0);
} catch {}
parentPort.postMessage({ ready: true, nice });
parentPort.on('message', (job) => {
  try {
    const value = job.op === 'hash' ? argon2.hashSync(job.password, job.params) : argon2.verifySync(job.hash, job.password);
    parentPort.postMessage({ id: job.id, value });
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: String((err && err.message) || err) });
  }
});
`;

export type Argon2Job =
  | { op: 'hash'; password: string; params: Record<string, number> }
  | { op: 'verify'; hash: string; password: string };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/** One worker: one job at a time (the pool sees to it). */
class Argon2Worker {
  private readonly worker: Worker;
  /** False once the thread has failed or exited. */
  alive = true;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** The nice value the worker runs at (null: it could not change it). */
  readonly ready: Promise<number | null>;

  constructor(nice: number) {
    const argon2Path = createRequire(import.meta.url).resolve('@node-rs/argon2');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { argon2Path, nice } });
    let started: (nice: number | null) => void;
    this.ready = new Promise((resolve) => (started = resolve));
    this.worker.on('message', (m: { ready?: true; nice?: number | null; id?: number; value?: unknown; error?: string }) => {
      if (m.ready) return started(m.nice ?? null);
      const p = this.pending.get(m.id!);
      if (!p) return;
      this.pending.delete(m.id!);
      if (this.pending.size === 0) this.worker.unref();
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.value);
    });
    const fail = (err: Error) => {
      this.alive = false;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      started(null);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`argon2 worker exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker's port again. An idle
    // worker never keeps the process alive (a busy one does: see run).
    this.worker.unref();
  }

  /** The worker's nice value, once it has started (kept alive meanwhile). */
  async niceValue(): Promise<number | null> {
    this.worker.ref();
    try {
      return await this.ready;
    } finally {
      if (this.pending.size === 0) this.worker.unref();
    }
  }

  run(job: Argon2Job): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // While a job is out, the worker keeps the process alive (a CLI awaiting a hash must not exit).
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...job });
    });
  }
}

/**
 * At most `size` workers at `nice`, made on first use; the bound on argon2 work in flight. A job
 * takes an idle worker, or starts one while fewer than `size` run, or waits its turn (first come,
 * first served: hashes, verifies and the dummy verify of unknown users queue alike, so their
 * timing stays equal). A worker that dies fails its job; the next job in line gets a new one.
 */
export class Argon2Pool {
  private idle: Argon2Worker[] = [];
  private running = 0;
  private waiting: ((w: Argon2Worker) => void)[] = [];

  constructor(private readonly size: number, private readonly nice: number) {}

  private acquire(): Argon2Worker | Promise<Argon2Worker> {
    const w = this.idle.pop();
    if (w) return w;
    if (this.running < this.size) {
      this.running++;
      return new Argon2Worker(this.nice);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(w: Argon2Worker): void {
    const next = this.waiting.shift();
    if (next) next(w.alive ? w : new Argon2Worker(this.nice)); // the slot is handed over
    else if (w.alive) {
      this.idle.push(w);
    } else this.running--;
  }

  private async use<T>(fn: (w: Argon2Worker) => Promise<T>): Promise<T> {
    const w = await this.acquire();
    try {
      return await fn(w);
    } finally {
      this.release(w);
    }
  }

  run(job: Argon2Job): Promise<unknown> {
    return this.use((w) => w.run(job));
  }

  /** The nice value of one worker (starting one if none runs): for tests and diagnostics. */
  workerNice(): Promise<number | null> {
    return this.use((w) => w.niceValue());
  }
}
