import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { isoTime } from '../../clock.js';
import { deleteUser, editUser, listUsers, lockUser, type AdminDeps } from '../../core/user-admin.js';
import { createUser, getUser, verifyEmail } from '../../core/users.js';
import type { User } from '../../db/types.js';
import { Email, Extra, IpAddress, MAX_USER_ID, Password, Timestamp, Token, UserId } from '../../schemas.js';
import { registerAction } from '../action.js';
import { auditContext } from './sessions.js';

/** A user as answers show it: never a password hash or lockout bookkeeping. */
export const UserBody = Type.Object({
  user_id: Type.Integer(),
  system_id: Type.String(),
  email: Type.String(),
  full_name: Type.Union([Type.String(), Type.Null()]),
  role: Type.String(),
  is_active: Type.Boolean(),
  email_verified: Type.Boolean(),
  locked: Type.Boolean({ description: 'Locked by an admin (user_lock)' }),
  extra: Extra,
  created_at: Timestamp,
  updated_at: Timestamp,
  last_login_at: Type.Union([Timestamp, Type.Null()]),
});

export function userView(u: User) {
  return {
    user_id: u.id, system_id: u.systemId, email: u.email, full_name: u.fullName, role: u.role,
    is_active: u.isActive, email_verified: u.emailVerified, locked: u.adminLocked, extra: u.extra,
    created_at: isoTime(u.createdAt), updated_at: isoTime(u.updatedAt), last_login_at: u.lastLoginAt === null ? null : isoTime(u.lastLoginAt),
  };
}

const body = <T extends Parameters<typeof Type.Object>[0]>(props: T) => Type.Object(props, { additionalProperties: false });
/** An id from another system (`auth0|5f7c…`, a UUID, an LDAP uid): printable ASCII, no space. */
const SystemId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[!-~]+$' });

