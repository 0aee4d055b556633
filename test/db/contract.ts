import type { Test } from 'tap';
import { apikeysContract } from './contract/apikeys.js';
import { atomicityContract } from './contract/atomicity.js';
import { basicsContract, startupContract } from './contract/basics.js';
import type { ContractTarget } from './contract/fixtures.js';
import { keyringContract } from './contract/keyring.js';
import { sessionsContract } from './contract/sessions.js';
import { usersContract } from './contract/users.js';

export type { ContractTarget } from './contract/fixtures.js';

/**
 * The store contract: every method of every sub-store, every transaction boundary (the audit
 * row commits with its change, or neither does), every unique constraint, and the races two
 * instances on one database can run into — run unchanged against each dialect
 * (test/db/sqlite.test.ts always, test/db/postgres.test.ts with a PostgreSQL server).
 */
export function storeContract(t: Test, target: ContractTarget): void {
  basicsContract(t, target);
  startupContract(t, target);
  usersContract(t, target);
  sessionsContract(t, target);
  apikeysContract(t, target);
  keyringContract(t, target);
  atomicityContract(t, target);
}
