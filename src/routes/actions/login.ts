import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { isoTime } from '../../clock.js';
import { login, passcheck } from '../../core/login.js';
import { requireSession } from '../../core/sessions.js';
import { ApiError } from '../../errors.js';
import { Email, Password, Timestamp, Token } from '../../schemas.js';
import { registerAction } from '../action.js';
import { auditContext } from './sessions.js';

const body = <T extends Parameters<typeof Type.Object>[0]>(props: T) => Type.Object(props, { additionalProperties: false });

const PasscheckAnswer = Type.Object({
  ok: Type.Boolean(),
  user_id: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.Optional(Type.String()),
});

/** The answer of both passchecks: `reason` only on a no. */
function passcheckAnswer(r: Awaited<ReturnType<typeof passcheck>>) {
  return { ok: r.ok, user_id: r.userId, ...(r.reason ? { reason: r.reason } : {}) };
}

/** The request and answer schemas of the login actions (also the SDK's types: src/client/types.ts). */
export const loginSchemas = {
  user_login: {
    body: body({ session_token: Token, email: Email, password: Password }),
    response: Type.Object({ user_id: Type.Integer(), role: Type.String(), session_token: Type.String(), expires_at: Timestamp }),
  },
  user_logout: {
    body: body({ session_token: Token }),
    response: Type.Object({ user_id: Type.Integer() }),
  },
  user_passcheck: {
    body: body({ session_token: Token, password: Password }),
    response: PasscheckAnswer,
  },
  user_passcheck_nosession: {
    body: body({ email: Email, password: Password }),
    response: PasscheckAnswer,
  },
};

/** Logins, logouts and password checks (SPEC §3). */
export default async function loginActions(app: FastifyInstance): Promise<void> {
  const now = () => app.clock.now();

  registerAction(app, {
    name: 'user_login',
    summary: 'Log in: the presented session is replaced by a new session for the user',
    body: loginSchemas.user_login.body,
    response: loginSchemas.user_login.response,
    handler: async (req) => {
      const b = req.body;
      const { user, token, session } = await login(app.store, app.logins, app.config, now, {
        sessionToken: b.session_token, email: b.email, password: b.password,
      }, auditContext(req));
      // The hashed user goes on the request's one log line (SPEC §7), not on a line of its own.
      req.log = req.log.child({ user: app.pii(user.id) });
      return { user_id: user.id, role: user.role, session_token: token, expires_at: isoTime(session.expiresAt) };
    },
  });

  registerAction(app, {
    name: 'user_logout',
    summary: 'Log out: delete the session (its session-bound API keys are revoked)',
    body: loginSchemas.user_logout.body,
    response: loginSchemas.user_logout.response,
    handler: async (req) => {
      const { session } = await requireSession(app.store, req.body.session_token, now());
      const deleted = await app.store.sessions.delete(session.id, now(), {
        ...auditContext(req), event: 'logout', outcome: 'success', actorUserId: session.userId, targetUserId: session.userId, subject: session.id,
      });
      if (!deleted) throw new ApiError('invalid_session');
      return { user_id: session.userId };
    },
  });

  registerAction(app, {
    name: 'user_passcheck',
    summary: "Check the password of the session's user (yes/no)",
    body: loginSchemas.user_passcheck.body,
    response: loginSchemas.user_passcheck.response,
    handler: async (req) => {
      const r = await passcheck(app.store, app.logins, now, { sessionToken: req.body.session_token, password: req.body.password }, auditContext(req));
      return passcheckAnswer(r);
    },
  });

  registerAction(app, {
    name: 'user_passcheck_nosession',
    summary: 'Check an email and password without a session (yes/no)',
    body: loginSchemas.user_passcheck_nosession.body,
    response: loginSchemas.user_passcheck_nosession.response,
    handler: async (req) => {
      const r = await passcheck(app.store, app.logins, now, { email: req.body.email, password: req.body.password }, auditContext(req));
      return passcheckAnswer(r);
    },
  });
}