/** The request and answer schemas of the user actions (also the SDK's types: src/client/types.ts). */
export const userSchemas = {
  user_new: {
    body: body({
      email: Email,
      password: Password,
      full_name: Type.String({ maxLength: 256 }),
      extra: Type.Optional(Extra),
      system_id: Type.Optional(SystemId),
      ip_address: Type.Optional(IpAddress),
    }),
    response: Type.Object({
      user_id: Type.Integer(), system_id: Type.String(), email: Type.String(),
      verification_token: Type.String(), verification_expires_at: Timestamp,
    }),
  },
  user_verify_email: {
    body: body({ verification_token: Token }),
    response: Type.Object({ user_id: Type.Integer(), role: Type.String() }),
  },
  user_get: {
    body: body({ user_id: Type.Optional(UserId), email: Type.Optional(Email), system_id: Type.Optional(SystemId) }),
    response: Type.Object({ user: UserBody }),
  },
  user_edit: {
    body: body({
      session_token: Token,
      target_user_id: UserId,
      update: Type.Object({
        full_name: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
        email: Type.Optional(Email),
        role: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        is_active: Type.Optional(Type.Boolean()),
        email_verified: Type.Optional(Type.Boolean()),
      }, { additionalProperties: false, minProperties: 1 }),
    }),
    response: Type.Object({
      user: UserBody,
      // Present when the edit left the email unverified: the frontend mails it to the new address.
      verification_token: Type.Optional(Type.String()),
      verification_expires_at: Type.Optional(Timestamp),
    }),
  },
  user_lock: {
    body: body({ session_token: Token, target_user_id: UserId, locked: Type.Boolean() }),
    response: Type.Object({ user: UserBody }),
  },
  user_delete: {
    body: body({ session_token: Token, target_user_id: UserId, password: Password }),
    response: Type.Object({ user_id: Type.Integer() }),
  },
  user_list: {
    body: body({
      session_token: Token,
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
      cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
    }),
    response: Type.Object({ users: Type.Array(UserBody), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
  },
};

/** Users: sign-up, verification, lookups and admin changes (SPEC §3). */
export default async function userActions(app: FastifyInstance): Promise<void> {
  const now = () => app.clock.now();
  const deps: AdminDeps = { store: app.store, now, policy: () => app.policy.current().policy };

  registerAction(app, {
    name: 'user_new',
    summary: 'Sign up a user (inactive until the email is verified)',
    status: 201,
    body: userSchemas.user_new.body,
    response: userSchemas.user_new.response,
    handler: async (req) => {
      const b = req.body;
      const r = await createUser(app.store, now(), {
        email: b.email, password: b.password, fullName: b.full_name, systemId: b.system_id, extra: b.extra,
      }, auditContext(req));
      return {
        user_id: r.user.id, system_id: r.user.systemId, email: r.user.email,
        verification_token: r.verificationToken, verification_expires_at: isoTime(r.verificationExpiresAt),
      };
    },
  });

  registerAction(app, {
    name: 'user_verify_email',
    summary: 'Spend a verification token: the user becomes active',
    body: userSchemas.user_verify_email.body,
    response: userSchemas.user_verify_email.response,
    handler: async (req) => {
      const user = await verifyEmail(app.store, now(), req.body.verification_token, auditContext(req));
      return { user_id: user.id, role: user.role };
    },
  });

  registerAction(app, {
    name: 'user_get',
    summary: 'Look a user up by id, email or system id (trusted clients only)',
    body: userSchemas.user_get.body,
    response: userSchemas.user_get.response,
    handler: async (req) => ({
      user: userView(await getUser(app.store, { userId: req.body.user_id, email: req.body.email, systemId: req.body.system_id })),
    }),
  });

  registerAction(app, {
    name: 'user_edit',
    summary: 'Edit a user: self may change full_name and email; a superuser also role, is_active, email_verified',
    body: userSchemas.user_edit.body,
    response: userSchemas.user_edit.response,
    handler: async (req) => {
      const u = req.body.update;
      const r = await editUser(deps, req.body.session_token, req.body.target_user_id, {
        fullName: u.full_name, email: u.email, role: u.role, isActive: u.is_active, emailVerified: u.email_verified,
      }, auditContext(req));
      return r.verification === undefined
        ? { user: userView(r.user) }
        : { user: userView(r.user), verification_token: r.verification.token, verification_expires_at: isoTime(r.verification.expiresAt) };
    },
  });

  registerAction(app, {
    name: 'user_lock',
    summary: "Lock or unlock a user (a superuser's session); locking revokes the user's sessions and keys",
    body: userSchemas.user_lock.body,
    response: userSchemas.user_lock.response,
    handler: async (req) => ({
      user: userView(await lockUser(deps, req.body.session_token, req.body.target_user_id, req.body.locked, auditContext(req))),
    }),
  });

  registerAction(app, {
    name: 'user_delete',
    summary: "Delete a user (self, or where the policy allows); confirmed with the actor's password",
    body: userSchemas.user_delete.body,
    response: userSchemas.user_delete.response,
    handler: async (req) => ({
      user_id: await deleteUser(deps, app.logins, {
        sessionToken: req.body.session_token, targetId: req.body.target_user_id, password: req.body.password,
      }, auditContext(req)),
    }),
  });

  registerAction(app, {
    name: 'user_list',
    summary: 'List users by id (a staff or superuser session, checked by the policy)',
    body: userSchemas.user_list.body,
    response: userSchemas.user_list.response,
    handler: async (req) => {
      const limit = req.body.limit ?? 100;
      // A cursor past the largest user id is past every user, and PostgreSQL's `integer` column
      // would refuse it as a value, so it is capped to that id.
      const afterId = req.body.cursor === undefined ? 0 : Math.min(Number(req.body.cursor), MAX_USER_ID);
      // One row more than the page tells whether another page follows (no cursor to an empty page).
      const rows = await listUsers(deps, req.body.session_token, afterId, limit + 1);
      const page = rows.slice(0, limit);
      return { users: page.map(userView), next_cursor: rows.length > limit ? String(page[page.length - 1]!.id) : null };
    },
  });
}
