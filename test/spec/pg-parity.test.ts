import t from 'tap';
import { json, show } from '../helper.js';
import { specApp } from './util.js';

/*
 * Inputs the schemas accept must get the same answer on PostgreSQL as on SQLite (operations.md:
 * "Both shapes run the same code and answer the same wire contract"). Run on PostgreSQL with
 * AUTHNZD_SPEC_PG=1 AUTHNZD_TEST_PG_URL=postgres://…
 */

t.test('audit_query takes any time Date.parse reads, on either database', async (t) => {
  const h = await specApp(t);
  for (const [field, value] of [['since', '-271821-04-20T00:00:00Z'], ['since', '0000-01-01T00:00:00Z'], ['until', '+275760-09-13T00:00:00Z'], ['until', '0000-01-01T00:00:00Z']] as const) {
    const res = await h.call('audit_query', { [field]: value });
    t.equal(res.statusCode, 200, `${field} ${value}: ${show(res)}`);
    const { events } = json<{ events: unknown[] }>(res);
    const expectEvents = field === 'since' || value.startsWith('+');
    t.equal(events.length > 0, expectEvents, `${field} ${value}: ${expectEvents ? 'every' : 'no'} event`);
  }
});
