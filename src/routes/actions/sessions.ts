import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { isoTime } from '../../clock.js';
import {
  createSession, deleteSession, deleteUserSessions, editSession, findSession, listSessions, type AuditContext,
} from '../../core/sessions.js';
import type { Session, User } from '../../db/types.js';
import { Extra, IpAddress, Seconds, Timestamp, Token, UserAgent, UserId } from '../../schemas.js';
import { registerAction } from '../action.js';

/** The session object of SPEC §3 (never its token). */
export const SessionBody = Type.Object({
  user_id: Type.Integer(),
  role: Type.String(),
  ip_address: Type.String(),
  user_agent: Type.String(),
  created_at: Timestamp,
  expires_at: Timestamp,
  extra: Extra,
});

/** The user as `session_exists` shows it. */
const SessionUser = Type.Object({
  user_id: Type.Integer(),
  email: Type.String(),
  full_name: Type.Union([Type.String(), Type.Null()]),
  role: Type.String(),
  is_active: Type.Boolean(),
  email_verified: Type.Boolean(),
});

export function sessionView(s: Session, user: Pick<User, 'role'>) {
  return {
    user_id: s.userId, role: user.role, ip_address: s.ipAddress, user_agent: s.userAgent,
    created_at: isoTime(s.createdAt), expires_at: isoTime(s.expiresAt), extra: s.extra,
  };
}

export function auditContext(req: FastifyRequest): AuditContext {
  return { requestId: String(req.id), client: req.client?.name ?? null };
}

const body = <T extends Parameters<typeof Type.Object>[0]>(props: T) => Type.Object(props, { additionalProperties: false });

/** The request and answer schemas of the session actions (also the SDK's types: src/client/types.ts). */
export const sessionSchemas = {
  session_new: {
    body: body({
      ip_address: IpAddress,
      user_agent: UserAgent,
      user_id: Type.Optional(UserId),
      expires_in: Type.Optional(Seconds),
      extra: Type.Optional(Extra),
    }),
    response: Type.Object({ session_token: Type.String(), expires_at: Timestamp }),
  },
  session_exists: {
    body: body({ session_token: Token }),
    response: Type.Object({
      exists: Type.Boolean(),
      session: Type.Optional(SessionBody),
      user: Type.Optional(SessionUser),
      reason: Type.Optional(Type.String()),
    }),
  },
  session_delete: {
    body: body({ session_token: Token }),
    response: Type.Object({ deleted: Type.Boolean() }),
  },
  session_delete_user: {
    body: body({ user_id: UserId, keep_session_token: Type.Optional(Token) }),
    response: Type.Object({ deleted: Type.Integer() }),
  },
  session_list: {
    body: body({ user_id: UserId }),
    response: Type.Object({
      sessions: Type.Array(Type.Object({ session_id: Type.String(), ...SessionBody.properties })),
    }),
  },
  session_edit: {
    body: body({ session_token: Token, extra: Extra }),
    response: Type.Object({ session: SessionBody }),
  },
};

/** Sessions of end users (SPEC §3). */
export default async function sessionActions(app: FastifyInstance): Promise<void> {
  const deps = { store: app.store, now: () => app.clock.now(), config: app.config };

  registerAction(app, {
    name: 'session_new',
    summary: 'Start a session (anonymous unless user_id is given)',
    status: 201,
    body: sessionSchemas.session_new.body,
    response: sessionSchemas.session_new.response,
    handler: async (req) => {
      const b = req.body;
      const { token, session } = await createSession(deps, {
        userId: b.user_id, ipAddress: b.ip_address, userAgent: b.user_agent, expiresIn: b.expires_in, extra: b.extra,
      });
      return { session_token: token, expires_at: isoTime(session.expiresAt) };
    },
  });

  registerAction(app, {
    name: 'session_exists',
    summary: 'Is this session token live? With the session and its user',
    body: sessionSchemas.session_exists.body,
    response: sessionSchemas.session_exists.response,
    handler: async (req) => {
      const found = await findSession(app.store, req.body.session_token, app.clock.now(), { at: req.readStamp });
      if (!found.ok) return { exists: false, reason: found.reason };
      const { session, user } = found;
      return {
        exists: true,
        session: sessionView(session, user),
        user: {
          user_id: user.id, email: user.email, full_name: user.fullName, role: user.role,
          is_active: user.isActive, email_verified: user.emailVerified,
        },
      };
    },
  });

  registerAction(app, {
    name: 'session_delete',
    summary: 'Delete a session (its session-bound API keys are revoked)',
    body: sessionSchemas.session_delete.body,
    response: sessionSchemas.session_delete.response,
    handler: async (req) => ({ deleted: await deleteSession(app.store, req.body.session_token, app.clock.now()) }),
  });

  registerAction(app, {
    name: 'session_delete_user',
    summary: 'Delete every session of a user, optionally keeping one',
    body: sessionSchemas.session_delete_user.body,
    response: sessionSchemas.session_delete_user.response,
    handler: async (req) => ({
      deleted: await deleteUserSessions(app.store, req.body.user_id, req.body.keep_session_token, app.clock.now(), auditContext(req)),
    }),
  });

  registerAction(app, {
    name: 'session_list',
    summary: 'Live sessions of a user (no tokens)',
    body: sessionSchemas.session_list.body,
    response: sessionSchemas.session_list.response,
    handler: async (req) => {
      const user = await app.store.users.getById(req.body.user_id);
      const rows = await listSessions(app.store, req.body.user_id, app.clock.now());
      return { sessions: rows.map((s) => ({ session_id: s.id, ...sessionView(s, user!) })) };
    },
  });

  registerAction(app, {
    name: 'session_edit',
    summary: 'Merge into the session extra; a null value deletes the key',
    body: sessionSchemas.session_edit.body,
    response: sessionSchemas.session_edit.response,
    handler: async (req) => {
      const { session, user } = await editSession(app.store, req.body.session_token, req.body.extra, app.clock.now());
      return { session: sessionView(session, user) };
    },
  });
}
