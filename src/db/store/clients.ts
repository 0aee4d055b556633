import type { Client, AuditEvent } from '../types.js';

export interface NewClient {
  id: string;
  name: string;
  secretHash: string;
  actions: string[];
  createdAt: number;
}

export interface ClientStore {
  create(client: NewClient, audit?: AuditEvent): Promise<Client>;
  /** Live (not revoked) client whose secret hashes to `secretHash`. */
  findLiveBySecretHash(secretHash: string): Promise<Client | undefined>;
  list(): Promise<Client[]>;
  countLive(): Promise<number>;
  /** Revokes the live client named `name`; false if there is none. */
  revokeByName(name: string, now: number, audit?: AuditEvent): Promise<boolean>;
}
