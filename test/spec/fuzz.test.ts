import t from 'tap';
import { show } from '../helper.js';
import { activeUser, login, specApp } from './util.js';

/*
 * SPEC §2: "5xx answers never carry internal error text" — and well-typed input should never
 * cause one. Every action gets bodies built from its own OpenAPI schema with odd but valid
 * values; any 5xx is a bug.
 */

type Schema = { type?: string; properties?: Record<string, Schema>; required?: string[]; anyOf?: Schema[]; items?: Schema; format?: string; minimum?: number; maxLength?: number; pattern?: string };

function sample(s: Schema, variant: number, tokens: string[]): unknown {
  if (s.anyOf) return sample(s.anyOf[variant % s.anyOf.length]!, variant, tokens);
  switch (s.type) {
    case 'string': {
      if (s.format === 'ip-address') return ['10.0.0.1', '::1', '2001:db8::ffff:1', '0.0.0.0'][variant % 4];
      if (s.pattern === '^[0-9]{1,15}$') return ['1', '999999999999999', '0'][variant % 3];
      if (s.pattern) return 'abc';
      const pool = [tokens[variant % tokens.length] ?? 'x', 'ｘ\u0000y', 'é'.repeat(Math.min(s.maxLength ?? 50, 50)), 'a@b.co', '../../etc/passwd', "'; DROP TABLE users; --"];
      const v = pool[variant % pool.length]!;
      return s.maxLength !== undefined ? v.slice(0, s.maxLength) : v;
    }
    case 'integer': return [1, 2, 3, 2147483647, Number.MAX_SAFE_INTEGER][variant % 5]! < (s.minimum ?? -Infinity) ? s.minimum : [1, 2, 3, 2147483647, Number.MAX_SAFE_INTEGER][variant % 5];
    case 'number': return [0, -1, 1e300, 0.5][variant % 4];
    case 'boolean': return variant % 2 === 0;
    case 'array': return s.items ? [sample(s.items, variant, tokens)] : [];
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) {
        if ((s.required ?? []).includes(k) || variant % 2 === 0) out[k] = sample(v, variant + k.length, tokens);
      }
      return out;
    }
    default: return {};
  }
}

t.test('no well-typed body makes any action answer 5xx', async (t) => {
  const h = await specApp(t);
  h.app.logins.sleep = async () => {};
  const u = await activeUser(h);
  const s = await login(h, u.email);
  const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, { post: { requestBody?: { content: Record<string, { schema: Schema }> } } }> };
  let calls = 0;
  const statuses: Record<number, number> = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith('/v1/')) continue;
    const schema = item.post.requestBody?.content['application/json']?.schema ?? { type: 'object' };
    for (let variant = 0; variant < 8; variant++) {
      const res = await h.call(path.slice(4), sample(schema, variant, [s, 'azs_unknown']));
      calls++;
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      if (res.statusCode >= 500) t.fail(`${path} variant ${variant}: ${show(res)}`);
    }
  }
  t.ok(calls > 200, `${calls} calls: ${JSON.stringify(statuses)}`);
  t.ok((statuses[200] ?? 0) + (statuses[201] ?? 0) > 20, "many bodies pass validation");
});
