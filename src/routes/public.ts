import type { FastifyInstance, FastifyRequest } from 'fastify';

/** The 503 of /health and /ready: the error body of SPEC §2 first (a non-2xx answer like any other), then the failing parts. */
function unavailable(req: FastifyRequest, failing: string[], message: string) {
  return { code: 'unavailable', message, request_id: String(req.id), status: 'unavailable', failing };
}

/** Open endpoints (no client secret): liveness, readiness, metrics and the OpenAPI document. */
export default async function publicRoutes(app: FastifyInstance): Promise<void> {
  // The process is up, and its database answers: authnzerver's /health said OK with a broken
  // database (SPEC §9). /ready checks every part; this checks only what no request can do without.
  app.get('/health', { schema: { hide: true } }, async (req, reply) => {
    const db = await app.readiness.check('database');
    if (db.ok) return { status: 'ok' };
    reply.code(503);
    return unavailable(req, ['database'], 'The database does not answer.');
  });

  app.get('/ready', { schema: { hide: true } }, async (req, reply) => {
    const { ok, parts } = await app.readiness.run();
    reply.code(ok ? 200 : 503);
    const failing = Object.entries(parts).filter(([, p]) => !p.ok).map(([name]) => name);
    const warnings = Object.fromEntries(Object.entries(parts).filter(([, p]) => p.warning).map(([n, p]) => [n, p.warning]));
    return {
      ...(ok ? { status: 'ready' } : unavailable(req, failing, `Not ready: ${failing.join(', ')} unusable.`)),
      ...warnings,
      parts,
    };
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', app.metrics.contentType);
    return app.metrics.metrics();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
