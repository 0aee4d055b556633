import t from 'tap';
import { CLIENT_CACHE_TTL_MS, ClientAuthenticator } from '../src/core/clients.js';
import { hashToken } from '../src/core/tokens.js';
import type { Store } from '../src/db/store.js';
import type { Client } from '../src/db/types.js';
import { FakeClock } from './helper.js';

/*
 * ClientAuthenticator's cache rules without a database (the PostgreSQL behaviour end to end:
 * test/routes/client-cache-pg.test.ts; SQLite's change stamp: test/process/sqlite-instances.test.ts).
 */

const SECRET = 'azc_unit-test-secret';

/** A store whose one client can be revoked, counting lookups; `gate` holds a lookup until released. */
function fakeStore() {
  const state = { live: true, lookups: 0, gate: undefined as Promise<void> | undefined };
  const client: Client = { id: 'cli_1', name: 'one', secretHash: hashToken(SECRET), actions: ['*'], createdAt: 0, revokedAt: null };
  const store = {
    clients: {
      async findLiveBySecretHash(hash: string) {
        state.lookups++;
        const live = state.live; // read when the lookup runs
        if (state.gate) await state.gate;
        return live && hash === client.secretHash ? client : undefined;
      },
    },
  } as unknown as Store;
  return { store, state };
}

t.test('a live watch: answers kept until invalidated, however long', async (t) => {
  const { store, state } = fakeStore();
  const clock = new FakeClock();
  const auth = new ClientAuthenticator(store, () => clock.now());
  const watch = { live: true };
  auth.follow(watch);
  t.equal((await auth.authenticate(SECRET))?.id, 'cli_1');
  clock.advance(3600);
  t.equal(auth.cached(SECRET)?.client?.id, 'cli_1', 'an hour later, still cached: nothing was announced');
  state.live = false;
  t.equal((await auth.authenticate(SECRET))?.id, 'cli_1', 'an unannounced change is not seen while the watch is live');
  auth.invalidate();
  t.equal(auth.cached(SECRET), undefined, 'the announcement drops it');
  t.equal(await auth.authenticate(SECRET), undefined, 'and the next lookup sees the revocation');
  t.equal(state.lookups, 2);
});

t.test('the watch down: answers kept at most the TTL from their read', async (t) => {
  const { store, state } = fakeStore();
  const clock = new FakeClock();
  const auth = new ClientAuthenticator(store, () => clock.now());
  const watch = { live: true };
  auth.follow(watch);
  await auth.authenticate(SECRET);
  clock.advance(CLIENT_CACHE_TTL_MS / 1000 / 2);
  watch.live = false;
  t.ok(auth.cached(SECRET), 'read within the TTL: kept');
  clock.advance(CLIENT_CACHE_TTL_MS / 1000 / 2);
  t.equal(auth.cached(SECRET), undefined, 'no longer than the TTL after it was read');
  state.live = false;
  t.equal(await auth.authenticate(SECRET), undefined);
  t.ok(CLIENT_CACHE_TTL_MS <= 1000, 'the TTL is shorter than the old 5 s');
});

t.test('an answer read while a change is announced is not cached', async (t) => {
  const { store, state } = fakeStore();
  const auth = new ClientAuthenticator(store, () => 0);
  auth.follow({ live: true });
  let release!: () => void;
  state.gate = new Promise((r) => (release = r));
  const pending = auth.authenticate(SECRET); // reads "live" before the change below
  state.live = false;
  auth.invalidate(); // the revocation's notification arrives while the read is in flight
  release();
  t.equal((await pending)?.id, 'cli_1', 'the racing request gets what it read');
  state.gate = undefined;
  t.equal(auth.cached(SECRET), undefined, 'but it is not kept: it may predate the announced change');
  t.equal(await auth.authenticate(SECRET), undefined, 'the next request reads again and is refused');
});

t.test('no stamp and no watch: the TTL', async (t) => {
  const { store } = fakeStore();
  const clock = new FakeClock();
  const auth = new ClientAuthenticator(store, () => clock.now());
  await auth.authenticate(SECRET);
  t.ok(auth.cached(SECRET));
  clock.advance(CLIENT_CACHE_TTL_MS / 1000);
  t.equal(auth.cached(SECRET), undefined);
});
