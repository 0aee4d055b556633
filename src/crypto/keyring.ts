import { randomBytes, webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { keyringVersionOf, sameKeyringVersion, type KeyringVersion } from '../db/store/keyring.js';
import { ConfigError } from '../config.js';
import type { KeyringEntry } from '../db/types.js';
import { seal, unseal } from './seal.js';

/*
 * The keyring of the API-key envelope: one content-encryption key (JWE `dir` + A256GCM) and one
 * signing key (JWS) that issue, plus every older key, which keeps verifying. Keys live in the
 * database (shared by every instance) and are imported once as CryptoKeys: re-importing on each
 * call costs 35–50 µs per verify (PERFORMANCE-NOTES).
 */

export type SigningAlg = 'HS256' | 'ES256' | 'EdDSA';
export const SIGNING_ALGS: readonly SigningAlg[] = ['HS256', 'ES256', 'EdDSA'];
/** Chosen by measurement (bench/crypto.ts, docs/apikeys.md): the fastest verify; see the docs for why a symmetric signature is safe here. */
export const DEFAULT_SIGNING_ALG: SigningAlg = 'HS256';
export const ENCRYPTION_ALG = 'A256GCM';

export interface LoadedKey {
  kid: string;
  use: 'enc' | 'sig';
  alg: string;
  createdAt: number;
  retiredAt: number | null;
  /** enc: the AES key; sig: the private (or HMAC) key. */
  key: CryptoKey;
  /** enc: the AES key; sig: the public (or HMAC) key. */
  verifyKey: CryptoKey;
}

export type NewKeyringEntry = Omit<KeyringEntry, 'retiredAt'>;

function newKid(use: 'enc' | 'sig', now: number): string {
  const day = new Date(now).toISOString().slice(0, 10).replaceAll('-', '');
  return `${use}-${day}-${randomBytes(6).toString('base64url')}`;
}

function rawSecret(): JWK {
  return { kty: 'oct', k: randomBytes(32).toString('base64url') };
}

/** A fresh encryption key and signing key, ready to insert (sealed when a key-encryption key is set). */
export async function generateKeyringEntries(now: number, kek: string | undefined, sigAlg: SigningAlg = DEFAULT_SIGNING_ALG): Promise<NewKeyringEntry[]> {
  const sigJwk = sigAlg === 'HS256'
    ? rawSecret()
    : await exportJWK((await generateKeyPair(sigAlg, { extractable: true })).privateKey);
  const out: NewKeyringEntry[] = [];
  for (const [use, alg, jwk] of [['enc', ENCRYPTION_ALG, rawSecret()], ['sig', sigAlg, sigJwk]] as const) {
    const kid = newKid(use, now);
    const json = JSON.stringify(jwk);
    out.push({ kid, use, alg, material: kek ? seal(json, kek, kid) : json, sealed: kek !== undefined, createdAt: now });
  }
  return out;
}

async function importEntry(e: KeyringEntry, kek: string | undefined): Promise<LoadedKey> {
  if (e.sealed && kek === undefined) throw new ConfigError('AUTHNZD_KEY_ENCRYPTION_KEY', `is not set, and keyring entry ${e.kid} is sealed`);
  const jwk = JSON.parse(e.sealed ? unseal(e.material, kek!, e.kid) : e.material) as JWK;
  const base = { kid: e.kid, use: e.use, alg: e.alg, createdAt: e.createdAt, retiredAt: e.retiredAt };
  if (jwk.kty === 'oct') {
    const raw = Buffer.from(jwk.k ?? '', 'base64url');
    const algorithm = e.use === 'enc' ? { name: 'AES-GCM' } : { name: 'HMAC', hash: 'SHA-256' };
    const usages: webcrypto.KeyUsage[] = e.use === 'enc' ? ['encrypt', 'decrypt'] : ['sign', 'verify'];
    const key = await webcrypto.subtle.importKey('raw', raw, algorithm, false, usages) as CryptoKey;
    return { ...base, key, verifyKey: key };
  }
  const { d: _private, ...publicJwk } = jwk;
  return {
    ...base,
    key: await importJWK(jwk, e.alg) as CryptoKey,
    verifyKey: await importJWK(publicJwk, e.alg) as CryptoKey,
  };
}

/** Public description of a key (CLI, logs): never the material. */
export interface KeyInfo {
  kid: string;
  use: 'enc' | 'sig';
  alg: string;
  createdAt: number;
  retiredAt: number | null;
  issuing: boolean;
}

export interface KeyringOptions {
  /** Reads every keyring row from the shared database. */
  source: () => Promise<KeyringEntry[]>;
  /**
   * The stored keyring's version (one aggregate read), for `reloadIfChanged`. Without it (a
   * keyring over fixed entries: tests, benchmarks, the CLI) only `reload()` changes the keys.
   */
  version?: () => Promise<KeyringVersion>;
  keyEncryptionKey: string | undefined;
  now: () => number;
  /** Least time between two reloads caused by unknown key ids (a flood of forged kids cannot hammer the database). */
  minReloadMs?: number;
}

/**
 * The loaded keyring. `reload()` merges keys added by another process (e.g. `keys rotate`); an
 * unknown `kid` triggers a rate-limited reload, so a key issued by another instance right after
 * a rotation verifies here at once.
 */
export class Keyring {
  private keys = new Map<string, LoadedKey>();
  private issuingKids: { enc?: string; sig?: string } = {};
  private lastUnknownKidReload = -Infinity;
  private reloading: Promise<void> | undefined;
  /** The version of the rows the last completed reload read. */
  private loadedVersion: KeyringVersion | undefined;

  constructor(private readonly opts: KeyringOptions) {}

  get size(): number {
    return this.keys.size;
  }

  async reload(): Promise<void> {
    this.reloading ??= (async () => {
      try {
        const rows = await this.opts.source();
        for (const e of rows) {
          const known = this.keys.get(e.kid);
          if (known) known.retiredAt = e.retiredAt;
          else this.keys.set(e.kid, await importEntry(e, this.opts.keyEncryptionKey));
        }
        this.issuingKids = { enc: this.newest('enc')?.kid, sig: this.newest('sig')?.kid };
        this.loadedVersion = keyringVersionOf(rows);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  /**
   * Reloads when the stored keyring is not the one loaded (a `keys rotate` by another process
   * committed since), so that keys issued after a rotation use its keys (SPEC §4.1: "from then
   * on"). Called before choosing the issuing keys of every new API key; costs one aggregate read
   * when nothing changed. Never on the verify path.
   */
  async reloadIfChanged(): Promise<void> {
    if (this.opts.version === undefined) return;
    const stored = await this.opts.version();
    // A reload already under way (the periodic one) may have read the rows before the rotation
    // committed; reload() hands out that one, so a second reload reads them again.
    for (let i = 0; i < 2 && !sameKeyringVersion(stored, this.loadedVersion); i++) await this.reload();
  }

  /** The issuing key of a use: live (not retired) before retired, then the newest, then the highest kid. */
  private newest(use: 'enc' | 'sig'): LoadedKey | undefined {
    const rank = (k: LoadedKey): [number, number, string] => [k.retiredAt === null ? 1 : 0, k.createdAt, k.kid];
    let best: LoadedKey | undefined;
    for (const k of this.keys.values()) {
      if (k.use !== use) continue;
      if (!best) {
        best = k;
        continue;
      }
      const [a, b] = [rank(k), rank(best)];
      if (a[0] !== b[0] ? a[0] > b[0] : a[1] !== b[1] ? a[1] > b[1] : a[2] > b[2]) best = k;
    }
    return best;
  }

  /** The key that issues new API keys. */
  issuing(use: 'enc' | 'sig'): LoadedKey {
    const kid = this.issuingKids[use];
    const key = kid === undefined ? undefined : this.keys.get(kid);
    if (!key) throw new Error(`keyring has no ${use} key`);
    return key;
  }

  /** The loaded key named `kid` for `use`, without reloading (the verify path's first try). */
  get(kid: string, use: 'enc' | 'sig'): LoadedKey | undefined {
    const key = this.keys.get(kid);
    return key?.use === use ? key : undefined;
  }

  /** The key named `kid` for `use`; an unknown kid reloads the keyring (at most once per `minReloadMs`). */
  async find(kid: string, use: 'enc' | 'sig'): Promise<LoadedKey | undefined> {
    let key = this.keys.get(kid);
    if (key === undefined && this.opts.now() - this.lastUnknownKidReload >= (this.opts.minReloadMs ?? 1000)) {
      this.lastUnknownKidReload = this.opts.now();
      await this.reload();
      key = this.keys.get(kid);
    }
    return key?.use === use ? key : undefined;
  }

  list(): KeyInfo[] {
    return [...this.keys.values()]
      .sort((a, b) => b.createdAt - a.createdAt || (a.kid < b.kid ? 1 : -1))
      .map((k) => ({ kid: k.kid, use: k.use, alg: k.alg, createdAt: k.createdAt, retiredAt: k.retiredAt, issuing: this.issuingKids[k.use] === k.kid }));
  }
}
