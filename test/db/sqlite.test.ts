import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createSqliteStore } from '../../src/db/sqlite/index.js';
import type { Store } from '../../src/db/store.js';
import { storeContract } from './contract.js';

storeContract(t, {
  dialect: 'sqlite',
  async fresh(t) {
    const dir = mkdtempSync(path.join(tmpdir(), 'authnzd-contract-'));
    const file = path.join(dir, 'authnzd.sqlite');
    const opened: Store[] = [];
    const open = async () => {
      const s = createSqliteStore(file);
      opened.push(s);
      return s;
    };
    t.teardown(async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { store: await open(), another: open };
  },
});
