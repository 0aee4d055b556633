import type { User, AuditEvent } from '../types.js';

export interface NewUser {
  systemId: string;
  email: string;
  fullName: string | null;
  passwordHash: string | null;
  role: string;
  isActive: boolean;
  emailVerified: boolean;
  extra: Record<string, unknown>;
  createdAt: number;
}

export interface UserStore {
  /** Throws a ConflictError (db/errors.ts) when the email or system id is taken. */
  create(user: NewUser, audit?: AuditEvent): Promise<User>;
  getById(id: number): Promise<User | undefined>;
  getByEmail(email: string): Promise<User | undefined>;
  getBySystemId(systemId: string): Promise<User | undefined>;
  count(): Promise<number>;
}
