import { createHash } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config.js';
import { PolicyError, parsePolicyText, type Policy } from './schema.js';

/** The policy in force and where it came from. */
export interface LoadedPolicy {
  policy: Policy;
  /** SHA-256 (hex) of the file's bytes. */
  sha256: string;
  /** Epoch ms. */
  loadedAt: number;
  /** Absolute path of the file. */
  source: string;
}

/** What one reload attempt did (for logs and the audit log). */
export type ReloadResult =
  | { ok: true; sha256: string; previousSha256: string }
  | { ok: false; sha256: string | null; error: string };

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function readPolicy(file: string): { bytes: Buffer; policy: Policy } {
  const bytes = readFileSync(file);
  return { bytes, policy: parsePolicyText(bytes.toString('utf8')) };
}

/** Reads and validates a policy file; throws (PolicyError or a file system error) when unusable. */
export function loadPolicyFile(file: string, now: number): LoadedPolicy {
  const { bytes, policy } = readPolicy(file);
  return { policy, sha256: sha256(bytes), loadedAt: now, source: path.resolve(file) };
}

/**
 * The policy file as `serve`, `init` and `user add` read it before they write anything: an
 * unreadable or invalid file is a configuration error (exit 2) naming AUTHNZD_PERMISSIONS and
 * the path.
 */
export function loadConfiguredPolicy(file: string, now: number): LoadedPolicy {
  try {
    return loadPolicyFile(file, now);
  } catch (err) {
    throw new ConfigError('AUTHNZD_PERMISSIONS', `cannot use policy file ${file}: ${describeLoadError(err)}`);
  }
}

/** One line for an unusable file: the policy path inside the file, or the file system problem. */
export function describeLoadError(err: unknown): string {
  if (err instanceof PolicyError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'file not found';
  if (e?.code === 'EACCES') return 'permission denied';
  return e?.message?.split('\n')[0] ?? String(err);
}

export interface WatcherOptions {
  file: string;
  now: () => number;
  onReload: (result: ReloadResult) => void;
  /** Quiet time after the last change event before reading the file (ms). */
  debounceMs?: number;
  /** Cheap stat poll for file systems where fs.watch misses events (ms). */
  pollMs?: number;
  /** false: rely on the poll alone (tests of the fallback). */
  fsWatch?: boolean;
}

/**
 * Keeps the last good policy and swaps in a new one when the file changes to a valid policy.
 * Watches the directory (editors and `mv` replace the file, which a watch on the file itself
 * would lose) plus a stat poll as a fallback. A refused file keeps the last good policy in
 * force and is reported by lastError() until a valid file replaces it. The swap is one
 * reference assignment, so a request in flight sees either the old or the new policy, never
 * a mix.
 */
export class PolicyWatcher {
  private loaded: LoadedPolicy;
  private error: string | undefined;
  /** Hash of the last file content refused (not reported again until it changes). */
  private refusedSha: string | null = null;
  private fsWatcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastStat = '';
  private readonly file: string;

  constructor(initial: LoadedPolicy, private readonly opts: WatcherOptions) {
    this.loaded = initial;
    this.file = path.resolve(opts.file);
    this.lastStat = this.statKey();
  }

  current(): LoadedPolicy {
    return this.loaded;
  }

  lastError(): string | undefined {
    return this.error;
  }

  start(): void {
    if (this.opts.fsWatch !== false) this.watchDirectory();
    this.poll = setInterval(() => {
      const key = this.statKey();
      if (key !== this.lastStat) {
        this.lastStat = key;
        this.schedule();
      }
    }, this.opts.pollMs ?? 1000);
    this.poll.unref();
  }

  private watchDirectory(): void {
    const base = path.basename(this.file);
    try {
      this.fsWatcher = watch(path.dirname(this.file), { persistent: false }, (_event, name) => {
        if (name === null || name === base) this.schedule();
      });
      this.fsWatcher.on('error', () => {
        this.fsWatcher?.close();
        this.fsWatcher = undefined; // the poll keeps working
      });
    } catch {
      this.fsWatcher = undefined; // e.g. the directory cannot be watched: the poll alone
    }
  }

  stop(): void {
    this.fsWatcher?.close();
    this.fsWatcher = undefined;
    clearInterval(this.poll);
    clearTimeout(this.debounce);
  }

  /** Reads the file now. Unchanged content (same hash) is a no-op and returns undefined. */
  reload(): ReloadResult | undefined {
    this.lastStat = this.statKey();
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.file);
    } catch (err) {
      return this.refuse(null, `${this.file}: ${describeLoadError(err)}`);
    }
    const sha = sha256(bytes);
    if (sha === this.loaded.sha256) {
      // Back to the policy in force (e.g. a bad edit undone): nothing to swap, the error is over.
      this.error = undefined;
      this.refusedSha = null;
      return undefined;
    }
    if (sha === this.refusedSha) return undefined;
    let policy: Policy;
    try {
      policy = parsePolicyText(bytes.toString('utf8'));
    } catch (err) {
      return this.refuse(sha, `${this.file}: ${describeLoadError(err)}`);
    }
    const previousSha256 = this.loaded.sha256;
    this.loaded = { policy, sha256: sha, loadedAt: this.opts.now(), source: this.file };
    this.error = undefined;
    this.refusedSha = null;
    const result: ReloadResult = { ok: true, sha256: sha, previousSha256 };
    this.opts.onReload(result);
    return result;
  }

  private refuse(sha: string | null, error: string): ReloadResult | undefined {
    if (this.error === error && this.refusedSha === sha) return undefined;
    this.error = error;
    this.refusedSha = sha;
    const result: ReloadResult = { ok: false, sha256: sha, error };
    this.opts.onReload(result);
    return result;
  }

  private schedule(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.reload(), this.opts.debounceMs ?? 100);
    this.debounce.unref();
  }

  private statKey(): string {
    try {
      const s = statSync(this.file);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }
}
