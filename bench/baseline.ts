import { isIP } from 'node:net';
import Fastify from 'fastify';
import { Type } from 'typebox';
import { BODY_LIMIT } from '../src/app.js';

/**
 * The baseline of every ratio: a bare Fastify app (same Fastify, same body limit, same Ajv
 * options and `ip-address` format as src/app.ts, pino at the level the bench gives the service)
 * with one POST route that validates and echoes a body shaped like a verify_apikey request,
 * with body and response schemas. Nothing else: no client auth, no database, no crypto.
 * Run: `BASELINE_PORT=<port> node --import tsx bench/baseline.ts`.
 */

const Body = Type.Object({
  apikey: Type.String({ minLength: 1, maxLength: 4096 }),
  ip_address: Type.String({ format: 'ip-address' }),
  user_agent: Type.String({ maxLength: 1024 }),
}, { additionalProperties: false });

const Echo = Type.Object({
  valid: Type.Boolean(),
  apikey: Type.String(),
  ip_address: Type.String(),
  user_agent: Type.String(),
});

export async function buildBaseline() {
  const app = Fastify({
    logger: { level: 'warn' },
    disableRequestLogging: true,
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: true },
      plugins: [((ajv: { addFormat(name: string, fn: (v: string) => boolean): unknown }) => {
        ajv.addFormat('ip-address', (v) => isIP(v) !== 0);
        return ajv;
      }) as never],
    },
  });
  app.post('/v1/echo', { schema: { body: Body, response: { 200: Echo } } }, async (req) => {
    const body = req.body as { apikey: string; ip_address: string; user_agent: string };
    return { valid: true, ...body };
  });
  app.get('/health', async () => ({ status: 'ok' }));
  return app;
}

const app = await buildBaseline();
await app.listen({ host: '127.0.0.1', port: Number(process.env.BASELINE_PORT ?? 13499) });
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => void app.close().then(() => process.exit(0)));
}
